package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/halo-lb/halo/internal/netlab"
	"github.com/halo-lb/halo/internal/tier"
)

// The classic pair is the setup halo replaces, as the popular tutorials build it: on each
// load balancer Debian's keepalived tracks HAProxy with a vrrp_script (`killall -0 haproxy`)
// and HAProxy runs beside it, started by the harness (`haproxy -W -f haproxy.cfg`).
//
// Each classic node gets a PID namespace of its own (`unshare --pid --fork --mount-proc`):
// a network namespace shares the host's PID space, so `killall -0 haproxy` in one lab node
// would otherwise see every node's HAProxy and never fail. The namespace's init is a shell
// that reaps orphans (a zombie haproxy would also satisfy `killall -0`); keepalived and
// HAProxy enter the namespace with nsenter, so that the harness records their PIDs and can
// start them again after a fault.

// ClassicCheck is the vrrp_script tracking HAProxy.
type ClassicCheck struct {
	// Script is the check command (default "killall -0 haproxy"; the tutorials' other
	// spelling, "pidof haproxy", never succeeds under Debian 12's keepalived, which resolves
	// /usr/bin/pidof to killall5).
	Script string
	// Interval (seconds; keepalived 2.2.7 refuses less than 1), Fall and Rise (default 2 each).
	Interval, Fall, Rise int
	// Weight is added to the priority while the check succeeds (positive) or subtracted
	// while it fails (negative); 0 leaves the instance unweighted, so a failing check puts
	// it in FAULT.
	Weight int
}

// ClassicOptions shape a classic keepalived + HAProxy pair.
type ClassicOptions struct {
	// Backends is the number of HTTP backends (default 2).
	Backends int
	// Version is the VRRP version, 2 (default) or 3.
	Version int
	// AdvertInt is keepalived's advert_int in seconds (default 1; fractions need Version 3).
	AdvertInt float64
	// Check is the vrrp_script, tracked by every instance (one script run per interval,
	// however many instances track it).
	Check ClassicCheck
	// Instances is the number of VRRP instances (default 1, at most MaxInstances), numbered
	// as Instances numbers them; every instance has the same priority, state and advert_int.
	Instances int
	// Bin holds labtool; Build fills it when empty.
	Bin string
	// MaxLife bounds each node's PID namespace (default 3h): its init exits after it.
	MaxLife time.Duration
}

// TutorialClassic is the pair as the popular tutorials configure it: VRRPv2, advert_int 1,
// `killall -0 haproxy` at interval 2, fall 2, rise 2, weight 2, priorities 101/100.
func TutorialClassic() ClassicOptions {
	return ClassicOptions{Version: 2, AdvertInt: 1,
		Check: ClassicCheck{Script: "killall -0 haproxy", Interval: 2, Fall: 2, Rise: 2, Weight: 2}}
}

// TunedClassic is the pair tuned as far as keepalived 2.2.7 allows, as its maintainer
// advises for fast failover: VRRPv3, advert_int 0.1, the check at interval 1, fall 1,
// rise 1, with the given weight (0: unweighted, a failing check means FAULT).
func TunedClassic(weight int) ClassicOptions {
	return ClassicOptions{Version: 3, AdvertInt: 0.1,
		Check: ClassicCheck{Script: "killall -0 haproxy", Interval: 1, Fall: 1, Rise: 1, Weight: weight}}
}

// Classic is a running classic lab: nodes lb1, lb2, be1.., client.
type Classic struct {
	Lab      *netlab.Lab
	LBs      []*ClassicLB
	Backends []*netlab.Node
	Client   *netlab.Node
	Bin      string

	opt  ClassicOptions
	base *Cluster // for the poller
}

// ClassicLB is one node of the classic pair.
type ClassicLB struct {
	Name string
	Node *netlab.Node
	// Dir holds keepalived.conf, haproxy.cfg, the pid files and the sockets.
	Dir            string
	KeepalivedConf string
	HAProxyCfg     string
	Priority       int
	// Keepalived and HAProxy are the nsenter processes whose only child is keepalived's
	// parent process and HAProxy's master; nil until started.
	Keepalived *netlab.Proc
	HAProxy    *netlab.Proc

	init    *netlab.Proc // unshare; its child is the PID namespace's init
	initPID int          // host PID of the namespace's init
	pidNS   string       // /proc/PID/ns/pid of the namespace
	haproxy string
	kad     string
}

