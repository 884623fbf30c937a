package vrrp

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestEndYield: a resigned node with preempt lets a weaker master keep the role for as
// long as it lives (the sticky state an operator must be able to see and undo); EndYield
// makes it preempt again within a master-down interval, and a node with nopreempt stays
// backup after it.
func TestEndYield(t *testing.T) {
	self := netip.MustParseAddr("192.0.2.11")
	lb2 := netip.MustParseAddr("192.0.2.12")
	adv := &Advert{Version: 3, VRID: 51, Priority: 100, Interval: time.Second}
	for _, preempt := range []bool{true, false} {
		now := time.Unix(1000, 0)
		m := NewMachine(MachineConfig{Version: 3, Priority: 101, AdvertInterval: time.Second, Preempt: preempt, Primary: self})
		m.Start(now)
		now = now.Add(4 * time.Second)
		m.Timeout(now)
		if m.State() != StateMaster || m.Resigned() {
			t.Fatalf("preempt %v: state %s resigned %v before the resign", preempt, m.State(), m.Resigned())
		}
		m.Resign(now)
		// Without preempt the node would stay backup anyway: nothing to report.
		if m.Resigned() != preempt {
			t.Errorf("preempt %v: Resigned() %v after Resign", preempt, m.Resigned())
		}
		// lb2 takes over and advertises for a minute: lb1 stays backup.
		for range 60 {
			now = now.Add(time.Second)
			m.Advert(now, lb2, adv)
			m.Timeout(now)
		}
		if m.State() != StateBackup || m.Resigned() != preempt {
			t.Fatalf("preempt %v: state %s resigned %v a minute after the resign, want BACKUP, resigned %v", preempt, m.State(), m.Resigned(), preempt)
		}
		m.EndYield(now)
		if m.Resigned() {
			t.Errorf("preempt %v: still resigned after EndYield", preempt)
		}
		for range 5 {
			now = now.Add(time.Second)
			m.Advert(now, lb2, adv)
			m.Timeout(now)
		}
		want := StateBackup
		if preempt {
			want = StateMaster
		}
		if m.State() != want {
			t.Errorf("preempt %v: %s five seconds after EndYield, want %s", preempt, m.State(), want)
		}
	}
}

// TestResignedWhileTrackerForbidsPreempt: a resign a failing tracker made (it forbids
// preemption itself) is not reported as the operator's sticky resignation.
func TestResignedWhileTrackerForbidsPreempt(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMachine(MachineConfig{Version: 3, Priority: 101, AdvertInterval: time.Second, Preempt: true, Primary: netip.MustParseAddr("192.0.2.11")})
	m.Start(now)
	m.Timeout(now.Add(4 * time.Second))
	m.SetNoPreempt(true)
	m.Resign(now.Add(4 * time.Second))
	if m.Resigned() {
		t.Error("a tracker's resign reported as the operator's")
	}
	m.SetNoPreempt(false)
	if m.Resigned() {
		t.Error("resigned after the tracker recovered")
	}
}

// TestInstanceResignAndEndResign runs the sticky resign end to end on two instances: A
// (priority 150, preempt) resigns, B keeps the role, the snapshot shows the resignation
// and the peers heard, OnChange fires, and EndResign gives A the role back.
func TestInstanceResignAndEndResign(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		var changes atomic.Int64
		a := startNodeWith(t, n, "192.0.2.11", testConfig("A", 150), func(o *Options) { o.OnChange = func() { changes.Add(1) } })
		b := startNode(t, n, "192.0.2.12", testConfig("B", 100))
		advance(mdi150 + time.Millisecond)
		wantStates(t, "start", map[*node]State{a: StateMaster, b: StateBackup})
		if changes.Load() == 0 {
			t.Error("OnChange not called when A became master")
		}
		a.in.Resign()
		advance(30 * time.Second)
		wantStates(t, "resigned", map[*node]State{a: StateBackup, b: StateMaster})
		wantHolder(t, "resigned", n, "B")
		s := a.in.Snapshot()
		if !s.Resigned {
			t.Error("snapshot does not show the resignation")
		}
		if s.MasterSeen != netip.MustParseAddr("192.0.2.12") || s.MasterPriority != 100 {
			t.Errorf("master %s priority %d, want 192.0.2.12 100", s.MasterSeen, s.MasterPriority)
		}
		if len(s.Peers) != 1 || s.Peers[0].Addr != netip.MustParseAddr("192.0.2.12") || s.Peers[0].Priority != 100 ||
			time.Since(s.Peers[0].LastAdvert) > time.Second || s.Peers[0].Interval != time.Second {
			t.Errorf("A's peers %+v, want B at priority 100 heard within the last second", s.Peers)
		}
		// B heard A's priority-0 resignation: a peer at priority 0.
		if p := b.in.Snapshot().Peers; len(p) != 1 || p[0].Priority != 0 {
			t.Errorf("B's peers %+v, want A at priority 0", p)
		}
		before := changes.Load()
		a.in.EndResign()
		advance(mdi150 + time.Second)
		wantStates(t, "resign ended", map[*node]State{a: StateMaster, b: StateBackup})
		wantHolder(t, "resign ended", n, "A")
		if a.in.Snapshot().Resigned {
			t.Error("snapshot still shows the resignation")
		}
		if changes.Load() == before {
			t.Error("OnChange not called when the resignation ended")
		}
		// B's peer A expires once A is silent for PeerTTL.
		a.stop(t)
		advance(PeerTTL + 5*time.Second)
		if p := b.in.Snapshot().Peers; len(p) != 0 {
			t.Errorf("B still lists %+v after A was silent for %s", p, PeerTTL)
		}
	})
}

// TestPeersBounded: adverts from more sources than MaxPeers keep at most MaxPeers, the
// newest.
func TestPeersBounded(t *testing.T) {
	in, err := NewInstance(testConfig("A", 100), Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	for i := range 3 * MaxPeers {
		src := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
		in.mu.Lock()
		in.notePeer(now.Add(time.Duration(i)*time.Millisecond), src, &Advert{Priority: uint8(i + 1), Interval: time.Second})
		in.mu.Unlock()
	}
	in.mu.Lock()
	got := in.peerList(now.Add(time.Second))
	in.mu.Unlock()
	if len(got) != MaxPeers {
		t.Fatalf("%d peers kept, want %d", len(got), MaxPeers)
	}
	if got[0].Addr != netip.AddrFrom4([4]byte{198, 51, 100, byte(2*MaxPeers + 1)}) {
		t.Errorf("oldest kept %s, want the newest %d", got[0].Addr, MaxPeers)
	}
}
