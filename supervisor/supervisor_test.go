package supervisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/internal/vrrptest"
	"github.com/halo-lb/halo/vrrp"
)

type fakeHAProxy struct {
	mu          sync.Mutex
	ev          HAProxyHealth
	changed     chan struct{}
	reloads     int
	validateErr error
}

func (f *fakeHAProxy) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (f *fakeHAProxy) Health() (HAProxyHealth, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	return f.ev, f.changed
}

func (f *fakeHAProxy) set(healthy bool, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ev = HAProxyHealth{Healthy: healthy, Serving: healthy, Known: true, Reason: reason}
	if f.changed != nil {
		close(f.changed)
	}
	f.changed = make(chan struct{})
}

func (f *fakeHAProxy) Reload(ctx context.Context) (Reload, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.validateErr != nil {
		return Reload{Result: "invalid"}, f.validateErr
	}
	f.reloads++
	return Reload{OK: true, Result: "ok", Seconds: 0.01}, nil
}

func (f *fakeHAProxy) Validate(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.validateErr
}

func (f *fakeHAProxy) Status() HAProxyStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return HAProxyStatus{Mode: "managed", Running: true, Healthy: f.ev.Healthy, Reason: f.ev.Reason, Reloads: f.reloads}
}

type testNode struct {
	name string
	dir  string
	sup  *Supervisor
	hap  *fakeHAProxy
	stop context.CancelFunc
	done chan error
	cfg  string
}

const nodeYAML = `vrrp:
  instances:
    - name: VI_1
      interface: eth0
      vrid: 51
      priority: %d
      advert_interval: %s
      vips: [192.0.2.100/24]
      track_haproxy: %s
%s
control: {socket: %s/halo.sock}
`

// startNode runs a supervisor whose VRRP instances speak on link.
func startNode(t *testing.T, link *vrrptest.Link, name string, addr string, prio int, track, extra string) *testNode {
	return startNodeHealth(t, link, name, addr, prio, track, extra, HAProxyHealth{Healthy: true, Serving: true, Known: true})
}

func startNodeHealth(t *testing.T, link *vrrptest.Link, name string, addr string, prio int, track, extra string, health HAProxyHealth) *testNode {
	return startNodeAdvert(t, link, name, addr, prio, "20ms", track, extra, health)
}

func startNodeAdvert(t *testing.T, link *vrrptest.Link, name string, addr string, prio int, advert, track, extra string, health HAProxyHealth) *testNode {
	t.Helper()
	return startNodeWith(t, link, name, addr, prio, advert, track, extra, health, true)
}

