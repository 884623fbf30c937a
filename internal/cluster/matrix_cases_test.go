package cluster

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/netlab"
	"github.com/halo-lb/halo/internal/poll"
)

// The cases of the two-node lab (1 s adverts: master down after ~3.6 s). Each returns when
// its fault was injected; the runner asserts the end state and the outage.

// caseHAProxyKill kills the master's HAProxy workers (workersOnly) or its master and
// workers. halod restarts HAProxy; the VIP may move and come back.
func caseHAProxyKill(workersOnly bool) func(t *testing.T, m *mlab) time.Time {
	return func(t *testing.T, m *mlab) time.Time {
		lb1 := m.c.LBs[0]
		pids := m.haproxyPIDs(t, lb1)
		if workersOnly {
			pids = pids[1:]
		}
		t0 := time.Now()
		signal(t, pids, syscall.SIGKILL)
		poll.Until(t, 10*time.Second, "lb1's HAProxy replaced", func() error {
			m2, w, err := lb1.HAProxyPIDs(m.ctx)
			if err != nil {
				return err
			}
			for _, p := range append([]int{m2}, w...) {
				for _, old := range pids {
					if p == old {
						return fmt.Errorf("killed pid %d still listed", p)
					}
				}
			}
			if len(w) == 0 {
				return fmt.Errorf("no worker yet")
			}
			return nil
		})
		return t0
	}
}

// caseHAProxyStop stops the master's whole HAProxy (SIGSTOP: hung, pidof would call it
// alive): the backup takes over; SIGCONT gives it back.
func caseHAProxyStop(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	pids := m.haproxyPIDs(t, lb1)
	t0 := time.Now()
	signal(t, pids, syscall.SIGSTOP)
	t.Cleanup(func() { signal(t, pids, syscall.SIGCONT) })
	m.waitState(t, lb2, "MASTER", 10*time.Second)
	m.waitServed(t, lb2, 10*time.Second)
	signal(t, pids, syscall.SIGCONT)
	return t0
}

// backendRoutes makes lb's backends unreachable from it (prohibit routes: connects fail
// at once, as to a dead host that answers with ICMP) or reachable again.
func (m *mlab) backendRoutes(t *testing.T, lb *LB, add bool) {
	t.Helper()
	op := "add"
	if !add {
		op = "del"
	}
	for _, be := range m.c.Backends {
		out, err := lb.Node.Exec(m.ctx, "ip", "route", op, "prohibit", be.IPv4[0].Addr().String()+"/32")
		if err != nil && add {
			t.Fatalf("%v: %s", err, out)
		}
	}
}

// caseBackendsDownEverywhere: every node loses every backend. halo treats a serving
// HAProxy with backends under minimum as a priority penalty, so one node keeps the VIP and
// the client gets HAProxy's 503, never a timeout.
func caseBackendsDownEverywhere(t *testing.T, m *mlab) time.Time {
	t0 := time.Now()
	for _, lb := range m.c.LBs {
		t.Cleanup(func() { m.backendRoutes(t, lb, false) })
		m.backendRoutes(t, lb, true)
	}
	poll.Until(t, 15*time.Second, "every HAProxy degraded", func() error {
		for _, lb := range m.c.LBs {
			if st := m.status(t, lb); !st.HAProxy.Degraded {
				return fmt.Errorf("%s: healthy=%v degraded=%v %s", lb.Name, st.HAProxy.Healthy, st.HAProxy.Degraded, st.HAProxy.Reason)
			}
		}
		return nil
	})
	// Settled with every backend down: one MASTER holding the VIP, the client served 503s.
	m.settled(t, nil, true)
	if ev, _ := m.p.Last(); ev.Err != "HTTP 503" {
		t.Errorf("client's last answer with every backend down: %+v, want HTTP 503", ev)
	}
	for _, lb := range m.c.LBs {
		m.backendRoutes(t, lb, false)
	}
	return t0
}

// caseBackendsDownOnMaster: only the master loses its backends; the backup, still
// healthy, takes over.
func caseBackendsDownOnMaster(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	t0 := time.Now()
	t.Cleanup(func() { m.backendRoutes(t, lb1, false) })
	m.backendRoutes(t, lb1, true)
	m.settled(t, lb2, false)
	m.backendRoutes(t, lb1, false)
	return t0
}

