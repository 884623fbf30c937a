// Package cluster builds a halo cluster in a netlab for the end-to-end tests, make demo and
// make bench: load-balancer nodes running halod (which runs HAProxy), HTTP backends, and a
// client namespace that polls the VIP.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/halo-lb/halo/internal/netlab"
	"github.com/halo-lb/halo/internal/tier"
	"github.com/halo-lb/halo/supervisor"
)

// VIP is the cluster's virtual address; VIP6 is it with Options.IPv6.
var (
	VIP  = netip.MustParseAddr("192.0.2.100")
	VIP6 = netip.MustParseAddr("2001:db8::100")
)

// Options shape a cluster.
type Options struct {
	// LBs is the number of load-balancer nodes (default 2); lb1 has the highest priority.
	LBs int
	// Backends is the number of HTTP backends (default 2).
	Backends int
	// AdvertInterval of the VRRP instance (default 1s).
	AdvertInterval time.Duration
	// Track is the track_haproxy setting as YAML (default "{fault: true}").
	Track string
	// Bin holds halod, haloctl and labtool; Build fills it when empty.
	Bin string
	// Extra is appended to each node's vrrp instance in halo.yaml (indented YAML lines).
	Extra string
	// HAProxyExtra is appended to each node's haproxy section in halo.yaml (YAML lines
	// indented by two spaces), e.g. "  restart_in_place: {enabled: false}".
	HAProxyExtra string
	// IPv6 makes VI_1 an IPv6 instance: its VIP is VIP6, which HAProxy binds and the
	// client polls.
	IPv6 bool
	// Unicast sends the adverts of VI_1 to the other load balancers' addresses instead of
	// the multicast group.
	Unicast bool
	// Tmpfs, when set ("256k"), mounts each load balancer's directory (its sockets, its
	// state, its configs) as a tmpfs of that size, so that a test can fill it.
	Tmpfs string
}

// Cluster is a running lab: nodes lb1.., be1.., client.
type Cluster struct {
	Lab      *netlab.Lab
	LBs      []*LB
	Backends []*netlab.Node
	Client   *netlab.Node
	Bin      string
	// VIP is the address of VI_1 (VIP, or VIP6 with Options.IPv6).
	VIP netip.Addr
	opt Options
	t   tier.TB
}

// LB is one load-balancer node.
type LB struct {
	Name       string
	Node       *netlab.Node
	Dir        string // holds halo.yaml, haproxy.cfg and the sockets
	Config     string // halo.yaml
	HAProxyCfg string
	Socket     string // control socket
	Priority   int
	Halod      *netlab.Proc
}

// Build compiles halod, haloctl, halo-bgp (halod's BGP engine, found next to it) and
// labtool into dir.
func Build(ctx context.Context, dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", "./cmd/halod", "./cmd/haloctl", "./cmd/halo-bgp", "./internal/cmd/labtool")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the halo module")
	}
	return filepath.Dir(mod), nil
}

// New builds the lab and writes every node's configuration; it starts nothing but the
// backends. dir holds the files (a t.TempDir() in tests).
func New(t tier.TB, dir string, opt Options) *Cluster {
	t.Helper()
	tier.HAProxy(t)
	if opt.LBs == 0 {
		opt.LBs = 2
	}
	if opt.Backends == 0 {
		opt.Backends = 2
	}
	if opt.AdvertInterval == 0 {
		opt.AdvertInterval = time.Second
	}
	if opt.Track == "" {
		opt.Track = "{fault: true}"
	}
	if opt.Bin == "" {
		opt.Bin = filepath.Join(dir, "bin")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := Build(ctx, opt.Bin); err != nil {
			t.Fatalf("cluster: %v", err)
		}
	}
	lab := netlab.New(t, netlab.Options{Nodes: opt.LBs + opt.Backends + 1})
	c := &Cluster{Lab: lab, Bin: opt.Bin, VIP: VIP, opt: opt, t: t}
	if opt.IPv6 {
		c.VIP = VIP6
	}
	c.Backends = lab.Nodes[opt.LBs : opt.LBs+opt.Backends]
	c.Client = lab.Nodes[len(lab.Nodes)-1]
	for i := 0; i < opt.LBs; i++ {
		n := lab.Nodes[i]
		lb := &LB{Name: fmt.Sprintf("lb%d", i+1), Node: n, Dir: filepath.Join(dir, fmt.Sprintf("lb%d", i+1)), Priority: labPriority(i)}
		if err := os.MkdirAll(lb.Dir, 0o755); err != nil {
			t.Fatalf("cluster: %v", err)
		}
		if opt.Tmpfs != "" {
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+opt.Tmpfs, "tmpfs", lb.Dir).CombinedOutput(); err != nil {
				t.Fatalf("cluster: mount a tmpfs on %s: %v: %s", lb.Dir, err, out)
			}
			// Lazily: the node's processes, ended by the lab's own cleanup after this one,
			// may still hold its sockets.
			t.Cleanup(func() { _ = exec.Command("umount", "-l", lb.Dir).Run() })
		}
		lb.Config = filepath.Join(lb.Dir, "halo.yaml")
		lb.HAProxyCfg = filepath.Join(lb.Dir, "haproxy.cfg")
		lb.Socket = filepath.Join(lb.Dir, "halo.sock")
		// HAProxy binds the VIP on every node, master or not.
		for _, kv := range []string{"net.ipv4.ip_nonlocal_bind=1", "net.ipv6.ip_nonlocal_bind=1"} {
			if _, err := n.Exec(context.Background(), "sysctl", "-qw", kv); err != nil {
				t.Fatalf("cluster: %v", err)
			}
		}
		c.LBs = append(c.LBs, lb)
	}
	for _, lb := range c.LBs {
		if err := c.writeConfigs(lb); err != nil {
			t.Fatalf("cluster: %v", err)
		}
	}
	startBackends(t, c.Bin, c.Backends)
	return c
}

