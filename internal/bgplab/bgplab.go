// Package bgplab builds the BGP/ECMP lab of the tier-3 tests and the benchmarks: three
// load balancers running halod (HAProxy, BGP through its halo-bgp child) on network 0,
// Debian's FRR (zebra, bgpd, bfdd) as the upstream router between network 0 and network 1,
// and a client on network 1 that reaches the service addresses only through the router.
// FRR runs from its own directory, by PID, never as the system service.
package bgplab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
	"github.com/halo-lb/halo/internal/netlab"
	"github.com/halo-lb/halo/internal/tier"
	"github.com/halo-lb/halo/supervisor"
)

// The service addresses, from a documentation range no lab network uses.
var (
	Service4 = netip.MustParsePrefix("203.0.113.10/32")
	Service6 = netip.MustParsePrefix("2001:db8:ff::10/128")
)

// FRR's daemons, as Debian installs them.
const frrDir = "/usr/lib/frr"

// Options shape the lab.
type Options struct {
	// LBs is the number of load balancers (default 3).
	LBs int
	// Bin holds halod, halo-bgp, haloctl and labtool; Build fills it when empty.
	Bin string
	// BFD is the BFD interval at both ends (default 50ms, multiplier 3); 0 with NoBFD.
	BFD   time.Duration
	NoBFD bool
	// Drain is the graceful-shutdown drain (default 2s).
	Drain time.Duration
	// HoldTime is the BGP hold time (default 3s, the least).
	HoldTime time.Duration
}

// Lab is a running BGP lab.
type Lab struct {
	Net    *netlab.Lab
	LBs    []*cluster.LB
	Router *netlab.Node
	Client *netlab.Node
	Bin    string
	// RouterDir holds FRR's configs, PID files and sockets.
	RouterDir string
	// FRR are the router's daemons by name: zebra, bfdd, bgpd.
	FRR map[string]*netlab.Proc
	opt Options
	t   tier.TB
	// backends are the latest StartBackend's, by LB name.
	backends map[string]*netlab.Proc
}

// New builds the lab and starts FRR; it starts no halod (StartHalod does).
func New(t tier.TB, dir string, opt Options) *Lab {
	t.Helper()
	tier.HAProxy(t)
	tier.Binary(t, "vtysh", "frr")
	for _, d := range []string{"zebra", "bgpd", "bfdd"} {
		if _, err := os.Stat(filepath.Join(frrDir, d)); err != nil {
			tier.Missing(t, filepath.Join(frrDir, d), "apt-get install -y frr")
		}
	}
	if opt.LBs == 0 {
		opt.LBs = 3
	}
	if opt.BFD == 0 && !opt.NoBFD {
		opt.BFD = 50 * time.Millisecond
	}
	if opt.Drain == 0 {
		opt.Drain = 2 * time.Second
	}
	if opt.HoldTime == 0 {
		opt.HoldTime = 3 * time.Second
	}
	if opt.Bin == "" {
		opt.Bin = filepath.Join(dir, "bin")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := cluster.Build(ctx, opt.Bin); err != nil {
			t.Fatalf("bgplab: %v", err)
		}
	}
	net := netlab.New(t, netlab.Options{Nodes: opt.LBs + 2, Networks: 2})
	l := &Lab{Net: net, Router: net.Nodes[opt.LBs], Client: net.Nodes[opt.LBs+1], Bin: opt.Bin, opt: opt, t: t}
	rdir, err := frrRunDir(t)
	if err != nil {
		t.Fatalf("bgplab: %v", err)
	}
	l.RouterDir = rdir
	if err := l.wire(); err != nil {
		t.Fatalf("bgplab: %v", err)
	}
	for i := 0; i < opt.LBs; i++ {
		n := net.Nodes[i]
		lb := &cluster.LB{Name: fmt.Sprintf("lb%d", i+1), Node: n, Dir: filepath.Join(dir, fmt.Sprintf("lb%d", i+1))}
		lb.Config, lb.HAProxyCfg, lb.Socket = filepath.Join(lb.Dir, "halo.yaml"), filepath.Join(lb.Dir, "haproxy.cfg"), filepath.Join(lb.Dir, "halo.sock")
		if err := l.writeLB(lb); err != nil {
			t.Fatalf("bgplab: %v", err)
		}
		l.LBs = append(l.LBs, lb)
	}
	if err := l.startFRR(); err != nil {
		t.Fatalf("bgplab: %v", err)
	}
	return l
}

