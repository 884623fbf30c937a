package vrrp_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/netlab"
	"github.com/halo-lb/halo/internal/poll"
)

// Tier-3 tests of issue 5: unicast, active-active, sync groups, tracked interfaces and
// notify hooks, between network namespaces (keepalived's unicast peers are a transport of
// TestLabKeepalivedInterop).

// waitHolders waits until want (possibly none) holds addr among nodes.
func (l *lab) waitHolders(timeout time.Duration, addr netip.Addr, want []*netlab.Node, nodes ...*netlab.Node) time.Duration {
	l.t.Helper()
	var names []string
	for _, n := range want {
		names = append(names, n.Name)
	}
	return poll.Until(l.t, timeout, fmt.Sprintf("%s held by %v", addr, names), func() error {
		got, err := l.holders(addr, nodes...)
		if err != nil {
			return err
		}
		if !slices.Equal(got, names) {
			return fmt.Errorf("held by %v", got)
		}
		return nil
	})
}

// staticNeighbours fills every node's IPv6 neighbour table for network k, for tests
// that block multicast (neighbour discovery needs it).
func (l *lab) staticNeighbours(k int) {
	l.t.Helper()
	for _, n := range l.Nodes {
		for _, m := range l.Nodes {
			if n == m {
				continue
			}
			out, err := m.Exec(l.t.Context(), "cat", "/sys/class/net/"+m.Ifaces[k]+"/address")
			if err != nil {
				l.t.Fatal(err)
			}
			if _, err := n.Exec(l.t.Context(), "ip", "-6", "neigh", "replace", m.IPv6[k].Addr().String(),
				"lladdr", strings.TrimSpace(string(out)), "dev", n.Ifaces[k], "nud", "permanent"); err != nil {
				l.t.Fatal(err)
			}
		}
	}
}

// TestLabUnicastFailover runs a unicast pair over IPv4 and IPv6 on a network that carries
// no multicast: a crash fails over after the master-down interval, the master returns
// with preempt, and a graceful stop hands over.
func TestLabUnicastFailover(t *testing.T) {
	for _, family := range []string{"ipv4", "ipv6"} {
		t.Run(family, func(t *testing.T) {
			l := newLab(t, 2)
			n1, n2 := l.Nodes[0], l.Nodes[1]
			if err := l.BlockMulticast(0, true); err != nil {
				t.Fatal(err)
			}
			vipStr, addr := "192.0.2.100/24", func(n *netlab.Node) netip.Addr { return n.IPv4[0].Addr() }
			if family == "ipv6" {
				l.staticNeighbours(0)
				vipStr, addr = "2001:db8::100/64", func(n *netlab.Node) netip.Addr { return n.IPv6[0].Addr() }
			}
			vip := netip.MustParsePrefix(vipStr).Addr()
			cfg := func(prio int, self, peer *netlab.Node) string {
				return instance("VI_1", 51, 3, prio, "100ms", "vips: ["+vipStr+"]",
					fmt.Sprintf("unicast: {source: %q, peers: [%q]}", addr(self), addr(peer)))
			}
			p1 := l.halo(n1, cfg(150, n1, n2))
			p2 := l.halo(n2, cfg(100, n2, n1))
			l.waitHolder(10*time.Second, vip, n1, n1, n2)
			l.stays(time.Second, vip, n1, n1, n2)

			if err := p1.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-p1.Done()
			start := time.Now()
			poll.Until(t, 5*time.Second, "n2 holding the VIP", func() error {
				if ok, err := n2.HasAddr(t.Context(), vip); err != nil || !ok {
					return fmt.Errorf("not yet (%v)", err)
				}
				return nil
			})
			t.Logf("unicast %s, multicast blocked: n2 holds the VIP %v after n1's SIGKILL (100ms adverts)", family, time.Since(start))

			p1 = l.halo(n1, cfg(150, n1, n2))
			l.waitHolder(10*time.Second, vip, n1, n1, n2)
			start = time.Now()
			p1.Stop(5 * time.Second)
			l.waitHolder(2*time.Second, vip, n2, n1, n2)
			t.Logf("unicast %s: graceful stop handed over in %v", family, time.Since(start))
			if !strings.Contains(p2.Output(), "Entering MASTER STATE") {
				t.Errorf("n2 never became master:\n%s", p2.Output())
			}
		})
	}
}