var keepalivedConf = template.Must(template.New("keepalived.conf").Parse(`# written by internal/cluster for {{.Name}}
global_defs {
	router_id {{.Name}}
{{- if eq .Version 3}}
	vrrp_version 3
{{- end}}
}

vrrp_script chk_haproxy {
	script "{{.Check.Script}}"
	interval {{.Check.Interval}}
	fall {{.Check.Fall}}
	rise {{.Check.Rise}}
{{- if .Check.Weight}}
	weight {{.Check.Weight}}
{{- end}}
}

{{- range .Instances}}

vrrp_instance {{.Name}} {
	state {{$.State}}
	interface eth0
	virtual_router_id {{.VRID}}
	priority {{$.Priority}}
	advert_int {{$.Advert}}
{{- if eq $.Version 2}}
	authentication {
		auth_type PASS
		auth_pass halo
	}
{{- end}}
	virtual_ipaddress {
		{{.VIP}}/24
	}
	track_script {
		chk_haproxy
	}
}
{{- end}}
`))

// NewClassic builds the lab, writes each node's keepalived.conf and haproxy.cfg and starts
// the backends and each load balancer's PID namespace; Start starts HAProxy and keepalived.
func NewClassic(t tier.TB, dir string, opt ClassicOptions) *Classic {
	t.Helper()
	hap := tier.HAProxy(t)
	kad := tier.Keepalived(t)
	tier.Binary(t, "unshare", "util-linux")
	tier.Binary(t, "nsenter", "util-linux")
	tier.Binary(t, "killall", "psmisc")
	if opt.Backends == 0 {
		opt.Backends = 2
	}
	if opt.Version == 0 {
		opt.Version = 2
	}
	if opt.AdvertInt == 0 {
		opt.AdvertInt = 1
	}
	if opt.Check.Script == "" {
		opt.Check.Script = "killall -0 haproxy"
	}
	for _, v := range []*int{&opt.Check.Interval, &opt.Check.Fall, &opt.Check.Rise} {
		if *v == 0 {
			*v = 2
		}
	}
	if opt.MaxLife == 0 {
		opt.MaxLife = 3 * time.Hour
	}
	if opt.Instances == 0 {
		opt.Instances = 1
	}
	if _, err := Instances(opt.Instances); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	if opt.Bin == "" {
		opt.Bin = filepath.Join(dir, "bin")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := Build(ctx, opt.Bin); err != nil {
			t.Fatalf("cluster: %v", err)
		}
	}
	lab := netlab.New(t, netlab.Options{Nodes: 2 + opt.Backends + 1})
	c := &Classic{Lab: lab, Bin: opt.Bin, opt: opt}
	c.Backends = lab.Nodes[2 : 2+opt.Backends]
	c.Client = lab.Nodes[len(lab.Nodes)-1]
	c.base = &Cluster{Lab: lab, Backends: c.Backends, Client: c.Client, Bin: opt.Bin, VIP: VIP, t: t}
	// Kill each PID namespace through its init before the lab ends the recorded processes:
	// unshare blocks SIGTERM while it waits, so this saves a grace period per node.
	t.Cleanup(func() {
		for _, lb := range c.LBs {
			if lb.initPID > 0 && lb.nsMatches(lb.initPID) {
				_ = syscall.Kill(lb.initPID, syscall.SIGKILL)
			}
		}
	})
	for i := 0; i < 2; i++ {
		n := lab.Nodes[i]
		lb := &ClassicLB{Name: fmt.Sprintf("lb%d", i+1), Node: n, Dir: filepath.Join(dir, fmt.Sprintf("lb%d", i+1)),
			Priority: 101 - i, haproxy: hap, kad: kad}
		lb.KeepalivedConf = filepath.Join(lb.Dir, "keepalived.conf")
		lb.HAProxyCfg = filepath.Join(lb.Dir, "haproxy.cfg")
		if err := os.MkdirAll(lb.Dir, 0o755); err != nil {
			t.Fatalf("cluster: %v", err)
		}
		if _, err := n.Exec(context.Background(), "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1"); err != nil {
			t.Fatalf("cluster: %v", err)
		}
		if err := c.writeConfigs(lb, i); err != nil {
			t.Fatalf("cluster: %v", err)
		}
		if err := lb.startPIDNamespace(opt.MaxLife); err != nil {
			t.Fatalf("cluster: %v", err)
		}
		c.LBs = append(c.LBs, lb)
	}
	startBackends(t, c.Bin, c.Backends)
	return c
}

