package vrrp_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/netlab"
	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/internal/tier"
)

// The tier-3 tests: real raw sockets, netlink and ARP between network namespaces, with
// the internal/vrrpnode binary as the halo node and Debian's keepalived beside it.

// vrrpnode builds the test node binary into the test's temporary directory.
func vrrpnode(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		tier.Missing(t, "the go command", "put go in PATH")
	}
	bin := filepath.Join(t.TempDir(), "vrrpnode")
	out, err := exec.Command(goBin, "build", "-o", bin, "../internal/vrrpnode").CombinedOutput()
	if err != nil {
		t.Fatalf("building vrrpnode: %v\n%s", err, out)
	}
	return bin
}

// lab is a netlab lab with the node binary at hand.
type lab struct {
	*netlab.Lab
	t   *testing.T
	bin string
	dir string
}

func newLab(t *testing.T, nodes int) *lab {
	t.Helper()
	return newLabNets(t, nodes, 1)
}

// newLabNets is newLab with several networks: node interface ethK joins network K.
func newLabNets(t *testing.T, nodes, networks int) *lab {
	t.Helper()
	tier.Root(t)
	bin := vrrpnode(t)
	return &lab{Lab: netlab.New(t, netlab.Options{Nodes: nodes, Networks: networks}), t: t, bin: bin, dir: t.TempDir()}
}

// halo starts vrrpnode on node n with the given vrrp instances (YAML list items).
func (l *lab) halo(n *netlab.Node, instances string, args ...string) *netlab.Proc {
	l.t.Helper()
	return l.haloYAML(n, "vrrp:\n  instances:\n"+instances, args...)
}

// haloYAML starts vrrpnode on node n with the given halo.yaml.
func (l *lab) haloYAML(n *netlab.Node, yaml string, args ...string) *netlab.Proc {
	l.t.Helper()
	path := filepath.Join(l.dir, fmt.Sprintf("%s-%d.yaml", n.Name, time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		l.t.Fatal(err)
	}
	p, err := n.Start(l.bin, append([]string{"-v", "-config", path}, args...)...)
	if err != nil {
		l.t.Fatal(err)
	}
	return p
}

// keepalived starts Debian's keepalived on node n with the given configuration.
func (l *lab) keepalived(n *netlab.Node, conf string) *netlab.Proc {
	l.t.Helper()
	bin := tier.Keepalived(l.t)
	dir := filepath.Join(l.dir, n.Name+"-keepalived")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		l.t.Fatal(err)
	}
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		l.t.Fatal(err)
	}
	// -n: stay in the foreground so that the recorded PID is keepalived's own; private
	// PID files so that nothing outside the lab is touched.
	p, err := n.Start(bin, "-n", "-l", "-D", "-f", path,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
	if err != nil {
		l.t.Fatal(err)
	}
	return p
}

// instance renders one instance on eth0 of a halo.yaml vrrp section.
func instance(name string, vrid, version, prio int, interval string, extra ...string) string {
	return instanceOn("eth0", name, vrid, version, prio, interval, extra...)
}

// instanceOn renders one instance on iface.
func instanceOn(iface, name string, vrid, version, prio int, interval string, extra ...string) string {
	s := fmt.Sprintf("    - name: %s\n      interface: %s\n      vrid: %d\n      version: %d\n      priority: %d\n      advert_interval: %s\n      garp: {delay: 0s, repeat: 3}\n",
		name, iface, vrid, version, prio, interval)
	for _, e := range extra {
		s += "      " + e + "\n"
	}
	return s
}

// holders returns the nodes that carry addr.
func (l *lab) holders(addr netip.Addr, nodes ...*netlab.Node) ([]string, error) {
	var out []string
	for _, n := range nodes {
		ok, err := n.HasAddr(l.t.Context(), addr)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, n.Name)
		}
	}
	return out, nil
}

// waitHolder waits until exactly node want (among nodes) carries addr, and returns how
// long that took.
func (l *lab) waitHolder(timeout time.Duration, addr netip.Addr, want *netlab.Node, nodes ...*netlab.Node) time.Duration {
	l.t.Helper()
	return poll.Until(l.t, timeout, fmt.Sprintf("%s held by %s alone", addr, want.Name), func() error {
		got, err := l.holders(addr, nodes...)
		if err != nil {
			return err
		}
		if !slices.Equal(got, []string{want.Name}) {
			return fmt.Errorf("held by %v", got)
		}
		return nil
	})
}