// TestLabActiveActive runs two instances crosswise on two nodes, each node master of one
// VIP: a killed node's VIP moves to the other, and comes home when it returns.
func TestLabActiveActive(t *testing.T) {
	l := newLab(t, 3)
	n1, n2, client := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	vipA, vipB := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")
	const serveA, serveB = "192.0.2.100:8080", "192.0.2.101:8080"
	cfg := func(prioA, prioB int) string {
		return instance("VI_A", 61, 3, prioA, "100ms", "vips: [192.0.2.100/24]") +
			instance("VI_B", 62, 3, prioB, "100ms", "vips: [192.0.2.101/24]")
	}
	start1 := func() *netlab.Proc { return l.halo(n1, cfg(150, 100), "-serve", serveA+","+serveB, "-name", "n1") }
	p1 := start1()
	l.halo(n2, cfg(100, 150), "-serve", serveA+","+serveB, "-name", "n2")
	l.waitHolder(10*time.Second, vipA, n1, n1, n2)
	l.waitHolder(10*time.Second, vipB, n2, n1, n2)
	l.reach(client, serveA, "n1")
	l.reach(client, serveB, "n2")

	if err := p1.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p1.Done()
	start := time.Now()
	poll.Until(t, 5*time.Second, "n2 holding both VIPs", func() error {
		for _, v := range []netip.Addr{vipA, vipB} {
			if ok, err := n2.HasAddr(t.Context(), v); err != nil || !ok {
				return fmt.Errorf("%s not yet (%v)", v, err)
			}
		}
		return nil
	})
	t.Logf("n1 killed: n2 holds both VIPs after %v", time.Since(start))
	l.reach(client, serveA, "n2")
	l.reach(client, serveB, "n2")

	// n1 returns (its crashed run left VI_A's VIP behind: it resumes as its master, and
	// n2 yields on its first advert); VI_B stays on n2.
	start1()
	l.waitHolder(10*time.Second, vipA, n1, n1, n2)
	l.stays(time.Second, vipB, n2, n1, n2)
	l.reach(client, serveA, "n1")
	l.reach(client, serveB, "n2")
}

// syncGroupYAML is a node's halo.yaml with a WAN instance on eth0 and a LAN instance on
// eth1 in one sync group.
func syncGroupYAML(prio int) string {
	return "vrrp:\n  instances:\n" +
		instanceOn("eth0", "WAN", 51, 3, prio, "100ms", "vips: [192.0.2.100/24]") +
		instanceOn("eth1", "LAN", 52, 3, prio, "100ms", "vips: [198.51.100.100/24]") +
		"  sync_groups:\n    - name: VG_1\n      instances: [WAN, LAN]\n"
}