// wire makes network 0 the load balancers' and the router's, network 1 the router's and
// the client's, with the router forwarding between them and hashing flows on ports.
func (l *Lab) wire() error {
	ctx := context.Background()
	run := func(n *netlab.Node, args ...string) error {
		if out, err := n.Exec(ctx, args[0], args[1:]...); err != nil {
			return fmt.Errorf("%s: %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	r := l.Router
	for _, kv := range []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		// L4 hashing: one client's connections spread over the next hops, as on a
		// router facing many clients.
		"net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1"} {
		if err := run(r, "sysctl", "-qw", kv); err != nil {
			return err
		}
	}
	for _, n := range l.Net.Nodes[:l.opt.LBs] {
		if err := run(n, "ip", "link", "set", "eth1", "down"); err != nil {
			return err
		}
		if err := run(n, "ip", "route", "add", "default", "via", r.IPv4[0].Addr().String()); err != nil {
			return err
		}
		if err := run(n, "ip", "-6", "route", "add", "default", "via", r.IPv6[0].Addr().String()); err != nil {
			return err
		}
	}
	c := l.Client
	if err := run(c, "ip", "link", "set", "eth0", "down"); err != nil {
		return err
	}
	if err := run(c, "ip", "route", "add", "default", "via", r.IPv4[1].Addr().String()); err != nil {
		return err
	}
	return run(c, "ip", "-6", "route", "add", "default", "via", r.IPv6[1].Addr().String())
}

var lbHAProxy = template.Must(template.New("haproxy.cfg").Parse(`# written by internal/bgplab for {{.LB.Name}}
global
    stats socket {{.LB.Dir}}/admin.sock mode 600 level admin expose-fd listeners
    stats timeout 30s
    pidfile {{.LB.Dir}}/haproxy.pid

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s

frontend main
    bind {{.Svc4}}:80
    bind [{{.Svc6}}]:80
    http-request return status 200 content-type text/plain string "{{.LB.Name}}" hdr X-LB {{.LB.Name}}

# Only checked, never used for traffic: its server going DOWN makes the node degraded.
backend app
    server be1 127.0.0.1:8080 check inter 200ms fall 1 rise 1
`))

var lbHalo = template.Must(template.New("halo.yaml").Parse(`# written by internal/bgplab for {{.LB.Name}}
haproxy:
  mode: managed
  config: [{{.LB.HAProxyCfg}}]
  master_socket: {{.LB.Dir}}/master.sock
  stats_socket: {{.LB.Dir}}/admin.sock
  check: {frontends: [main], backends: {app: 1}}
  # The lab measures a dead HAProxy's withdrawal. With restart in place (the default) a
  # crash is restarted on the sockets halod holds and the node keeps announcing.
  restart_in_place: {enabled: false}
bgp:
  asn: 65001
  router_id: {{.RouterID}}
  drain: {{.Drain}}
  neighbors:
    - {address: {{.R4}}, asn: 65000, hold_time: {{.Hold}}{{.BFD}}}
    - {address: "{{.R6}}", asn: 65000, hold_time: {{.Hold}}{{.BFD}}}
  prefixes:
    - {prefix: {{.Svc4}}/32, communities: ["65001:100"]}
    - {prefix: "{{.Svc6}}/128"}
control: {socket: {{.LB.Socket}}}
metrics: {listen: "off"}
log: {level: debug}
`))

func (l *Lab) writeLB(lb *cluster.LB) error {
	if err := os.MkdirAll(lb.Dir, 0o755); err != nil {
		return err
	}
	bfd := ""
	if !l.opt.NoBFD {
		bfd = fmt.Sprintf(", bfd: {interval: %s, multiplier: 3}", l.opt.BFD)
	}
	data := map[string]any{"LB": lb, "Svc4": Service4.Addr(), "Svc6": Service6.Addr(),
		"RouterID": lb.Node.IPv4[0].Addr(), "Drain": l.opt.Drain.String(), "Hold": l.opt.HoldTime.String(),
		"R4": l.Router.IPv4[0].Addr(), "R6": l.Router.IPv6[0].Addr(), "BFD": bfd}
	return cluster.WriteConfigs(lb, lbHAProxy, lbHalo, data)
}

// StartBackend runs labtool's HTTP backend on lb's 127.0.0.1:8080, the server of its
// checked backend: stopping it makes lb degraded.
func (l *Lab) StartBackend(lb *cluster.LB) (*netlab.Proc, error) {
	p, err := lb.Node.Start(filepath.Join(l.Bin, "labtool"), "serve", "-addr", "127.0.0.1:8080", "-name", lb.Name)
	if err != nil {
		return nil, err
	}
	if l.backends == nil {
		l.backends = map[string]*netlab.Proc{}
	}
	l.backends[lb.Name] = p
	return p, nil
}

// Backend returns the backend StartBackend last started on lb, nil if none.
func (l *Lab) Backend(lb *cluster.LB) *netlab.Proc { return l.backends[lb.Name] }

// StartHalod starts halod on lb and waits until its control socket answers.
func (l *Lab) StartHalod(ctx context.Context, lb *cluster.LB) error {
	return cluster.StartHalod(ctx, l.Bin, lb)
}

// Announcing reports whether lb's halod says its prefixes are announced and its
// sessions established.
func Announcing(st supervisor.Status) error {
	b := st.BGP
	if b == nil {
		return fmt.Errorf("no bgp in status")
	}
	for _, n := range b.Neighbors {
		if n.State != "ESTABLISHED" {
			return fmt.Errorf("neighbour %s %s", n.Address, n.State)
		}
	}
	for _, p := range b.Prefixes {
		if p.State != "announced" {
			return fmt.Errorf("prefix %s %s", p.Prefix, p.State)
		}
	}
	return nil
}

// NextHops returns the next hops of the route FRR's zebra installed for p in the router's
// kernel FIB (proto bgp), sorted.
func (l *Lab) NextHops(ctx context.Context, p netip.Prefix) ([]netip.Addr, error) {
	fam := "-4"
	if p.Addr().Is6() {
		fam = "-6"
	}
	out, err := exec.CommandContext(ctx, "ip", "-n", l.Router.NS, fam, "-j", "route", "show", p.String(), "proto", "bgp").Output()
	if err != nil {
		return nil, fmt.Errorf("ip route show %s: %w", p, err)
	}
	var routes []struct {
		Dst      string `json:"dst"`
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return nil, fmt.Errorf("ip route show %s: %w: %s", p, err, out)
	}
	var hops []netip.Addr
	for _, r := range routes {
		gws := []string{r.Gateway}
		for _, nh := range r.Nexthops {
			gws = append(gws, nh.Gateway)
		}
		for _, g := range gws {
			if a, err := netip.ParseAddr(g); err == nil {
				hops = append(hops, a)
			}
		}
	}
	slices.SortFunc(hops, netip.Addr.Compare)
	return hops, nil
}

// LBAddr returns lb's address toward the router, the next hop it announces.
func LBAddr(lb *cluster.LB, v6 bool) netip.Addr {
	if v6 {
		return lb.Node.IPv6[0].Addr()
	}
	return lb.Node.IPv4[0].Addr()
}

// Vtysh runs one vtysh command against the lab's FRR.
func (l *Lab) Vtysh(ctx context.Context, cmd string) (string, error) {
	out, err := l.Router.Exec(ctx, "vtysh", "--vty_socket", l.RouterDir, "-c", cmd)
	return string(out), err
}

// Spread runs labtool spread from the client: n new connections to the IPv4 service.
func (l *Lab) Spread(ctx context.Context, n int) (map[string]int, int, error) {
	out, err := l.Client.Exec(ctx, filepath.Join(l.Bin, "labtool"), "spread", "-n", fmt.Sprint(n),
		"-url", fmt.Sprintf("http://%s/", Service4.Addr()))
	if err != nil {
		return nil, 0, fmt.Errorf("labtool spread: %v: %s", err, out)
	}
	var res struct {
		ByLB     map[string]int `json:"by_lb"`
		Failures int            `json:"failures"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, 0, fmt.Errorf("labtool spread: %v: %s", err, out)
	}
	return res.ByLB, res.Failures, nil
}

// pathCommunity checks that the router holds a path for p from nexthop whose communities
// include community ("": any path at all).
func (l *Lab) pathCommunity(ctx context.Context, p netip.Prefix, nexthop netip.Addr, community string) error {
	afi := "ipv4"
	if p.Addr().Is6() {
		afi = "ipv6"
	}
	out, err := l.Vtysh(ctx, fmt.Sprintf("show bgp %s unicast %s json", afi, p))
	if err != nil {
		return fmt.Errorf("vtysh: %v: %s", err, out)
	}
	var r struct {
		Paths []struct {
			Community struct {
				String string `json:"string"`
			} `json:"community"`
			Nexthops []struct {
				IP string `json:"ip"`
			} `json:"nexthops"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return fmt.Errorf("vtysh json: %v: %s", err, out)
	}
	for _, path := range r.Paths {
		for _, nh := range path.Nexthops {
			if nh.IP != nexthop.String() {
				continue
			}
			if community == "" || slices.Contains(strings.Fields(path.Community.String), community) {
				return nil
			}
			return fmt.Errorf("path from %s has communities %q, not %s", nexthop, path.Community.String, community)
		}
	}
	return fmt.Errorf("no path for %s from %s", p, nexthop)
}

// HoldConn is one connection of labtool hold.
type HoldConn struct {
	LB     string `json:"lb"`
	Broken bool   `json:"broken"`
	Err    string `json:"err,omitempty"`
}

// StartHold starts labtool hold on the client: conns keep-alive connections to the IPv4
// service, a request on each every 100 ms, for d. Read the result with HoldResult.
func (l *Lab) StartHold(conns int, d time.Duration) (*netlab.Proc, error) {
	return l.Client.Start(filepath.Join(l.Bin, "labtool"), "hold", "-conns", fmt.Sprint(conns),
		"-duration", d.String(), "-url", fmt.Sprintf("http://%s/", Service4.Addr()))
}

// HoldResult parses a finished labtool hold's output.
func HoldResult(p *netlab.Proc) ([]HoldConn, error) {
	var cs []HoldConn
	out := p.Output()
	if i := strings.Index(out, "["); i >= 0 {
		out = out[i:]
	}
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		return nil, fmt.Errorf("labtool hold: %v: %s", err, p.Output())
	}
	return cs, nil
}