// startNodeWith is startNodeAdvert with or without (noControl) the control socket: a test
// in a synctest bubble runs without, as a socket's accept would stop its fake clock.
func startNodeWith(t *testing.T, link *vrrptest.Link, name string, addr string, prio int, advert, track, extra string, health HAProxyHealth, noControl bool) *testNode {
	t.Helper()
	dir := t.TempDir()
	n := &testNode{name: name, dir: dir, hap: &fakeHAProxy{ev: health}, cfg: filepath.Join(dir, "halo.yaml")}
	if err := os.WriteFile(n.cfg, []byte(fmt.Sprintf(nodeYAML, prio, advert, track, extra, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(n.cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr(addr)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", name)
	}
	n.sup, err = New(cfg, Deps{Logger: log, Version: "test", HAProxy: n.hap, NoControl: noControl,
		VRRPOptions: func(ic vrrp.InstanceConfig) vrrp.Options {
			return vrrp.Options{Transport: link.Port(a), Owner: link.Owner(name, ic.VIPs)}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.stop, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.sup.Run(ctx) }()
	t.Cleanup(n.shutdown)
	return n
}

func (n *testNode) shutdown() {
	if n.stop != nil {
		n.stop()
		<-n.done
		n.stop = nil
	}
}

func (n *testNode) state(name string) string {
	for _, in := range n.sup.Status().Instances {
		if in.Name == name {
			return in.State
		}
	}
	return ""
}

// stays checks, every poll interval for d, that n's instance keeps state want: what must
// not happen can only be watched for a bounded time.
func stays(t *testing.T, n *testNode, inst, want string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(poll.Interval) {
		if got := n.state(inst); got != want {
			t.Fatalf("%s %s went %s, want it to stay %s", n.name, inst, got, want)
		}
	}
}

func waitState(t *testing.T, n *testNode, inst, want string) {
	t.Helper()
	poll.Until(t, 5*time.Second, n.name+" "+inst+" "+want, func() error {
		if got := n.state(inst); got != want {
			return fmt.Errorf("state %s", got)
		}
		return nil
	})
}

func TestHealthDrivesFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		a := startNode(t, link, "a", "192.0.2.11", 101, "{fault: true}", "")
		b := startNode(t, link, "b", "192.0.2.12", 100, "{fault: true}", "")
		waitState(t, a, "VI_1", "MASTER")
		waitState(t, b, "VI_1", "BACKUP")

		a.hap.set(false, "backend app: 0/2 servers UP")
		waitState(t, a, "VI_1", "FAULT")
		waitState(t, b, "VI_1", "MASTER")
		st := a.sup.Status()
		if st.Healthy() || !strings.Contains(strings.Join(st.Instances[0].Faults, ","), "haproxy") {
			t.Errorf("status of the faulty node: %+v", st.Instances[0])
		}
		if got := link.Holders(netip.MustParseAddr("192.0.2.100")); len(got) != 1 || got[0] != "b" {
			t.Errorf("VIP holders %v, want [b]", got)
		}

		a.hap.set(true, "")
		waitState(t, a, "VI_1", "MASTER") // preempt: a has the higher priority
		waitState(t, b, "VI_1", "BACKUP")
	})
}

// TestWeightedResignsAtOnce: with a weighted track the master does not wait for the
// backup's master-down timer: it resigns (priority 0) as soon as HAProxy fails.
func TestWeightedResignsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 1 s adverts: the backup's master-down interval is 3.6 s, its skew time 0.61 s; a
		// takeover well under the former shows that the master resigned (priority 0).
		link := vrrptest.NewLink()
		up := HAProxyHealth{Healthy: true, Serving: true, Known: true}
		a := startNodeAdvert(t, link, "a", "192.0.2.11", 101, "1s", "{weight: -10}", "", up)
		b := startNodeAdvert(t, link, "b", "192.0.2.12", 100, "1s", "{weight: -10}", "", up)
		waitState(t, a, "VI_1", "MASTER")
		waitState(t, b, "VI_1", "BACKUP")
		start := time.Now()
		a.hap.set(false, "stats socket: timeout after 100ms")
		waitState(t, b, "VI_1", "MASTER")
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("takeover %s after HAProxy failed: the master did not resign", d)
		}
		waitState(t, a, "VI_1", "BACKUP")
		if p := a.sup.Status().Instances[0].EffectivePriority; p != 91 {
			t.Errorf("effective priority %d, want 91", p)
		}
		snap := a.sup.Status().Instances[0]
		if snap.Priority != 101 {
			t.Errorf("base priority %d", snap.Priority)
		}
	})
}

// TestUnhealthyNeverPreempts: a weight too small to bring a's priority below b's (110-5 >
// 100) must not let a take the VIP back by preemption while its HAProxy fails; once
// healthy, a preempts back home.
func TestUnhealthyNeverPreempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		a := startNode(t, link, "a", "192.0.2.11", 110, "{weight: -5}", "")
		b := startNode(t, link, "b", "192.0.2.12", 100, "{weight: -5}", "")
		waitState(t, a, "VI_1", "MASTER")
		waitState(t, b, "VI_1", "BACKUP")
		a.hap.set(false, "backend app: 0/2 servers UP")
		waitState(t, b, "VI_1", "MASTER")
		// 500 ms is 25 advert intervals, about seven master-down intervals of a: time enough
		// to preempt several times over.
		stays(t, a, "VI_1", "BACKUP", 500*time.Millisecond)
		a.hap.set(true, "")
		waitState(t, a, "VI_1", "MASTER")
		waitState(t, b, "VI_1", "BACKUP")
	})
}