// caseVIPDeleted: `ip addr del` of the VIP on the master. halod restores it (within one
// advert interval) and the backup does not move.
func caseVIPDeleted(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	restores := vi1(m.status(t, lb1)).VIPRestores
	tr := m.transitions(t, lb2)
	t0 := time.Now()
	m.exec(t, lb1, "ip", "addr", "del", m.vipPrefix(), "dev", "eth0")
	d := poll.Until(t, m.adv, "the VIP back on lb1", func() error {
		if ok, err := lb1.Node.HasAddr(m.ctx, m.c.VIP); err != nil || !ok {
			return fmt.Errorf("not on lb1 (%v)", err)
		}
		return nil
	})
	t.Logf("VIP restored on lb1 %s after its deletion (polled every %s)", d.Round(time.Millisecond), poll.Interval)
	poll.Until(t, 5*time.Second, "lb1 counting the restore", func() error {
		if got := vi1(m.status(t, lb1)).VIPRestores; got <= restores {
			return fmt.Errorf("vip_restores %d", got)
		}
		return nil
	})
	if got := m.transitions(t, lb2); got != tr {
		t.Errorf("lb2 made %d state changes while lb1 restored its VIP", got-tr)
	}
	return t0
}

// caseIfaceDownUp: `ip link set eth0 down` on the master, then up again.
func caseIfaceDownUp(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	up := func() {
		_, _ = lb1.Node.Exec(m.ctx, "ip", "link", "set", "eth0", "up")
		// Taking a link down drops its IPv6 addresses; put the lab's back.
		_, _ = lb1.Node.Exec(m.ctx, "ip", "addr", "replace", lb1.Node.IPv6[0].String(), "dev", "eth0", "nodad")
	}
	t0 := time.Now()
	t.Cleanup(up)
	m.exec(t, lb1, "ip", "link", "set", "eth0", "down")
	m.waitState(t, lb2, "MASTER", 10*time.Second)
	m.waitServed(t, lb2, 10*time.Second)
	poll.Until(t, 5*time.Second, "lb1 out of MASTER without the VIP", func() error {
		st := vi1(m.status(t, lb1))
		ok, err := lb1.Node.HasAddr(m.ctx, m.c.VIP)
		if st.State == "MASTER" || ok || err != nil {
			return fmt.Errorf("lb1 %s, VIP on its down interface: %v (%v)", st.State, ok, err)
		}
		return nil
	})
	up()
	return t0
}

// caseHalodKill: halod SIGKILLed on the master, its HAProxy left running, halod started
// again after d. The new halod takes the surviving HAProxy over (a new master started
// with -x takes its listening sockets, then the old one is soft-stopped) and resumes as
// MASTER with its VIPs; no request fails.
func caseHalodKill(d time.Duration) func(t *testing.T, m *mlab) time.Time {
	return func(t *testing.T, m *mlab) time.Time {
		lb1 := m.c.LBs[0]
		pids := m.haproxyPIDs(t, lb1)
		t0 := time.Now()
		if err := lb1.Halod.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-lb1.Halod.Done()
		hold(d - time.Since(t0))
		if !alive(pids[0]) {
			t.Fatalf("HAProxy master %d did not outlive halod's SIGKILL by %s", pids[0], d)
		}
		m.startHalod(t, lb1)
		if d > m.adv*3 {
			// The backup took over meanwhile (the killed halod left its VIP: two holders
			// until it is back); the restarted one resumes and one holder remains.
			m.oneHolderWithin(t, time.Now(), "halod restarted")
		}
		m.settled(t, lb1, false)
		poll.Until(t, 30*time.Second, "the surviving HAProxy taken over and soft-stopped", func() error {
			if st := m.status(t, lb1); st.HAProxy.PID == pids[0] || !st.HAProxy.Healthy {
				return fmt.Errorf("halod runs HAProxy %d (healthy %v), the survivor was %d", st.HAProxy.PID, st.HAProxy.Healthy, pids[0])
			}
			if alive(pids[0]) {
				return fmt.Errorf("the surviving master %d still runs", pids[0])
			}
			return nil
		})
		return t0
	}
}

