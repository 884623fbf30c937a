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
	"strconv"
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

// KeepalivedConfig renders the keepalived.conf of node name: opt.Instances instances (0
// means 1), each in state MASTER (master, as the tutorials write it) or BACKUP, at priority.
func KeepalivedConfig(name string, opt ClassicOptions, master bool, priority int) (string, error) {
	n := opt.Instances
	if n == 0 {
		n = 1
	}
	ins, err := Instances(n)
	if err != nil {
		return "", err
	}
	state := "BACKUP"
	if master {
		state = "MASTER"
	}
	data := map[string]any{"Name": name, "Version": opt.Version, "Check": opt.Check, "State": state,
		"Priority": priority, "Advert": strconv.FormatFloat(opt.AdvertInt, 'f', -1, 64), "Instances": ins}
	var b strings.Builder
	if err := keepalivedConf.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// MaxInstances is the most instances Instances numbers without reusing a VRID or leaving
// 192.0.2.0/24.
const MaxInstances = 50

// Instance is one VRRP instance of a lab node, the same for halod and keepalived.
type Instance struct {
	Name string     // VI_k
	VRID int        // virtual_router_id / vrid
	VIP  netip.Addr // its one VIP, a /24 on eth0
}

// Instances numbers n instances VI_1..VI_n: VI_1 is the lab's instance (VRID 51, VIP), VI_k
// for k > 1 has VRID k−1 and VIP 192.0.2.(149+k), so 50 instances use VRIDs 1..49 and 51
// and the VIPs 192.0.2.100 and 192.0.2.151..199.
func Instances(n int) ([]Instance, error) {
	if n < 1 || n > MaxInstances {
		return nil, fmt.Errorf("%d instances: not in 1..%d", n, MaxInstances)
	}
	ins := []Instance{{Name: "VI_1", VRID: 51, VIP: VIP}}
	for k := 2; k <= n; k++ {
		ins = append(ins, Instance{Name: fmt.Sprintf("VI_%d", k), VRID: k - 1, VIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(149 + k)})})
	}
	return ins, nil
}