// TestUnhealthyBackupNeverPreempts: a node that starts (as backup) with its HAProxy
// failing does not preempt the healthy master, though its priority is higher.
func TestUnhealthyBackupNeverPreempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		b := startNode(t, link, "b", "192.0.2.12", 100, "{weight: -5}", "")
		waitState(t, b, "VI_1", "MASTER")
		a := startNodeHealth(t, link, "a", "192.0.2.11", 110, "{weight: -5}", "", HAProxyHealth{Known: true, Reason: "backend app: 0/2 servers UP"})
		waitState(t, a, "VI_1", "BACKUP")
		stays(t, a, "VI_1", "BACKUP", 500*time.Millisecond)
		a.hap.set(true, "")
		waitState(t, a, "VI_1", "MASTER")
	})
}

func TestStartsOnlyOnceHealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		n := startNodeHealth(t, link, "a", "192.0.2.11", 101, "{fault: true}", "", HAProxyHealth{Reason: "starting"})
		// Alone on the link and unhealthy from the start: it must never take the VIP.
		waitState(t, n, "VI_1", "FAULT")
		if tc := n.sup.Status().Instances[0].TransitionCounts; len(tc) != 1 || tc[0].To != "FAULT" {
			t.Errorf("transitions before HAProxy was healthy: %+v", tc)
		}
		n.hap.set(true, "")
		waitState(t, n, "VI_1", "MASTER")
	})
}

func TestMaintenanceAndResign(t *testing.T) {
	link := vrrptest.NewLink()
	a := startNodeWith(t, link, "a", "192.0.2.11", 101, "20ms", "{fault: true}", "", HAProxyHealth{Healthy: true, Serving: true, Known: true}, false)
	b := startNode(t, link, "b", "192.0.2.12", 100, "{fault: true}", "")
	waitState(t, a, "VI_1", "MASTER")
	waitState(t, b, "VI_1", "BACKUP")
	ctx := t.Context()
	sock := filepath.Join(a.dir, "halo.sock")
	resp, err := Call(ctx, sock, Request{Cmd: "maintenance", Args: []string{"on"}})
	if err != nil || !resp.OK {
		t.Fatalf("maintenance on: %+v %v", resp, err)
	}
	waitState(t, b, "VI_1", "MASTER")
	waitState(t, a, "VI_1", "BACKUP")
	if !a.sup.Status().Maintenance {
		t.Error("status does not show maintenance")
	}
	if _, err := os.Stat(filepath.Join(a.dir, "maintenance")); err != nil {
		t.Errorf("maintenance flag not persisted: %v", err)
	}
	// HAProxy going through a restart (unhealthy, healthy) keeps maintenance.
	a.hap.set(false, "restarting")
	waitState(t, a, "VI_1", "FAULT")
	a.hap.set(true, "")
	waitState(t, a, "VI_1", "BACKUP")

	resp, _ = Call(ctx, sock, Request{Cmd: "maintenance", Args: []string{"off"}})
	if !resp.OK {
		t.Fatalf("maintenance off: %+v", resp)
	}
	waitState(t, a, "VI_1", "MASTER")

	resp, _ = Call(ctx, sock, Request{Cmd: "resign", Args: []string{"VI_9"}})
	if resp.OK || !strings.Contains(resp.Error, `no instance named "VI_9"`) {
		t.Errorf("resign of an unknown instance: %+v", resp)
	}
	resp, _ = Call(ctx, sock, Request{Cmd: "resign", Args: []string{"VI_1"}})
	if !resp.OK {
		t.Fatalf("resign: %+v", resp)
	}
	waitState(t, b, "VI_1", "MASTER")
}