// caseHalodStop: halod SIGSTOPped 5 s on the master (its HAProxy serving, its VIP left on
// the interface): the backup takes over; once halod resumes, two nodes hold the VIP for
// at most one advert interval.
func caseHalodStop(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	t0 := time.Now()
	if err := lb1.Halod.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lb1.Halod.Signal(syscall.SIGCONT) })
	m.waitState(t, lb2, "MASTER", 5*time.Second)
	hold(5*time.Second - time.Since(t0))
	if err := lb1.Halod.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	m.oneHolderWithin(t, time.Now(), "halod resumed")
	return t0
}

// oneHolderWithin waits until exactly one node holds the VIP, and fails when that took
// longer than one advert interval (plus the polling) after tc.
func (m *mlab) oneHolderWithin(t *testing.T, tc time.Time, after string) {
	t.Helper()
	var last []string
	poll.Until(t, 10*time.Second, "one VIP holder after "+after, func() error {
		got, err := m.vipHolders(t)
		if err != nil {
			return err
		}
		last = got
		if len(got) != 1 {
			return fmt.Errorf("held by %v", got)
		}
		return nil
	})
	d := time.Since(tc)
	t.Logf("one VIP holder (%v) %s after %s", last, d.Round(time.Millisecond), after)
	if bound := m.adv + 500*time.Millisecond; d > bound {
		t.Errorf("two VIP holders for %s after %s, over one advert interval (%s, bound %s with the polling)", d, after, m.adv, bound)
	}
}

// casePowerOff: the master's processes killed and its cable cut; it comes back as after a
// reboot.
func casePowerOff(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	t.Cleanup(func() { m.powerOn(t, lb1) })
	t0 := m.powerOff(t, lb1)
	m.settled(t, lb2, false)
	m.powerOn(t, lb1)
	return t0
}