// startPIDNamespace starts the node's PID namespace: an init that reaps orphans and exits
// after maxLife, or when the lab kills it.
func (lb *ClassicLB) startPIDNamespace(maxLife time.Duration) error {
	script := fmt.Sprintf(`trap 'exit 0' TERM INT; for ((i=0; i<%d; i++)); do sleep 1; done`, int(maxLife.Seconds()))
	p, err := lb.Node.Start("unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--", "/bin/bash", "-c", script)
	if err != nil {
		return err
	}
	lb.init = p
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if kids := children(p.PID); len(kids) == 1 {
			lb.initPID = kids[0]
			ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", lb.initPID))
			if err != nil {
				return err
			}
			lb.pidNS = ns
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("PID namespace of %s: unshare exited:\n%s", lb.Name, p.Output())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("PID namespace of %s: no init after 5s", lb.Name)
}

// children returns the child PIDs of a process (host PIDs).
func children(pid int) []int {
	out, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// nsMatches reports whether host PID pid lives in lb's PID namespace.
func (lb *ClassicLB) nsMatches(pid int) bool {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	return err == nil && ns == lb.pidNS
}

// nsenter is the argv prefix that runs a program inside the node's PID namespace.
func (lb *ClassicLB) nsenter() []string {
	return []string{"--target", strconv.Itoa(lb.initPID), "--pid", "--mount", "--"}
}

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

// StartKeepalived starts keepalived (VRRP only, in the foreground, logging to stdout, with
// its pid files in Dir) in the node's PID namespace.
func (lb *ClassicLB) StartKeepalived(ctx context.Context) error {
	args := append(lb.nsenter(), lb.kad, "-n", "-l", "-D", "-G", "-P", "-f", lb.KeepalivedConf,
		"-p", filepath.Join(lb.Dir, "keepalived.pid"), "-r", filepath.Join(lb.Dir, "vrrp.pid"),
		"-c", filepath.Join(lb.Dir, "checkers.pid"), "-b", filepath.Join(lb.Dir, "bfd.pid"))
	p, err := lb.Node.Start("nsenter", args...)
	if err != nil {
		return err
	}
	lb.Keepalived = p
	for {
		if m, all := lb.KeepalivedPIDs(); m > 0 && len(all) > 1 {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("keepalived on %s exited:\n%s", lb.Name, p.Output())
		case <-ctx.Done():
			return fmt.Errorf("keepalived on %s: no VRRP process: %w", lb.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// KeepalivedPIDs returns the host PIDs of keepalived's parent process and of every process
// of it (the parent, the VRRP child, any check script running now).
func (lb *ClassicLB) KeepalivedPIDs() (parent int, all []int) {
	if lb.Keepalived == nil {
		return 0, nil
	}
	kids := children(lb.Keepalived.PID)
	if len(kids) != 1 {
		return 0, nil
	}
	parent = kids[0]
	all = []int{parent}
	for _, k := range children(parent) {
		all = append(all, k)
		all = append(all, children(k)...)
	}
	return parent, all
}

// KeepalivedLog returns what the keepalived started last wrote.
func (lb *ClassicLB) KeepalivedLog() string {
	if lb.Keepalived == nil {
		return ""
	}
	return lb.Keepalived.Output()
}

// State returns the state keepalived last logged for VI_1 ("MASTER", "BACKUP", "FAULT"),
// "" when it logged none.
func (lb *ClassicLB) State() string {
	return lastOf(lb.KeepalivedLog(), "(VI_1) Entering ", " STATE")
}

// States returns the state keepalived last logged for each instance that logged one
// ("VI_7" → "MASTER").
func (lb *ClassicLB) States() map[string]string {
	return instanceStates(lb.KeepalivedLog())
}

// instanceStates reads keepalived's `(VI_7) Entering MASTER STATE` lines: the last state
// of each instance.
func instanceStates(log string) map[string]string {
	st := map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		i := strings.Index(line, ") Entering ")
		if i < 0 {
			continue
		}
		j := strings.LastIndexByte(line[:i], '(')
		rest, _, ok := strings.Cut(line[i+len(") Entering "):], " STATE")
		if j < 0 || !ok {
			continue
		}
		st[line[j+1:i]] = strings.TrimSpace(rest)
	}
	return st
}

// HeldVIPs returns which of vips the node carries on any interface now.
func (lb *ClassicLB) HeldVIPs(ctx context.Context, vips []netip.Addr) ([]netip.Addr, error) {
	out, err := lb.Node.Exec(ctx, "ip", "-o", "addr", "show")
	if err != nil {
		return nil, err
	}
	return heldAddrs(string(out), vips), nil
}

// heldAddrs returns the members of want that `ip -o addr show` output lists, in want's order.
func heldAddrs(ipOut string, want []netip.Addr) []netip.Addr {
	have := map[netip.Addr]bool{}
	for _, f := range strings.Fields(ipOut) {
		if p, err := netip.ParsePrefix(f); err == nil {
			have[p.Addr()] = true
		}
	}
	var held []netip.Addr
	for _, a := range want {
		if have[a] {
			held = append(held, a)
		}
	}
	return held
}

// CheckOK reports whether the check script's last logged verdict is a success (true when
// it logged none: keepalived starts a script as succeeded).
func (lb *ClassicLB) CheckOK() bool {
	return lastOf(lb.KeepalivedLog(), "VRRP_Script(chk_haproxy) ", " ") != "failed"
}

// lastOf finds the last line holding prefix and returns what follows it, up to suffix (or
// the end of the line).
func lastOf(log, prefix, suffix string) string {
	i := strings.LastIndex(log, prefix)
	if i < 0 {
		return ""
	}
	rest := log[i+len(prefix):]
	if j := strings.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	if suffix != "" {
		if j := strings.Index(rest, suffix); j >= 0 {
			rest = rest[:j]
		}
	}
	return strings.TrimSpace(rest)
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

// HostPID maps a PID as seen inside the node's PID namespace (a pid file's content) to the
// host's PID of that process.
func (lb *ClassicLB) HostPID(nsPID int) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(st), "\n") {
			if f, ok := strings.CutPrefix(line, "NSpid:"); ok {
				ids := strings.Fields(f)
				if len(ids) >= 2 && ids[len(ids)-1] == strconv.Itoa(nsPID) && lb.nsMatches(pid) {
					return pid, nil
				}
				break
			}
		}
	}
	return 0, fmt.Errorf("no process %d in the PID namespace of %s", nsPID, lb.Name)
}

// NSPID maps a host PID of a process in the node's PID namespace to its PID there.
func (lb *ClassicLB) NSPID(hostPID int) (int, error) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", hostPID))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		if f, ok := strings.CutPrefix(line, "NSpid:"); ok {
			ids := strings.Fields(f)
			return strconv.Atoi(ids[len(ids)-1])
		}
	}
	return 0, fmt.Errorf("pid %d: no NSpid", hostPID)
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