// TestReloadKeepsUnchangedInstances: a halo.yaml reload that adds an instance leaves the
// running one alone: no transition, VIP kept.
func TestReloadKeepsUnchangedInstances(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		a := startNode(t, link, "a", "192.0.2.11", 101, "{fault: true}", "")
		waitState(t, a, "VI_1", "MASTER")
		before := a.sup.Status().Instances[0].Transitions
		extra := "    - {name: VI_2, interface: eth0, vrid: 52, advert_interval: 20ms, vips: [192.0.2.101/24]}\n"
		os.WriteFile(a.cfg, []byte(fmt.Sprintf(nodeYAML, 101, "20ms", "{fault: true}", extra, a.dir)), 0o644)
		resp := a.sup.Reload(t.Context())
		if !resp.OK || !strings.Contains(resp.Message, "1 instances kept, 1 added") {
			t.Fatalf("reload: %+v", resp)
		}
		waitState(t, a, "VI_2", "MASTER")
		st := a.sup.Status()
		if st.Instances[0].Name != "VI_1" || st.Instances[0].Transitions != before || st.Instances[0].State != "MASTER" {
			t.Errorf("VI_1 was touched by the reload: %+v (transitions before %d)", st.Instances[0], before)
		}
		if a.hap.Status().Reloads != 1 {
			t.Errorf("HAProxy reloads %d, want 1", a.hap.Status().Reloads)
		}

		// A broken file changes nothing and says why.
		os.WriteFile(a.cfg, []byte("vrrp:\n  instances:\n    - {name: VI_1, vrid: 999}\n"), 0o644)
		resp = a.sup.Reload(t.Context())
		if resp.OK || !strings.Contains(resp.Error, "vrid: 999 not in 1..255") {
			t.Fatalf("bad reload answered %+v", resp)
		}
		if len(a.sup.Status().Instances) != 2 || a.sup.Status().ConfigValid {
			t.Errorf("after a refused reload: %+v", a.sup.Status())
		}
	})
}

func TestShutdownResigns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		up := HAProxyHealth{Healthy: true, Serving: true, Known: true}
		a := startNodeAdvert(t, link, "a", "192.0.2.11", 101, "1s", "{fault: true}", "", up)
		b := startNodeAdvert(t, link, "b", "192.0.2.12", 100, "1s", "{fault: true}", "", up)
		waitState(t, a, "VI_1", "MASTER")
		waitState(t, b, "VI_1", "BACKUP")
		start := time.Now()
		a.shutdown()
		waitState(t, b, "VI_1", "MASTER")
		// Priority 0 lets b take over after its skew time (0.61 s at 1 s adverts), not its
		// master-down interval (3.6 s).
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("takeover after graceful stop took %s: no priority-0 advert?", d)
		}
		if got := link.Holders(netip.MustParseAddr("192.0.2.100")); len(got) != 1 || got[0] != "b" {
			t.Errorf("VIP holders %v, want [b]", got)
		}
	})
}