// casePartition: lb1 alone on one side of the bridge, everyone else on the other. Two
// masters (VRRP's nature); after the heal one master within one advert interval, and the
// client, whose ARP entry named lb2, is served again (the survivor re-announces).
func casePartition(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	t.Cleanup(func() { _ = m.c.Lab.Heal() })
	t0 := time.Now()
	if err := m.c.Lab.Partition([]*netlab.Node{lb1.Node}); err != nil {
		t.Fatal(err)
	}
	m.waitState(t, lb2, "MASTER", 10*time.Second)
	if got := lb1.State(m.ctx, "VI_1"); got != "MASTER" {
		t.Logf("lb1 is %s on its side of the partition", got)
	}
	m.waitServed(t, lb2, 10*time.Second)
	if err := m.c.Lab.Heal(); err != nil {
		t.Fatal(err)
	}
	th := time.Now()
	poll.Until(t, 10*time.Second, "one MASTER after the heal", func() error {
		n := 0
		for _, lb := range m.c.LBs {
			if lb.State(m.ctx, "VI_1") == "MASTER" {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%d masters", n)
		}
		return nil
	})
	d := time.Since(th)
	t.Logf("one MASTER %s after the heal", d.Round(time.Millisecond))
	if bound := m.adv + 500*time.Millisecond; d > bound {
		t.Errorf("two masters for %s after the heal, over one advert interval (%s, bound %s with the polling)", d, m.adv, bound)
	}
	return t0
}

// caseMaintenance: `haloctl maintenance on` on the master, then off.
func caseMaintenance(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	t.Cleanup(func() { _, _ = lb1.Ctl(m.ctx, "maintenance", "off") })
	t0 := time.Now()
	m.ctl(t, lb1, "maintenance", "on")
	m.settled(t, lb2, false)
	m.ctl(t, lb1, "maintenance", "off")
	m.settled(t, lb1, false)
	return t0
}

// caseResign: `haloctl resign VI_1` on the master: the backup takes over, and the node
// that resigned lets it keep the role while it lives (no bounce back). lb2 resigning in
// turn gives the role back.
func caseResign(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	t0 := time.Now()
	m.ctl(t, lb1, "resign", "VI_1")
	m.settled(t, lb2, false)
	// Three advert intervals and more: a preempting lb1 would have taken over by now.
	hold(4 * m.adv)
	m.settled(t, lb2, false)
	m.ctl(t, lb2, "resign", "VI_1")
	m.settled(t, lb1, false)
	return t0
}

func (m *mlab) ctl(t *testing.T, lb *LB, cmd string, args ...string) string {
	t.Helper()
	resp, err := lb.Ctl(m.ctx, cmd, args...)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.OK {
		t.Fatalf("%s %v on %s: %s", cmd, args, lb.Name, resp.Error)
	}
	return resp.Message
}

// rewrite replaces a file for the case and puts the original back on cleanup.
func rewrite(t *testing.T, path string, content func(old string) string) (restore func()) {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	restore = func() {
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(restore)
	if err := os.WriteFile(path, []byte(content(string(old))), 0o644); err != nil {
		t.Fatal(err)
	}
	return restore
}

// nothingMoved fails when an instance changed state since the counts were taken.
func (m *mlab) nothingMoved(t *testing.T, before []uint64) {
	t.Helper()
	for i, lb := range m.c.LBs {
		if got := m.transitions(t, lb); got != before[i] {
			t.Errorf("%s made %d state changes", lb.Name, got-before[i])
		}
	}
}

func (m *mlab) allTransitions(t *testing.T) []uint64 {
	t.Helper()
	var n []uint64
	for _, lb := range m.c.LBs {
		n = append(n, m.transitions(t, lb))
	}
	return n
}

// caseReloadRefusedBind: a valid haproxy.cfg whose new frontend binds a port in use. The
// reload fails, the old worker keeps serving, nothing fails over.
func caseReloadRefusedBind(t *testing.T, m *mlab) time.Time {
	lb1 := m.c.LBs[0]
	addr := netip.AddrPortFrom(lb1.Node.IPv4[0].Addr(), 8081)
	busy, err := lb1.Node.Start(filepath.Join(m.c.Bin, "labtool"), "serve", "-addr", addr.String(), "-name", "squatter", "-max-life", "5m")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Stop(2 * time.Second) })
	poll.Until(t, 5*time.Second, "the squatter listening on "+addr.String(), func() error {
		out, err := lb1.Node.Exec(m.ctx, "ss", "-Hltn", "src", addr.String())
		if err == nil && len(strings.TrimSpace(string(out))) == 0 {
			err = fmt.Errorf("not listening yet")
		}
		return err
	})
	before := m.allTransitions(t)
	failed := m.status(t, lb1).HAProxy.ReloadsFailed
	restore := rewrite(t, lb1.HAProxyCfg, func(old string) string {
		return old + fmt.Sprintf("\nfrontend squatted\n    bind %s\n    default_backend app\n", addr)
	})
	t.Cleanup(func() { _, _ = lb1.Ctl(m.ctx, "reload") })
	t0 := time.Now()
	resp, err := lb1.Ctl(m.ctx, "reload")
	if err != nil {
		t.Fatal(err)
	}
	if resp.OK {
		t.Errorf("reload binding a port in use succeeded: %s", resp.Message)
	}
	t.Logf("reload answer: %s", resp.Error)
	if st := m.status(t, lb1); st.HAProxy.ReloadsFailed <= failed || !st.HAProxy.Healthy {
		t.Errorf("after the refused reload: reloads_failed %d (was %d), healthy %v %s", st.HAProxy.ReloadsFailed, failed, st.HAProxy.Healthy, st.HAProxy.Reason)
	}
	m.nothingMoved(t, before)
	restore()
	m.ctl(t, lb1, "reload")
	m.nothingMoved(t, before)
	return t0
}