// startBackends runs labtool's HTTP backend, be1, be2, ..., on port 8080 of each node.
func startBackends(t tier.TB, bin string, nodes []*netlab.Node) {
	t.Helper()
	for i, be := range nodes {
		addr := fmt.Sprintf("%s:8080", be.IPv4[0].Addr())
		if _, err := be.Start(filepath.Join(bin, "labtool"), "serve", "-addr", addr, "-name", fmt.Sprintf("be%d", i+1)); err != nil {
			t.Fatalf("cluster: %v", err)
		}
	}
}

var haproxyCfg = template.Must(template.New("haproxy.cfg").Parse(`# written by internal/cluster for {{.LB.Name}}
global
    log stderr format short local0 notice
    stats socket {{.LB.Dir}}/admin.sock mode 600 level admin expose-fd listeners
    stats timeout 30s
    pidfile {{.LB.Dir}}/haproxy.pid

defaults
    mode http
    log global
    option httplog
    option dontlognull
    # Close idle keep-alive connections on reload only after a response, so that no client
    # sends a request on a connection the old worker is closing.
    option idle-close-on-response
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout http-keep-alive 2s
    retries 2
    option redispatch

frontend main
    bind {{.Bind}}
    http-response set-header X-LB {{.LB.Name}}
    default_backend app

backend app
    balance roundrobin
{{- range .Backends}}
    server {{.Name}} {{.Addr}}:8080 check inter 500ms fall 2 rise 1
{{- end}}
`))

var haloYAML = template.Must(template.New("halo.yaml").Parse(`# written by internal/cluster for {{.LB.Name}}
haproxy:
  mode: managed
  config: [{{.LB.HAProxyCfg}}]
  master_socket: {{.LB.Dir}}/master.sock
  stats_socket: {{.LB.Dir}}/admin.sock
  check: {frontends: [main], backends: {app: 1}}
{{- if .HAProxyExtra}}
{{.HAProxyExtra}}
{{- end}}
vrrp:
  instances:
    - name: VI_1
      interface: eth0
      vrid: 51
      priority: {{.LB.Priority}}
      advert_interval: {{.Advert}}
      vips: [{{.VIPPrefix}}]
      track_haproxy: {{.Track}}
{{- if .Peers}}
      unicast: {peers: [{{.Peers}}]}
{{- end}}
{{.Extra}}
control: {socket: {{.LB.Socket}}}
metrics: {listen: "{{.Addr}}:9110"}
log: {level: debug}
`))

func (c *Cluster) writeConfigs(lb *LB) error {
	type be struct {
		Name string
		Addr netip.Addr
	}
	var bes []be
	for i, n := range c.Backends {
		bes = append(bes, be{fmt.Sprintf("be%d", i+1), n.IPv4[0].Addr()})
	}
	vip := netip.PrefixFrom(c.VIP, 24)
	if c.VIP.Is6() {
		vip = netip.PrefixFrom(c.VIP, 64)
	}
	var peers []string
	if c.opt.Unicast {
		for _, o := range c.LBs {
			if o != lb {
				peers = append(peers, o.Node.IPv4[0].Addr().String())
			}
		}
	}
	data := map[string]any{"LB": lb, "VIPPrefix": vip, "Bind": netip.AddrPortFrom(c.VIP, 80), "Backends": bes,
		"Advert": c.opt.AdvertInterval.String(), "Track": c.opt.Track, "Extra": c.opt.Extra, "HAProxyExtra": c.opt.HAProxyExtra,
		"Addr": lb.Node.IPv4[0].Addr(), "Peers": strings.Join(peers, ", ")}
	return WriteConfigs(lb, haproxyCfg, haloYAML, data)
}