func TestSdNotify(t *testing.T) {
	var mu sync.Mutex
	var states []string
	dir := t.TempDir()
	cfg, err := ParseConfig(filepath.Join(dir, "halo.yaml"), []byte(fmt.Sprintf(oneInstance+"control: {socket: %s/halo.sock}\n", dir)))
	if err != nil {
		t.Fatal(err)
	}
	link := vrrptest.NewLink()
	sup, err := New(cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HAProxy: &fakeHAProxy{},
		VRRPOptions: func(ic vrrp.InstanceConfig) vrrp.Options {
			return vrrp.Options{Transport: link.Port(netip.MustParseAddr("192.0.2.1")), Owner: link.Owner("a", ic.VIPs)}
		},
		Watchdog: 20 * time.Millisecond, Notify: func(s string) {
			mu.Lock()
			states = append(states, s)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	poll.Until(t, 5*time.Second, "READY and a WATCHDOG ping", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(states) < 2 || states[0] != "READY=1" || states[1] != "WATCHDOG=1" {
			return fmt.Errorf("states %v", states)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if last := states[len(states)-1]; last != "STOPPING=1" {
		t.Errorf("last state %q, want STOPPING=1", last)
	}
}

// TestSyncGroup: HAProxy fails on a, which tracks it on VI_1 only; VI_2, in the same sync
// group, follows, so b masters both. A reload that changes nothing keeps the group.
func TestSyncGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		extra := "    - {name: VI_2, interface: eth0, vrid: 52, priority: %d, advert_interval: 20ms, vips: [192.0.2.101/24]}\n" +
			"  sync_groups:\n    - {name: G_1, instances: [VI_1, VI_2]}"
		a := startNode(t, link, "a", "192.0.2.11", 101, "{fault: true}", fmt.Sprintf(extra, 101))
		b := startNode(t, link, "b", "192.0.2.12", 100, "{fault: true}", fmt.Sprintf(extra, 100))
		for _, in := range []string{"VI_1", "VI_2"} {
			waitState(t, a, in, "MASTER")
			waitState(t, b, in, "BACKUP")
		}
		if st := a.sup.Status(); len(st.SyncGroups) != 1 || st.SyncGroups[0].State != "MASTER" || st.Instances[1].SyncGroup != "G_1" {
			t.Errorf("group status: %+v / %+v", st.SyncGroups, st.Instances)
		}
		a.hap.set(false, "backend app: 0/2 servers UP")
		waitState(t, a, "VI_1", "FAULT")
		waitState(t, a, "VI_2", "FAULT") // follows its group
		waitState(t, b, "VI_1", "MASTER")
		waitState(t, b, "VI_2", "MASTER")
		a.hap.set(true, "")
		waitState(t, a, "VI_1", "MASTER")
		waitState(t, a, "VI_2", "MASTER")

		before := a.sup.Status()
		if resp := a.sup.Reload(t.Context()); !resp.OK || !strings.Contains(resp.Message, "2 instances kept") {
			t.Fatalf("reload: %+v", resp)
		}
		after := a.sup.Status()
		if len(after.SyncGroups) != 1 || after.SyncGroups[0].Since != before.SyncGroups[0].Since {
			t.Errorf("the group was rebuilt by a reload that changed nothing: %+v -> %+v", before.SyncGroups, after.SyncGroups)
		}
		// Changing a member restarts it and rebuilds its group around the new instance.
		os.WriteFile(a.cfg, []byte(fmt.Sprintf(nodeYAML, 101, "20ms", "{fault: true}", fmt.Sprintf(extra, 102), a.dir)), 0o644)
		if resp := a.sup.Reload(t.Context()); !resp.OK || !strings.Contains(resp.Message, "1 restarted") {
			t.Fatalf("reload: %+v", resp)
		}
		waitState(t, a, "VI_2", "MASTER")
		after = a.sup.Status()
		if len(after.SyncGroups) != 1 || after.Instances[1].SyncGroup != "G_1" {
			t.Errorf("after a member restart: %+v / %+v", after.SyncGroups, after.Instances)
		}
		a.hap.set(false, "down again")
		waitState(t, a, "VI_2", "FAULT") // the rebuilt group still moves VI_2 with VI_1
		var b2 strings.Builder
		after.WriteTable(&b2, time.Now())
		if !strings.Contains(b2.String(), "G_1") {
			t.Errorf("table lacks the group:\n%s", b2.String())
		}
	})
}

// TestHealthFlapsEndInTheLatestState flips HAProxy's health 10,000 times in a burst while
// the supervisor and both nodes run, for each track policy, and checks that every
// instance ends where the last verdict puts it: the health path loses no change and
// applies none out of order.
func TestHealthFlapsEndInTheLatestState(t *testing.T) {
	const flips = 10000
	for _, tc := range []struct {
		track     string
		failing   bool
		a, b      string
		effective int
		holder    string
	}{
		{"{fault: true}", true, "FAULT", "MASTER", 110, "b"},
		{"{fault: true}", false, "MASTER", "BACKUP", 110, "a"},
		{"{weight: -60}", true, "BACKUP", "MASTER", 50, "b"},
		{"{weight: -60}", false, "MASTER", "BACKUP", 110, "a"},
		{"{weight: -5}", true, "BACKUP", "MASTER", 105, "b"}, // still above b: never preempts while failing
		{"{weight: -5}", false, "MASTER", "BACKUP", 110, "a"},
	} {
		name := strings.NewReplacer("{", "", "}", "", ": ", "=", " ", "").Replace(tc.track)
		t.Run(fmt.Sprintf("%s/failing=%v", name, tc.failing), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				link := vrrptest.NewLink()
				a := startNode(t, link, "a", "192.0.2.11", 110, tc.track, "")
				b := startNode(t, link, "b", "192.0.2.12", 100, tc.track, "")
				waitState(t, a, "VI_1", "MASTER")
				waitState(t, b, "VI_1", "BACKUP")
				done := make(chan struct{})
				go func() {
					defer close(done)
					for i := range flips {
						healthy := (i%2 == 1) != tc.failing // the last flip sets !tc.failing
						a.hap.set(healthy, "flap")
					}
				}()
				for range 20 {
					time.Sleep(time.Millisecond) // the loops run while the flips go on
				}
				<-done
				time.Sleep(2 * time.Second) // 100 advert intervals: time to settle
				if got := a.state("VI_1"); got != tc.a {
					t.Errorf("a is %s, want %s", got, tc.a)
				}
				if got := b.state("VI_1"); got != tc.b {
					t.Errorf("b is %s, want %s", got, tc.b)
				}
				if p := a.sup.Status().Instances[0].EffectivePriority; tc.a != "FAULT" && p != tc.effective {
					t.Errorf("a's effective priority %d, want %d", p, tc.effective)
				}
				if got := link.Holders(netip.MustParseAddr("192.0.2.100")); len(got) != 1 || got[0] != tc.holder {
					t.Errorf("VIP holders %v, want [%s]", got, tc.holder)
				}
			})
		})
	}
}