// caseInvalidHAProxyCfg: an invalid haproxy.cfg and SIGHUP: refused, nothing moves.
func caseInvalidHAProxyCfg(t *testing.T, m *mlab) time.Time {
	lb1 := m.c.LBs[0]
	before := m.allTransitions(t)
	restore := rewrite(t, lb1.HAProxyCfg, func(old string) string { return old + "\nthis is not haproxy\n" })
	t.Cleanup(func() { _, _ = lb1.Ctl(m.ctx, "reload") })
	t0 := time.Now()
	if err := lb1.Halod.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the SIGHUP reload refused", func() error {
		r := m.status(t, lb1).HAProxy.LastReload
		if r == nil || r.At.Before(t0) {
			return fmt.Errorf("no reload since the SIGHUP")
		}
		if r.OK || r.Result != "invalid" {
			return fmt.Errorf("last reload ok=%v result %q, want refused as invalid", r.OK, r.Result)
		}
		return nil
	})
	if st := m.status(t, lb1); !st.HAProxy.Healthy {
		t.Errorf("HAProxy unhealthy after a refused reload: %s", st.HAProxy.Reason)
	}
	m.nothingMoved(t, before)
	restore()
	m.ctl(t, lb1, "reload")
	m.nothingMoved(t, before)
	return t0
}

// caseHaloYAML: halo.yaml replaced by content, then SIGHUP: refused, nothing moves, the
// running configuration stays.
func caseHaloYAML(content string) func(t *testing.T, m *mlab) time.Time {
	return func(t *testing.T, m *mlab) time.Time {
		lb1 := m.c.LBs[0]
		before := m.allTransitions(t)
		restore := rewrite(t, lb1.Config, func(string) string { return content })
		t0 := time.Now()
		if err := lb1.Halod.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 30*time.Second, "the SIGHUP reload refused (config_valid false)", func() error {
			if m.status(t, lb1).ConfigValid {
				return fmt.Errorf("config_valid still true")
			}
			return nil
		})
		st := m.status(t, lb1)
		if in := vi1(st); in.State != "MASTER" || !in.HoldsVIPs || len(st.Instances) != 1 {
			t.Errorf("after the refused halo.yaml: %d instances, VI_1 %s holding %v", len(st.Instances), in.State, in.HoldsVIPs)
		}
		m.nothingMoved(t, before)
		restore()
		if err := lb1.Halod.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 30*time.Second, "config_valid again after the good halo.yaml", func() error {
			if !m.status(t, lb1).ConfigValid {
				return fmt.Errorf("config_valid false")
			}
			return nil
		})
		m.nothingMoved(t, before)
		return t0
	}
}

// caseAdvertFlood: 2,000 valid lower-priority VRRPv3 adverts from the client at the
// master. halod's CPU stays bounded, it answers far fewer than 2,000 times, nothing moves.
func caseAdvertFlood(t *testing.T, m *mlab) time.Time {
	lb1 := m.c.LBs[0]
	before := m.allTransitions(t)
	st0 := vi1(m.status(t, lb1))
	cpu0, err := cpuTime(lb1.Halod.PID)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	out, err := m.c.Client.Exec(m.ctx, filepath.Join(m.c.Bin, "labtool"), "vrrp-flood", "-vrid", "51", "-priority", "50",
		"-vip", m.c.VIP.String(), "-count", "2000", "-gap", "500us", "-max-time", "20s")
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(t0)
	cpu1, err := cpuTime(lb1.Halod.PID)
	if err != nil {
		t.Fatal(err)
	}
	var st1 = vi1(m.status(t, lb1))
	poll.Until(t, 5*time.Second, "the flood counted by lb1", func() error {
		st1 = vi1(m.status(t, lb1))
		if got := st1.AdvertsReceived - st0.AdvertsReceived; got < 1000 {
			return fmt.Errorf("lb1 received %d adverts", got)
		}
		return nil
	})
	sent := st1.AdvertsSent - st0.AdvertsSent
	cpu := cpu1 - cpu0
	t.Logf("flood %s over %s: lb1 received %d adverts, sent %d, used %s of CPU", strings.TrimSpace(string(out)),
		elapsed.Round(time.Millisecond), st1.AdvertsReceived-st0.AdvertsReceived, sent, cpu)
	// Its own adverts (one per interval) plus at most one answer per interval per source.
	if limit := 2*uint64(elapsed/m.adv) + 10; sent > limit {
		t.Errorf("lb1 sent %d adverts during a 2,000-advert flood of %s, want at most %d", sent, elapsed.Round(time.Millisecond), limit)
	}
	if cpu > time.Second {
		t.Errorf("halod on lb1 used %s of CPU for 2,000 adverts (bound 1s)", cpu)
	}
	m.nothingMoved(t, before)
	return t0
}
