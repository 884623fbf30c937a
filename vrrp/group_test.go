package vrrp

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	wanVIP = netip.MustParsePrefix("192.0.2.100/24")
	lanVIP = netip.MustParsePrefix("198.51.100.100/24")
)

// pair is one node of a sync-group test: a WAN and a LAN instance in one group, each on
// its own link.
type pair struct {
	name     string
	wan, lan *node
	group    *Group
	links    *fakeLinks
	log      *syncBuf
	hooks    *fakeHooks
	runDone  chan error
	runGroup context.CancelFunc
}

// groupNets are the two links of a sync-group test.
type groupNets struct{ wan, lan *memNet }

func newGroupNets() groupNets { return groupNets{wan: newMemNet(), lan: newMemNet()} }

// newPair builds node name (host number host) with priority prio on both instances,
// groups them, and starts everything.
func newPair(t *testing.T, nets groupNets, name string, host, prio int, mod ...func(*InstanceConfig)) *pair {
	t.Helper()
	p := &pair{name: name, links: newFakeLinks("eth0", "eth1"), log: &syncBuf{}, hooks: newFakeHooks(), runDone: make(chan error, 1)}
	cfg := func(inst string, iface string, vrid int, vip netip.Prefix) InstanceConfig {
		c := InstanceConfig{Name: name + "_" + inst, Interface: iface, VRID: vrid, Priority: prio,
			AdvertInterval: time.Second, VIPs: []VIP{{Prefix: vip}}}
		for _, f := range mod {
			f(&c)
		}
		return c
	}
	opt := func(o *Options) { o.Links = p.links }
	p.wan = newNode(t, nets.wan, netip.AddrFrom4([4]byte{192, 0, 2, byte(host)}).String(), cfg("WAN", "eth0", 51, wanVIP), opt)
	p.lan = newNode(t, nets.lan, netip.AddrFrom4([4]byte{198, 51, 100, byte(host)}).String(), cfg("LAN", "eth1", 52, lanVIP), opt)
	p.wan.owner.vips, p.lan.owner.vips = []netip.Prefix{wanVIP}, []netip.Prefix{lanVIP}
	gcfg := SyncGroupConfig{Name: "VG_" + name, Instances: []string{name + "_WAN", name + "_LAN"},
		Notify: Notify{Master: []string{"group-master"}, Backup: []string{"group-backup"}, Fault: []string{"group-fault"},
			Stop: []string{"group-stop"}, Timeout: time.Second}}
	g, err := NewGroup(gcfg, []*Instance{p.wan.in, p.lan.in}, GroupOptions{
		Logger: slog.New(slog.NewTextHandler(p.log, nil)), Hooks: p.hooks})
	if err != nil {
		t.Fatal(err)
	}
	p.group = g
	ctx, cancel := context.WithCancel(t.Context())
	p.runGroup = cancel
	go func() { p.runDone <- g.Run(ctx) }()
	p.wan.start(t)
	p.lan.start(t)
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("group %s log:\n%s", g.Name(), p.log)
		}
	})
	return p
}

// stop stops both members and the group's Run, and waits for all three.
func (p *pair) stop(t *testing.T) {
	t.Helper()
	if p.runGroup == nil {
		return
	}
	p.runGroup()
	p.runGroup = nil
	p.wan.stop(t)
	p.lan.stop(t)
	if err := <-p.runDone; err != nil {
		t.Errorf("group Run: %v", err)
	}
}

func (p *pair) states() [2]State { return [2]State{p.wan.state(), p.lan.state()} }

func wantPair(t *testing.T, when string, p *pair, want State) {
	t.Helper()
	if got := p.states(); got != [2]State{want, want} {
		t.Errorf("%s: %s is %v, want both %s", when, p.name, got, want)
	}
}

// wantHolders checks who holds the WAN and the LAN VIP, in the order they took it ("":
// nobody).
func wantHolders(t *testing.T, when string, nets groupNets, who ...string) {
	t.Helper()
	want := slices.DeleteFunc(slices.Clone(who), func(s string) bool { return s == "" })
	w, l := nets.wan.holders(wanVIP), nets.lan.holders(lanVIP)
	var wn, ln []string
	for _, h := range w {
		wn = append(wn, strings.TrimSuffix(h, "_WAN"))
	}
	for _, h := range l {
		ln = append(ln, strings.TrimSuffix(h, "_LAN"))
	}
	if !slices.Equal(wn, want) || !slices.Equal(ln, want) {
		t.Errorf("%s: WAN VIP held by %v, LAN VIP by %v, want %v", when, w, l, want)
	}
}