// WriteConfigs renders lb's haproxy.cfg and halo.yaml from their templates; labs of their
// own (the BGP lab) use it with templates of theirs.
func WriteConfigs(lb *LB, haproxyTmpl, haloTmpl *template.Template, data any) error {
	var b strings.Builder
	if err := haproxyTmpl.Execute(&b, data); err != nil {
		return err
	}
	if err := os.WriteFile(lb.HAProxyCfg, []byte(b.String()), 0o644); err != nil {
		return err
	}
	b.Reset()
	if err := haloTmpl.Execute(&b, data); err != nil {
		return err
	}
	return os.WriteFile(lb.Config, []byte(b.String()), 0o644)
}

// StartHalod starts halod on lb and waits until its control socket answers.
func (c *Cluster) StartHalod(ctx context.Context, lb *LB) error { return StartHalod(ctx, c.Bin, lb) }

// StartHalod starts bin/halod on lb with its config and waits until its control socket
// answers; labs of their own (the BGP lab) use it with their LBs.
func StartHalod(ctx context.Context, bin string, lb *LB) error {
	p, err := lb.Node.Start(filepath.Join(bin, "halod"), "-config", lb.Config)
	if err != nil {
		return err
	}
	lb.Halod = p
	for {
		if _, err := lb.Status(ctx); err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("halod on %s exited:\n%s", lb.Name, p.Output())
		case <-ctx.Done():
			return fmt.Errorf("halod on %s: control socket not answering: %w", lb.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Status asks lb's halod for its snapshot.
func (lb *LB) Status(ctx context.Context) (supervisor.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := supervisor.Call(ctx, lb.Socket, supervisor.Request{Cmd: "status"})
	if err != nil {
		return supervisor.Status{}, err
	}
	if !resp.OK || resp.Status == nil {
		return supervisor.Status{}, fmt.Errorf("status: %s", resp.Error)
	}
	return *resp.Status, nil
}

// Ctl runs a control command on lb's halod.
func (lb *LB) Ctl(ctx context.Context, cmd string, args ...string) (supervisor.Response, error) {
	return supervisor.Call(ctx, lb.Socket, supervisor.Request{Cmd: cmd, Args: args})
}

// State returns lb's state for instance, "" when halod does not answer.
func (lb *LB) State(ctx context.Context, instance string) string {
	st, err := lb.Status(ctx)
	if err != nil {
		return ""
	}
	for _, in := range st.Instances {
		if in.Name == instance {
			return in.State
		}
	}
	return ""
}

// HAProxyPIDs returns the PIDs of lb's HAProxy master and workers, from the node's
// namespace (its processes are the only haproxy processes in it).
func (lb *LB) HAProxyPIDs(ctx context.Context) (master int, workers []int, err error) {
	st, err := lb.Status(ctx)
	if err != nil {
		return 0, nil, err
	}
	master = st.HAProxy.PID
	if master == 0 {
		return 0, nil, errors.New("haproxy not running")
	}
	out, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", master, master))
	if err != nil {
		return master, nil, err
	}
	for _, f := range strings.Fields(string(out)) {
		var pid int
		fmt.Sscan(f, &pid)
		workers = append(workers, pid)
	}
	return master, workers, nil
}

// Master returns the LB whose halod reports MASTER of VI_1 (nil when none does); Holder
// says who carries the VIP.
func (c *Cluster) Master(ctx context.Context) *LB {
	var m *LB
	for _, lb := range c.LBs {
		if lb.State(ctx, "VI_1") == "MASTER" {
			m = lb
		}
	}
	return m
}

// Holder returns the LB whose namespace carries the VIP, nil when none does.
func (c *Cluster) Holder(ctx context.Context) (*LB, error) {
	nodes := make([]*netlab.Node, len(c.LBs))
	for i, lb := range c.LBs {
		nodes[i] = lb.Node
	}
	i, err := vipHolder(ctx, nodes, c.VIP)
	if err != nil || i < 0 {
		return nil, err
	}
	return c.LBs[i], nil
}

// vipHolder returns the index of the node carrying vip, -1 when none does, and an
// error when several do.
func vipHolder(ctx context.Context, nodes []*netlab.Node, vip netip.Addr) (int, error) {
	h := -1
	for i, n := range nodes {
		ok, err := n.HasAddr(ctx, vip)
		if err != nil {
			return -1, err
		}
		if ok {
			if h >= 0 {
				return -1, fmt.Errorf("VIP held twice: %s and %s", nodes[h].Name, n.Name)
			}
			h = i
		}
	}
	return h, nil
}

// labPriority is the VRRP priority of the i-th load balancer (from 0): 101, 100, then 10
// lower each. Backups one priority apart have master-down timers 1/256 of an advert
// interval apart (RFC 5798's skew: 3.9 ms at 1 s), less than a loaded machine's
// scheduling delay: the lower one may then claim the role for a moment before the higher
// one's first advert reaches it, as the RFC allows (keepalived alike). The three-node
// cases assert which backup takes over, not that race.
func labPriority(i int) int {
	if i < 2 {
		return 101 - i
	}
	return 100 - 10*(i-1)
}
