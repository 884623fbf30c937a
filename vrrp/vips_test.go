package vrrp

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestVIPRemovedBehindOurBackIsRestored: `ip addr del` on the master. keepalived notices
// and re-runs the election; halo puts the VIP back and announces it at once, and the
// status never claims a VIP that is not there.
func TestVIPRemovedBehindOurBackIsRestored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		a := startNode(t, n, "192.0.2.11", testConfig("A", 150))
		b := startNode(t, n, "192.0.2.12", testConfig("B", 100))
		advance(mdi150 + time.Millisecond)
		wantHolder(t, "start", n, "A")
		before := a.owner.count()

		a.owner.steal()
		synctest.Wait()
		wantHolder(t, "after the VIP was deleted", n, "A")
		wantStates(t, "after the VIP was deleted", map[*node]State{a: StateMaster, b: StateBackup})
		s := a.in.Snapshot()
		if !s.HoldsVIPs || s.Counters.VIPRestores != 1 {
			t.Errorf("holds %v, restores %d; want true, 1", s.HoldsVIPs, s.Counters.VIPRestores)
		}
		if got := a.owner.count() - before; got != DefaultGARPRepeat {
			t.Errorf("%d announcements after the restore, want a burst of %d", got, DefaultGARPRepeat)
		}

		// A restore that fails is retried, and the status says the VIP is not held
		// meanwhile.
		a.owner.net.mu.Lock()
		a.owner.failAdd = 2
		a.owner.net.mu.Unlock()
		a.owner.steal()
		synctest.Wait()
		if s := a.in.Snapshot(); s.HoldsVIPs {
			t.Error("status claims the VIP while it is off the interface")
		}
		wantHolder(t, "restore failing", n)
		advance(repairMin + 2*repairMin)
		wantHolder(t, "restore retried", n, "A")
		if s := a.in.Snapshot(); !s.HoldsVIPs || s.Counters.VIPRestores != 2 || s.Counters.VIPErrors != 2 {
			t.Errorf("holds %v, restores %d, errors %d; want true, 2, 2", s.HoldsVIPs, s.Counters.VIPRestores, s.Counters.VIPErrors)
		}
	})
}

// TestVIPRemovalRetried: a FAULT whose VIP removal fails (a full file table) keeps
// trying until the VIP is gone, instead of marking it released.
func TestVIPRemovalRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		a := startNode(t, n, "192.0.2.11", testConfig("A", 150))
		b := startNode(t, n, "192.0.2.12", testConfig("B", 100))
		advance(mdi150 + time.Millisecond)
		wantHolder(t, "start", n, "A")

		a.owner.net.mu.Lock()
		a.owner.failDel = 3
		a.owner.net.mu.Unlock()
		a.in.setFault("link:eth0", true)
		advance(skew100 + time.Millisecond)
		wantStates(t, "fault", map[*node]State{a: StateFault, b: StateMaster})
		if s := a.in.Snapshot(); s.HoldsVIPs {
			t.Error("status claims the VIP in FAULT")
		}
		advance(repairMin + 2*repairMin + 4*repairMin)
		wantHolder(t, "removal retried", n, "B")
		if s := a.in.Snapshot(); s.Counters.VIPErrors != 3 {
			t.Errorf("VIP errors %d, want 3", s.Counters.VIPErrors)
		}
	})
}

// TestResumeWithVIPsLeftBehind: an instance that starts and finds its VIPs still on the
// interface (halod crashed or was restarted while master, HAProxy kept serving) resumes
// as master at once instead of dropping them for a master-down interval; a node with
// preemption off starts as usual (the master that took over keeps the role).
func TestResumeWithVIPsLeftBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		b := startNode(t, n, "192.0.2.12", testConfig("B", 100))
		a1 := newNode(t, n, "192.0.2.11", testConfig("A", 150), nil)
		if err := a1.owner.AddVIPs(); err != nil { // what the crashed run left
			t.Fatal(err)
		}
		a1.start(t)
		synctest.Wait()
		wantStates(t, "restarted with its VIPs", map[*node]State{a1: StateMaster})
		wantHolder(t, "restarted with its VIPs", n, "A")
		advance(time.Second)
		wantStates(t, "a second later", map[*node]State{a1: StateMaster, b: StateBackup})

		noPreempt := newNode(t, n, "192.0.2.13", testConfig("C", 200, func(c *InstanceConfig) { c.Preempt = new(bool) }), nil)
		if err := noPreempt.owner.AddVIPs(); err != nil {
			t.Fatal(err)
		}
		noPreempt.start(t)
		synctest.Wait()
		wantStates(t, "nopreempt restarted", map[*node]State{noPreempt: StateBackup})
		// A's advert comes within a second; C lets the VIP go after the drain.
		advance(time.Second + drain1s)
		wantHolder(t, "nopreempt restarted", n, "A")
	})
}

// TestResumeCarefullyWithPreemptDelay: with a preempt delay (or nopreempt) a restarted
// node that finds its VIPs listens one advert interval first, keeping them: with no
// master on the link it takes MASTER back without a moment with no holder.
func TestResumeCarefullyWithPreemptDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		b := startNode(t, n, "192.0.2.12", testConfig("B", 100, func(c *InstanceConfig) { c.PreemptDelay = 2 * time.Second }))
		a := newNode(t, n, "192.0.2.11", testConfig("A", 150, func(c *InstanceConfig) { c.PreemptDelay = 2 * time.Second }), nil)
		if err := a.owner.AddVIPs(); err != nil {
			t.Fatal(err)
		}
		a.start(t)
		synctest.Wait()
		wantStates(t, "listening", map[*node]State{a: StateBackup, b: StateBackup})
		wantHolder(t, "listening", n, "A")
		advance(time.Second + time.Second*106/256)
		wantStates(t, "no master heard", map[*node]State{a: StateMaster, b: StateBackup})
		wantHolder(t, "no master heard", n, "A")
	})
}