func (f *fakeHAProxy) degrade(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ev = HAProxyHealth{Serving: true, Known: true, Reason: reason}
	close(f.changed)
	f.changed = make(chan struct{})
}

// TestBackendsDownIsAPenalty: with the shipped example (track_haproxy {fault: true},
// backends {app: 1}) a node whose backends are all down still serves HAProxy's error
// page, so it loses priority instead of going to FAULT: the node that kept its backends
// takes the VIP, and when every node has lost them one still holds it (a 503 beats a
// dark VIP; both went to FAULT before).
func TestBackendsDownIsAPenalty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		a := startNode(t, link, "a", "192.0.2.11", 101, "{fault: true}", "")
		b := startNode(t, link, "b", "192.0.2.12", 100, "{fault: true}", "")
		waitState(t, a, "VI_1", "MASTER")
		waitState(t, b, "VI_1", "BACKUP")
		vip := netip.MustParseAddr("192.0.2.100")

		a.hap.degrade("backend app: 0/2 servers UP")
		waitState(t, b, "VI_1", "MASTER")
		waitState(t, a, "VI_1", "BACKUP")
		if p := a.sup.Status().Instances[0].EffectivePriority; p != 51 {
			t.Errorf("a's effective priority %d, want 101-50", p)
		}

		b.hap.degrade("backend app: 0/2 servers UP")
		time.Sleep(5 * time.Second)
		if got := link.Holders(vip); len(got) != 1 {
			t.Errorf("every node degraded: VIP held by %v, want exactly one node", got)
		}
		if a.state("VI_1") == "FAULT" || b.state("VI_1") == "FAULT" {
			t.Errorf("a degraded node went to FAULT: a %s, b %s", a.state("VI_1"), b.state("VI_1"))
		}

		a.hap.set(true, "")
		waitState(t, a, "VI_1", "MASTER")
		if got := link.Holders(vip); len(got) != 1 || got[0] != "a" {
			t.Errorf("VIP holders %v, want [a]", got)
		}
	})
}