// TestLabSyncGroupLinkDown: two instances on two interfaces in a sync group; only the
// LAN cable of the master is cut at the switch, and both VIPs move to the other node.
func TestLabSyncGroupLinkDown(t *testing.T) {
	l := newLabNets(t, 2, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	wan, lan := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("198.51.100.100")
	p1 := l.haloYAML(n1, syncGroupYAML(150))
	l.haloYAML(n2, syncGroupYAML(100))
	l.waitHolder(10*time.Second, wan, n1, n1, n2)
	l.waitHolder(10*time.Second, lan, n1, n1, n2)

	if err := l.LinkDown(n1, 1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l.waitHolder(5*time.Second, wan, n2, n1, n2)
	l.waitHolder(5*time.Second, lan, n2, n1, n2)
	t.Logf("n1's LAN cable cut: n2 holds both VIPs (WAN included) after %v", time.Since(start))
	for _, want := range []string{"tracked interface down", "VRRP_Group(VG_1) Syncing instances to FAULT state",
		"VRRP_Instance(WAN) Entering FAULT STATE", "VRRP_Instance(LAN) Entering FAULT STATE"} {
		if !strings.Contains(p1.Output(), want) {
			t.Errorf("n1's log lacks %q", want)
		}
	}

	if err := l.LinkUp(n1, 1); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	l.waitHolder(10*time.Second, wan, n1, n1, n2)
	l.waitHolder(10*time.Second, lan, n1, n1, n2)
	t.Logf("cable back: n1 holds both VIPs again after %v (preempt)", time.Since(start))
}

// TestLabTrackInterface: a tracked interface (and the instance's own) going down puts
// the master in FAULT, releases its VIP, and the other node takes it; back up, the
// master preempts again.
func TestLabTrackInterface(t *testing.T) {
	l := newLabNets(t, 2, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("192.0.2.100")
	cfg := func(prio int) string {
		return instance("VI_1", 51, 3, prio, "100ms", "vips: [192.0.2.100/24]", "track_interfaces: [eth1]")
	}
	p1 := l.halo(n1, cfg(150))
	l.halo(n2, cfg(100))
	l.waitHolder(10*time.Second, vip, n1, n1, n2)

	for _, k := range []int{1, 0} {
		if err := l.LinkDown(n1, k); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		l.waitHolders(2*time.Second, vip, nil, n1) // released at once
		released := time.Since(start)
		l.waitHolder(5*time.Second, vip, n2, n1, n2)
		t.Logf("n1's eth%d down: VIP released after %v, held by n2 after %v", k, released, time.Since(start))
		if err := l.LinkUp(n1, k); err != nil {
			t.Fatal(err)
		}
		l.waitHolder(10*time.Second, vip, n1, n1, n2)
	}
	if n := strings.Count(p1.Output(), "VRRP_Instance(VI_1) Entering FAULT STATE"); n != 2 {
		t.Errorf("n1 entered FAULT %d times, want 2:\n%s", n, p1.Output())
	}
}

// hookScript writes a notify hook that appends its argv and HALO_* environment to the
// file named by its first argument.
func (l *lab) hookScript() string {
	l.t.Helper()
	p := filepath.Join(l.dir, "hook.sh")
	body := `#!/bin/sh
out=$1; shift
{
	printf 'argv'; for a in "$@"; do printf ' <%s>' "$a"; done; printf '\n'
	env | grep '^HALO_' | sort
	echo ---
} >> "$out"
`
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		l.t.Fatal(err)
	}
	return p
}

// hookRuns reads the records hookScript wrote.
func hookRuns(path string) ([]map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var runs []map[string]string
	for _, block := range strings.Split(string(b), "---\n") {
		if strings.TrimSpace(block) == "" {
			continue
		}
		r := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
			if rest, ok := strings.CutPrefix(line, "argv"); ok {
				r["argv"] = strings.TrimSpace(rest)
			} else if k, v, ok := strings.Cut(line, "="); ok {
				r[k] = v
			}
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// TestLabNotifyHooks: instance and group hooks run as argv without a shell, in order,
// with the HALO_* environment; the stop hooks run on a graceful stop.
func TestLabNotifyHooks(t *testing.T) {
	l := newLabNets(t, 1, 2)
	n1 := l.Nodes[0]
	hook := l.hookScript()
	inst, grp := filepath.Join(l.dir, "instance.log"), filepath.Join(l.dir, "group.log")
	notify := func(out, state string) string {
		return fmt.Sprintf("%s: [%s, %s, %q, '$HOME *']", state, hook, out, state+" arg")
	}
	yaml := "vrrp:\n  instances:\n" +
		instanceOn("eth0", "WAN", 51, 3, 150, "100ms", "vips: [192.0.2.100/24, 192.0.2.101/24]",
			"notify: {"+strings.Join([]string{notify(inst, "master"), notify(inst, "backup"), notify(inst, "stop"), "timeout: 5s"}, ", ")+"}") +
		instanceOn("eth1", "LAN", 52, 3, 150, "100ms", "vips: [198.51.100.100/24]") +
		"  sync_groups:\n    - name: VG_1\n      instances: [WAN, LAN]\n" +
		"      notify: {" + strings.Join([]string{notify(grp, "master"), notify(grp, "backup"), notify(grp, "stop")}, ", ") + "}\n"
	p := l.haloYAML(n1, yaml)
	poll.Until(t, 10*time.Second, "the master hooks", func() error {
		for _, f := range []string{inst, grp} {
			runs, err := hookRuns(f)
			if err != nil || len(runs) < 2 {
				return fmt.Errorf("%s: %d runs (%v)", f, len(runs), err)
			}
		}
		return nil
	})
	p.Stop(10 * time.Second)
	runs, err := hookRuns(inst)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, r := range runs {
		seen = append(seen, r["HALO_OLD_STATE"]+"->"+r["HALO_NEW_STATE"])
	}
	if want := []string{"INIT->BACKUP", "BACKUP->MASTER", "MASTER->INIT"}; !slices.Equal(seen, want) {
		t.Fatalf("instance hooks %v, want %v (%v)", seen, want, runs)
	}
	m := runs[1]
	for k, want := range map[string]string{
		"argv": "<master arg> <$HOME *>", "HALO_INSTANCE": "WAN", "HALO_GROUP": "VG_1",
		"HALO_VIPS": "192.0.2.100/24 192.0.2.101/24", "HALO_NEW_STATE": "MASTER",
	} {
		if m[k] != want {
			t.Errorf("master hook %s = %q, want %q", k, m[k], want)
		}
	}
	t.Logf("master hook saw: %v", m)
	runs, err = hookRuns(grp)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[1]["HALO_NEW_STATE"] != "MASTER" || runs[2]["argv"] != "<stop arg> <$HOME *>" ||
		runs[1]["HALO_GROUP"] != "VG_1" || runs[1]["HALO_INSTANCES"] != "WAN LAN" || runs[1]["HALO_INSTANCE"] != "" {
		t.Errorf("group hooks: %v", runs)
	}
}

// TestLabSlowHook: the master's notify hook hangs past its timeout; the node resigns
// meanwhile and the backup takes over in its skew time all the same; the hook is killed
// at its timeout.
func TestLabSlowHook(t *testing.T) {
	l := newLab(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("192.0.2.100")
	pidFile := filepath.Join(l.dir, "hook.pid")
	slow := filepath.Join(l.dir, "slow.sh")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\necho $$ > \"$1\"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := func(prio int) string {
		return instance("VI_1", 51, 3, prio, "100ms", "vips: [192.0.2.100/24]",
			fmt.Sprintf("notify: {master: [%s, %s], timeout: 3s}", slow, pidFile))
	}
	p1 := l.halo(n1, cfg(150))
	l.halo(n2, cfg(100))
	l.waitHolder(10*time.Second, vip, n1, n1, n2)
	var pid int
	poll.Until(t, 5*time.Second, "the master hook running", func() error {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return err
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	hookStart := time.Now()
	if err := p1.Signal(syscall.SIGUSR1); err != nil { // resign
		t.Fatal(err)
	}
	start := time.Now()
	l.waitHolder(2*time.Second, vip, n2, n1, n2)
	took := time.Since(start)
	t.Logf("resigned while its master hook hangs: n2 holds the VIP after %v", took)
	if took > time.Second {
		t.Errorf("failover took %v with a hanging hook", took)
	}
	poll.Until(t, 10*time.Second, "the hanging hook killed", func() error {
		if err := syscall.Kill(pid, 0); err == nil {
			return fmt.Errorf("pid %d alive", pid)
		}
		return nil
	})
	t.Logf("hook killed %v after it was seen running (timeout 3s)", time.Since(hookStart))
	poll.Until(t, 2*time.Second, "the timeout in n1's log", func() error {
		if !strings.Contains(p1.Output(), "notify hook timed out and was killed") {
			return fmt.Errorf("not logged")
		}
		return nil
	})
}