func TestGroupMasterTogetherAndFaultFollows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nets := newGroupNets()
		a := newPair(t, nets, "A", 11, 150)
		b := newPair(t, nets, "B", 12, 100)
		advance(mdi150 + time.Millisecond)
		wantPair(t, "start", a, StateMaster)
		wantPair(t, "start", b, StateBackup)
		wantHolders(t, "start", nets, "A")
		if s := a.group.Snapshot(); s.State != StateMaster || !slices.Equal(s.Members, []string{"A_WAN", "A_LAN"}) {
			t.Errorf("A's group: %+v", s)
		}
		// Both of A's members became master at the same instant.
		if ta, tl := a.wan.transitions(), a.lan.transitions(); len(ta) != 2 || len(tl) != 2 || !ta[1].At.Equal(tl[1].At) {
			t.Errorf("A's members' transitions %+v and %+v", ta, tl)
		}

		// Only the LAN link goes down: both of A's members go to FAULT and release their
		// VIPs at once; B's take over together in their skew time.
		a.links.set("eth1", false)
		synctest.Wait()
		wantPair(t, "LAN link down", a, StateFault)
		wantHolders(t, "LAN link down", nets, "")
		if s := a.wan.in.Snapshot(); !slices.Equal(s.Faults, []string{"sync_group:VG_A"}) || s.SyncGroup != "VG_A" {
			t.Errorf("A_WAN faults %v, group %q", s.Faults, s.SyncGroup)
		}
		if got := a.wan.transitions(); got[len(got)-1].Reason != "sync_group" {
			t.Errorf("A_WAN entered FAULT for %q, want sync_group", got[len(got)-1].Reason)
		}
		advance(skew100)
		wantPair(t, "LAN link down", b, StateMaster)
		wantHolders(t, "LAN link down", nets, "B")

		// The link returns: both of A's members back to BACKUP, then preempt together.
		a.links.set("eth1", true)
		synctest.Wait()
		wantPair(t, "LAN link up", a, StateBackup)
		advance(mdi150 + time.Millisecond)
		wantPair(t, "LAN link up", a, StateMaster)
		wantPair(t, "LAN link up", b, StateBackup)
		// B's members, preempted, keep their VIPs for the drain.
		wantHolders(t, "LAN link up, B draining", nets, "B", "A")
		advance(drain1s)
		wantHolders(t, "LAN link up", nets, "A")

		// The group's hooks ran in order, with the group's environment.
		want := []string{"group-backup INIT->BACKUP", "group-master BACKUP->MASTER", "group-fault MASTER->FAULT",
			"group-backup FAULT->BACKUP", "group-master BACKUP->MASTER"}
		if diff := cmp.Diff(want, a.hooks.names()); diff != "" {
			t.Errorf("A's group hooks (-want +got):\n%s", diff)
		}
		env := a.hooks.runs()[1].Env
		if env["HALO_GROUP"] != "VG_A" || env["HALO_INSTANCE"] != "" || env["HALO_INSTANCES"] != "A_WAN A_LAN" ||
			env["HALO_VIPS"] != "192.0.2.100/24 198.51.100.100/24" {
			t.Errorf("group hook env %v", env)
		}
		// The group's Run waits for its members' handover and runs the stop hook.
		a.stop(t)
		if got := a.hooks.names(); got[len(got)-1] != "group-stop MASTER->INIT" {
			t.Errorf("A's group hooks after stop: %v", got)
		}
		if s := a.group.Snapshot(); s.State != StateInit || s.Counters.HookRuns != 6 || s.Counters.Transitions[StateChange{StateMaster, StateFault}] != 1 {
			t.Errorf("A's group after stop: %+v", s)
		}
	})
}

// TestGroupBackupFollows: one member resigns; the other follows to BACKUP with a
// priority-0 handover, and the group stays backup (the resigned member lets the new
// master keep the role) until the new masters die.
func TestGroupBackupFollows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nets := newGroupNets()
		a := newPair(t, nets, "A", 11, 150)
		b := newPair(t, nets, "B", 12, 100)
		advance(mdi150 + time.Millisecond)
		wantPair(t, "start", a, StateMaster)

		a.wan.in.Resign()
		synctest.Wait()
		wantPair(t, "WAN resigned", a, StateBackup)
		wantHolders(t, "WAN resigned, handing over", nets, "A")
		if s := a.lan.in.Snapshot(); s.Counters.PriorityZeroSent != 1 {
			t.Errorf("A_LAN sent %d priority-0 adverts, want 1", s.Counters.PriorityZeroSent)
		}
		advance(skew100)
		wantPair(t, "WAN resigned", b, StateMaster)
		wantHolders(t, "WAN resigned, B heard, A draining", nets, "A", "B")
		advance(drain1s)
		wantHolders(t, "WAN resigned", nets, "B")
		// A_LAN alone would preempt B_LAN (150 > 100); the group holds it back.
		advance(20 * time.Second)
		wantPair(t, "later", a, StateBackup)
		wantPair(t, "later", b, StateMaster)
		if n := a.lan.in.Snapshot().Counters.Transitions[StateChange{StateBackup, StateMaster}]; n != 1 {
			t.Errorf("A_LAN became master %d times, want 1 (at the start)", n)
		}

		// B dies: A's members take over together.
		b.wan.crash()
		b.lan.crash()
		for _, n := range []*memNet{nets.wan, nets.lan} {
			n.mu.Lock()
			for v := range n.held { // B's reboot wipes its addresses
				n.held[v] = slices.DeleteFunc(n.held[v], func(s string) bool { return strings.HasPrefix(s, "B_") })
			}
			n.mu.Unlock()
		}
		advance(mdi150 + time.Second)
		wantPair(t, "B crashed", a, StateMaster)
		wantHolders(t, "B crashed", nets, "A")
	})
}