// reach checks from node c that the server on addr answers as want.
func (l *lab) reach(c *netlab.Node, addr string, want string) {
	l.t.Helper()
	poll.Until(l.t, 5*time.Second, "the VIP's server answering as "+want, func() error {
		ctx, cancel := context.WithTimeout(l.t.Context(), 3*time.Second)
		defer cancel()
		out, err := c.Exec(ctx, l.bin, "-get", addr)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(out)); got != want {
			return fmt.Errorf("answered %q", got)
		}
		return nil
	})
}

// stays checks that addr stays with node want for d (a negative condition cannot be
// awaited, so it is sampled).
func (l *lab) stays(d time.Duration, addr netip.Addr, want *netlab.Node, nodes ...*netlab.Node) {
	l.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		got, err := l.holders(addr, nodes...)
		if err != nil {
			l.t.Fatal(err)
		}
		if !slices.Equal(got, []string{want.Name}) {
			l.t.Fatalf("%s moved: held by %v, want %s", addr, got, want.Name)
		}
		time.Sleep(poll.Interval)
	}
}

// mac returns the hardware address of node n's eth0.
func (l *lab) mac(n *netlab.Node) string {
	l.t.Helper()
	out, err := n.Exec(l.t.Context(), "cat", "/sys/class/net/eth0/address")
	if err != nil {
		l.t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// arpPointsTo waits (briefly: the gratuitous ARP is sent on takeover) until client's
// neighbour entry for addr names owner's MAC address.
func (l *lab) arpPointsTo(client *netlab.Node, addr netip.Addr, owner *netlab.Node) {
	l.t.Helper()
	want := l.mac(owner)
	poll.Until(l.t, time.Second, "the client's ARP entry for "+addr.String()+" naming "+owner.Name, func() error {
		out, err := client.Exec(l.t.Context(), "ip", "neigh", "show", addr.String())
		if err != nil {
			return err
		}
		if !strings.Contains(string(out), want) {
			return fmt.Errorf("neighbour entry %q, want lladdr %s", strings.TrimSpace(string(out)), want)
		}
		return nil
	})
}

func TestLabFailover(t *testing.T) {
	l := newLab(t, 3)
	n1, n2, client := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	vip := netip.MustParseAddr("192.0.2.100")
	const server = "192.0.2.100:8080"
	cfg := func(prio int) string {
		return instance("VI_1", 51, 3, prio, "100ms", "vips: [192.0.2.100/24]")
	}
	p1 := l.halo(n1, cfg(150), "-serve", server, "-name", "n1")
	l.halo(n2, cfg(100), "-serve", server, "-name", "n2")
	l.waitHolder(10*time.Second, vip, n1, n1, n2)
	l.reach(client, server, "n1")

	// Graceful stop: priority 0, the backup takes over after its skew time.
	start := time.Now()
	p1.Stop(5 * time.Second)
	took := l.waitHolder(5*time.Second, vip, n2, n1, n2)
	t.Logf("graceful stop: n2 holds the VIP %v after SIGTERM returned (%v after it was sent)", took, time.Since(start))
	// The client's ARP entry moved with the gratuitous ARP, not after a stale timeout.
	l.arpPointsTo(client, vip, n2)
	l.reach(client, server, "n2")
	if !strings.Contains(p1.Output(), "VRRP_Instance(VI_1) Entering MASTER STATE") {
		t.Errorf("no keepalived-style transition line in the log:\n%s", p1.Output())
	}

	// Back with preempt (the default): n1 takes the VIP back.
	p1 = l.halo(n1, cfg(150), "-serve", server, "-name", "n1")
	l.waitHolder(10*time.Second, vip, n1, n1, n2)
	l.reach(client, server, "n1")

	// Hard kill: n1 leaves its VIP behind and goes silent; n2 takes over after the
	// master-down interval and its gratuitous ARP moves the client.
	if err := p1.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p1.Done()
	start = time.Now()
	poll.Until(t, 5*time.Second, "n2 holding the VIP", func() error {
		ok, err := n2.HasAddr(t.Context(), vip)
		if err == nil && !ok {
			err = fmt.Errorf("not yet")
		}
		return err
	})
	t.Logf("hard kill: n2 holds the VIP %v after SIGKILL", time.Since(start))
	l.reach(client, server, "n2")

	// n1 restarts: it finds the VIP its crashed run left and resumes as master; n2 yields
	// on its first advert.
	l.halo(n1, cfg(150), "-serve", server, "-name", "n1")
	l.waitHolder(10*time.Second, vip, n1, n1, n2)
	l.reach(client, server, "n1")
}

func TestLabNoPreempt(t *testing.T) {
	l := newLab(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("192.0.2.100")
	cfg := func(prio int) string {
		return instance("VI_1", 51, 3, prio, "100ms", "vips: [192.0.2.100/24]", "preempt: false")
	}
	p1 := l.halo(n1, cfg(150))
	l.waitHolder(10*time.Second, vip, n1, n1, n2)
	l.halo(n2, cfg(100))
	l.stays(time.Second, vip, n1, n1, n2)
	p1.Stop(5 * time.Second)
	l.waitHolder(5*time.Second, vip, n2, n1, n2)
	l.halo(n1, cfg(150))
	// Ten master-down intervals: with preempt n1 would have taken over long before.
	l.stays(4*time.Second, vip, n2, n1, n2)
}

func TestLabIPv6(t *testing.T) {
	l := newLab(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("2001:db8::100")
	cfg := func(prio int) string {
		return instance("VI_6", 61, 3, prio, "100ms", "vips: [2001:db8::100/64]")
	}
	p1 := l.halo(n1, cfg(150))
	l.halo(n2, cfg(100))
	l.waitHolder(10*time.Second, vip, n1, n1, n2)
	out, err := n1.Exec(t.Context(), "ip", "-6", "addr", "show", "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "tentative") {
		t.Errorf("VIP added without nodad:\n%s", out)
	}
	p1.Stop(5 * time.Second)
	l.waitHolder(5*time.Second, vip, n2, n1, n2)
}

// keepalivedConf renders a keepalived.conf with one instance beside a halo node; with a
// valid src it sends unicast from src to peer (unicast_src_ip, unicast_peer) instead of
// multicast.
func keepalivedConf(version, prio int, pass, vip string, src, peer netip.Addr) string {
	auth := ""
	if pass != "" {
		auth = fmt.Sprintf("\tauthentication {\n\t\tauth_type PASS\n\t\tauth_pass %s\n\t}\n", pass)
	}
	unicast := ""
	if src.IsValid() {
		unicast = fmt.Sprintf("\tunicast_src_ip %s\n\tunicast_peer {\n\t\t%s\n\t}\n", src, peer)
	}
	return fmt.Sprintf(`global_defs {
	router_id halo_interop
}
vrrp_instance VI_1 {
	state BACKUP
	interface eth0
	virtual_router_id 51
	version %d
	priority %d
	advert_int 1
%s%s	virtual_ipaddress {
		%s
	}
}
`, version, prio, unicast, auth, vip)
}

// TestLabKeepalivedInterop runs a halo node beside Debian's keepalived, VRRPv2 with PASS
// authentication and VRRPv3 over IPv4 and IPv6, each side master in turn, over multicast
// and over unicast (halo's unicast source and peers, keepalived's unicast_src_ip and
// unicast_peer) on a network that carries no multicast: the right node holds the VIP, it
// is held once, and it moves both ways.
func TestLabKeepalivedInterop(t *testing.T) {
	tier.Keepalived(t)
	for _, tc := range []struct {
		transport string
		version   int
		pass      string
		vip       string
	}{
		{"multicast", 2, "s3cret", "192.0.2.100/24"},
		{"multicast", 3, "", "192.0.2.100/24"},
		{"multicast", 3, "", "2001:db8::100/64"},
		{"unicast", 2, "s3cret", "192.0.2.100/24"},
		{"unicast", 3, "", "192.0.2.100/24"},
		{"unicast", 3, "", "2001:db8::100/64"},
	} {
		family := "ipv4"
		if strings.Contains(tc.vip, ":") {
			family = "ipv6"
		}
		for _, haloFirst := range []bool{true, false} {
			name := fmt.Sprintf("%s/v%d_%s/halo_master=%v", tc.transport, tc.version, family, haloFirst)
			t.Run(name, func(t *testing.T) {
				l := newLab(t, 2)
				h, k := l.Nodes[0], l.Nodes[1]
				vip := netip.MustParsePrefix(tc.vip).Addr()
				haloPrio, kaPrio := 100, 150
				if haloFirst {
					haloPrio, kaPrio = 150, 100
				}
				extra := []string{"vips: [" + tc.vip + "]"}
				if tc.pass != "" {
					extra = append(extra, "auth_pass: "+tc.pass)
				}
				var kaSrc, kaPeer netip.Addr // multicast
				note := ""
				if tc.transport == "unicast" {
					if err := l.BlockMulticast(0, true); err != nil {
						t.Fatal(err)
					}
					addr := func(n *netlab.Node) netip.Addr { return n.IPv4[0].Addr() }
					if family == "ipv6" {
						l.staticNeighbours(0)
						addr = func(n *netlab.Node) netip.Addr { return n.IPv6[0].Addr() }
					}
					extra = append(extra, fmt.Sprintf("unicast: {source: %q, peers: [%q]}", addr(h), addr(k)))
					kaSrc, kaPeer = addr(k), addr(h)
					note = " (unicast, multicast blocked)"
				}
				haloCfg := instance("VI_1", 51, tc.version, haloPrio, "1s", extra...)
				kaCfg := keepalivedConf(tc.version, kaPrio, tc.pass, tc.vip, kaSrc, kaPeer)
				startHalo := func() *netlab.Proc { return l.halo(h, haloCfg) }
				startKA := func() *netlab.Proc { return l.keepalived(k, kaCfg) }
				l.handoverBothWays(t, h, k, vip, startHalo, startKA, haloFirst, note)
			})
		}
	}
}

// handoverBothWays runs a halo node h and a keepalived node k, the first one named by
// haloFirst as master: a graceful stop of the master hands the VIP to the other within
// skew time (the priority-0 advert is understood both ways), and the master preempts
// again when it returns.
func (l *lab) handoverBothWays(t *testing.T, h, k *netlab.Node, vip netip.Addr, startHalo, startKA func() *netlab.Proc, haloFirst bool, note string) {
	t.Helper()
	hp, kp := startHalo(), startKA()
	master, backup := h, k
	stopMaster, restartMaster := func() { hp.Stop(5 * time.Second) }, func() { hp = startHalo() }
	if !haloFirst {
		master, backup = k, h
		stopMaster, restartMaster = func() { kp.Stop(5 * time.Second) }, func() { kp = startKA() }
	}
	l.waitHolder(15*time.Second, vip, master, h, k)
	l.stays(2*time.Second, vip, master, h, k)

	start := time.Now()
	stopMaster()
	l.waitHolder(5*time.Second, vip, backup, h, k)
	took := time.Since(start)
	t.Logf("%s took over %v after SIGTERM to the master%s", backup.Name, took, note)
	if took > 2*time.Second {
		t.Errorf("takeover took %v: the priority-0 advert was not understood", took)
	}
	restartMaster()
	l.waitHolder(15*time.Second, vip, master, h, k)
	l.stays(2*time.Second, vip, master, h, k)
}

// TestLabTshark captures a halo node's adverts (VRRPv3 over IPv4 and IPv6, VRRPv2 with
// PASS) and has Debian's tshark decode them: no malformed packet, every checksum good.
func TestLabTshark(t *testing.T) {
	tshark := tier.Binary(t, "tshark", "tshark")
	l := newLab(t, 1)
	n := l.Nodes[0]
	l.halo(n, instance("V3_4", 51, 3, 150, "100ms", "vips: [192.0.2.100/24]")+
		instance("V3_6", 61, 3, 150, "100ms", "vips: [2001:db8::100/64]")+
		instance("V2", 52, 2, 150, "1s", "vips: [192.0.2.101/24, 192.0.2.102/24]", "auth_pass: s3cret"))
	l.waitHolder(10*time.Second, netip.MustParseAddr("192.0.2.101"), n, n)
	file := filepath.Join(l.dir, "halo.pcap")
	p, err := n.Start(tshark, "-i", "eth0", "-a", "duration:3", "-f", "ip proto 112 or ip6 proto 112", "-w", file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("tshark capture: %v\n%s", err, p.Output())
	}
	out, err := exec.CommandContext(t.Context(), tshark, "-r", file, "-Y", "vrrp", "-T", "fields",
		"-E", "separator=,", "-e", "vrrp.version", "-e", "vrrp.virt_rtr_id", "-e", "vrrp.checksum.status",
		"-e", "_ws.malformed", "-e", "_ws.expert.severity").Output()
	if err != nil {
		t.Fatalf("tshark decode: %v", err)
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) != 5 {
			t.Fatalf("unexpected tshark line %q", line)
		}
		seen["v"+f[0]+"/vrid "+f[1]]++
		if f[2] != "1" || f[3] != "" || f[4] != "" {
			t.Errorf("tshark flags an advert (checksum status %q, malformed %q, expert %q): %s", f[2], f[3], f[4], line)
		}
	}
	t.Logf("decoded adverts: %v", seen)
	for _, k := range []string{"v3/vrid 51", "v3/vrid 61", "v2/vrid 52"} {
		if seen[k] == 0 {
			t.Errorf("no %s advert decoded (saw %v)", k, seen)
		}
	}
}

// TestLabUnicast runs two nodes with unicast peers on a network that carries no
// multicast, as in a cloud.
func TestLabUnicast(t *testing.T) {
	l := newLab(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	if err := l.BlockMulticast(0, true); err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("192.0.2.100")
	cfg := func(prio int, self, peer *netlab.Node) string {
		return instance("VI_1", 51, 3, prio, "100ms", "vips: [192.0.2.100/24]",
			fmt.Sprintf("unicast: {source: %s, peers: [%s]}", self.IPv4[0].Addr(), peer.IPv4[0].Addr()))
	}
	p1 := l.halo(n1, cfg(150, n1, n2))
	l.halo(n2, cfg(100, n2, n1))
	l.waitHolder(10*time.Second, vip, n1, n1, n2)
	l.stays(time.Second, vip, n1, n1, n2)
	p1.Stop(5 * time.Second)
	l.waitHolder(2*time.Second, vip, n2, n1, n2)
}

// TestLabFailoverTimings measures, median of five, how long after the master is stopped
// (SIGTERM: priority 0) or killed (SIGKILL: silence) the backup holds the VIP, at advert
// intervals of 1 s and 100 ms. It takes about a minute, so it runs only when asked:
// HALO_LAB_TIMINGS=1 go test -run TestLabFailoverTimings ./vrrp/
func TestLabFailoverTimings(t *testing.T) {
	if os.Getenv("HALO_LAB_TIMINGS") == "" {
		t.Skip("set HALO_LAB_TIMINGS=1 to measure failover times (about a minute)")
	}
	const runs = 5
	l := newLab(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("192.0.2.100")
	for _, interval := range []string{"1s", "100ms"} {
		cfg := func(prio int) string { return instance("VI_1", 51, 3, prio, interval, "vips: [192.0.2.100/24]") }
		p2 := l.halo(n2, cfg(100))
		var stop, kill []time.Duration
		for range runs {
			for _, hard := range []bool{false, true} {
				p1 := l.halo(n1, cfg(150))
				l.waitHolder(15*time.Second, vip, n1, n1, n2)
				start := time.Now()
				if hard {
					if err := p1.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					poll.Until(t, 10*time.Second, "n2 holding the VIP", func() error {
						if ok, err := n2.HasAddr(t.Context(), vip); err != nil || !ok {
							return fmt.Errorf("not yet (%v)", err)
						}
						return nil
					})
					kill = append(kill, time.Since(start))
					<-p1.Done()
				} else {
					if err := p1.Signal(syscall.SIGTERM); err != nil {
						t.Fatal(err)
					}
					l.waitHolder(10*time.Second, vip, n2, n1, n2)
					stop = append(stop, time.Since(start))
					<-p1.Done()
				}
			}
		}
		p2.Stop(5 * time.Second)
		slices.Sort(stop)
		slices.Sort(kill)
		t.Logf("advert_interval %s: SIGTERM -> backup holds the VIP: median %v (min %v, max %v); SIGKILL: median %v (min %v, max %v)",
			interval, stop[runs/2], stop[0], stop[runs-1], kill[runs/2], kill[0], kill[runs-1])
	}
}