func (c *Classic) writeConfigs(lb *ClassicLB, i int) error {
	type be struct {
		Name string
		Addr string
	}
	var bes []be
	for k, n := range c.Backends {
		bes = append(bes, be{fmt.Sprintf("be%d", k+1), n.IPv4[0].Addr().String()})
	}
	var b strings.Builder
	hlb := &LB{Name: lb.Name, Dir: lb.Dir}
	if err := haproxyCfg.Execute(&b, map[string]any{"LB": hlb, "Bind": netip.AddrPortFrom(VIP, 80), "Backends": bes}); err != nil {
		return err
	}
	if err := os.WriteFile(lb.HAProxyCfg, []byte(b.String()), 0o644); err != nil {
		return err
	}
	conf, err := KeepalivedConfig(lb.Name, c.opt, i == 0, lb.Priority)
	if err != nil {
		return err
	}
	return os.WriteFile(lb.KeepalivedConf, []byte(conf), 0o600)
}

// MaxInstances is the most instances Instances numbers without reusing a VRID or leaving
// 192.0.2.0/24.
const MaxInstances = 50

// Start starts HAProxy and then keepalived on every node (lb1 first).
func (c *Classic) Start(ctx context.Context) error {
	for _, lb := range c.LBs {
		if err := lb.StartHAProxy(ctx); err != nil {
			return err
		}
	}
	for _, lb := range c.LBs {
		if err := lb.StartKeepalived(ctx); err != nil {
			return err
		}
	}
	return nil
}

// StartHAProxy starts `haproxy -W -f haproxy.cfg` in the node's PID namespace and waits
// until its stats socket answers.
func (lb *ClassicLB) StartHAProxy(ctx context.Context, extra ...string) error {
	args := append(lb.nsenter(), lb.haproxy, "-W", "-f", lb.HAProxyCfg)
	p, err := lb.Node.Start("nsenter", append(args, extra...)...)
	if err != nil {
		return err
	}
	lb.HAProxy = p
	return lb.waitHAProxy(ctx, p)
}

func (lb *ClassicLB) waitHAProxy(ctx context.Context, p *netlab.Proc) error {
	sock := filepath.Join(lb.Dir, "admin.sock")
	for {
		if c, err := net.DialTimeout("unix", sock, 100*time.Millisecond); err == nil {
			c.Close()
			if m, w, err := lb.HAProxyPIDs(); err == nil && m > 0 && len(w) > 0 {
				return nil
			}
		}
		select {
		case <-p.Done():
			return fmt.Errorf("haproxy on %s exited:\n%s", lb.Name, p.Output())
		case <-ctx.Done():
			return fmt.Errorf("haproxy on %s not answering: %w", lb.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// HAProxyPIDs returns the host PIDs of the master-worker HAProxy the harness started last:
// its master and workers.
func (lb *ClassicLB) HAProxyPIDs() (master int, workers []int, err error) {
	if lb.HAProxy == nil {
		return 0, nil, errors.New("haproxy not started")
	}
	kids := children(lb.HAProxy.PID)
	if len(kids) != 1 {
		return 0, nil, errors.New("haproxy not running")
	}
	return kids[0], children(kids[0]), nil
}

// Exec runs a command to completion inside the node's network and PID namespaces (what it
// leaves running stays in the namespace, whose init reaps it). Its output goes to logFile
// in Dir, so that a daemon holding it open does not block the call.
func (lb *ClassicLB) Exec(ctx context.Context, logFile string, name string, args ...string) error {
	f, err := os.OpenFile(filepath.Join(lb.Dir, logFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	argv := append([]string{"netns", "exec", lb.Node.NS, "nsenter"}, lb.nsenter()...)
	cmd := exec.CommandContext(ctx, "ip", append(append(argv, name), args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(f.Name())
		return fmt.Errorf("%s in %s: %v: %s", name, lb.Name, err, tail(out, 400))
	}
	return nil
}

func tail(b []byte, n int) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return b
}

// Holder returns the node carrying the VIP, nil when none does; an error when both do.
func (c *Classic) Holder(ctx context.Context) (*ClassicLB, error) {
	nodes := make([]*netlab.Node, len(c.LBs))
	for i, lb := range c.LBs {
		nodes[i] = lb.Node
	}
	i, err := vipHolder(ctx, nodes, VIP)
	if err != nil || i < 0 {
		return nil, err
	}
	return c.LBs[i], nil
}

// StartPoller polls http://VIP/ from the client every interval with the given timeout, for
// at most d (see Cluster.StartPoller).
func (c *Classic) StartPoller(interval, timeout, d time.Duration) (*Poller, error) {
	return c.base.StartPoller(interval, timeout, d)
}