// TestGroupWeightMovesTheGroup: a weighted tracker on one member lowers every member, so
// the peer's group preempts as a whole (keepalived ignores such weights in sync groups).
func TestGroupWeightMovesTheGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nets := newGroupNets()
		a := newPair(t, nets, "A", 11, 150, trackWeight(-60))
		b := newPair(t, nets, "B", 12, 100)
		advance(mdi150 + time.Millisecond)
		wantPair(t, "start", a, StateMaster)

		a.wan.in.SetTracked(TrackerHAProxy, true)
		synctest.Wait()
		for _, nd := range []*node{a.wan, a.lan} {
			if s := nd.in.Snapshot(); s.EffectivePriority != 90 || s.Weights[TrackerHAProxy] != -60 {
				t.Errorf("%s: effective priority %d, weights %v", nd.in.Name(), s.EffectivePriority, s.Weights)
			}
		}
		advance(10 * time.Second)
		wantPair(t, "weighted", a, StateBackup)
		wantPair(t, "weighted", b, StateMaster)
		wantHolders(t, "weighted", nets, "B")

		a.wan.in.SetTracked(TrackerHAProxy, false)
		advance(10 * time.Second)
		wantPair(t, "weight cleared", a, StateMaster)
		wantPair(t, "weight cleared", b, StateBackup)
		wantHolders(t, "weight cleared", nets, "A")
	})
}

// TestGroupWaitsForEveryMember: a member kept out of MASTER (maintenance) holds the
// other back even with no master anywhere; released, both become master together.
func TestGroupWaitsForEveryMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nets := newGroupNets()
		a := newPair(t, nets, "A", 11, 150)
		a.lan.in.SetMaintenance(true)
		advance(30 * time.Second)
		wantPair(t, "LAN in maintenance", a, StateBackup)
		wantHolders(t, "LAN in maintenance", nets, "")
		if s := a.group.Snapshot(); s.State != StateBackup {
			t.Errorf("group %s, want BACKUP", s.State)
		}
		a.lan.in.SetMaintenance(false)
		advance(mdi150 + time.Millisecond)
		wantPair(t, "maintenance off", a, StateMaster)
		ta, tl := a.wan.transitions(), a.lan.transitions()
		if !ta[len(ta)-1].At.Equal(tl[len(tl)-1].At) {
			t.Errorf("members became master at %v and %v", ta[len(ta)-1].At, tl[len(tl)-1].At)
		}
		if r := ta[len(ta)-1].Reason; r != "sync_group" {
			t.Errorf("A_WAN became master for %q, want sync_group (released by the group)", r)
		}
	})
}

func TestGroupCloseAndErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nets := newGroupNets()
		a := newPair(t, nets, "A", 11, 150)
		advance(mdi150 + time.Millisecond)
		wantPair(t, "start", a, StateMaster)

		_, err := NewGroup(SyncGroupConfig{Name: "VG_2"}, []*Instance{a.wan.in, a.lan.in}, GroupOptions{})
		if !errors.Is(err, ErrGrouped) {
			t.Errorf("second group: %v, want ErrGrouped", err)
		}
		for _, tc := range []struct {
			cfg     SyncGroupConfig
			members []*Instance
		}{
			{SyncGroupConfig{}, []*Instance{a.wan.in, a.lan.in}},
			{SyncGroupConfig{Name: "G"}, []*Instance{a.wan.in}},
			{SyncGroupConfig{Name: "G"}, []*Instance{a.wan.in, a.wan.in}},
			{SyncGroupConfig{Name: "G", Instances: []string{"A_WAN", "X"}}, []*Instance{a.wan.in, a.lan.in}},
		} {
			if _, err := NewGroup(tc.cfg, tc.members, GroupOptions{}); err == nil {
				t.Errorf("NewGroup(%+v) accepted", tc.cfg)
			}
		}

		// Closed, the group no longer moves its members.
		a.group.Close()
		a.links.set("eth1", false)
		synctest.Wait()
		if got := a.states(); got != [2]State{StateMaster, StateFault} {
			t.Errorf("after Close and a LAN fault: %v, want [MASTER FAULT]", got)
		}
		if s := a.wan.in.Snapshot(); s.SyncGroup != "" || len(s.Faults) != 0 {
			t.Errorf("A_WAN after Close: group %q, faults %v", s.SyncGroup, s.Faults)
		}
		// Another group may take them now.
		g2, err := NewGroup(SyncGroupConfig{Name: "VG_2"}, []*Instance{a.lan.in, a.wan.in}, GroupOptions{})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := a.states(); got != [2]State{StateFault, StateFault} {
			t.Errorf("regrouped with a LAN fault: %v, want both FAULT", got)
		}
		g2.Close()
	})
}
