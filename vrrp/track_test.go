package vrrp

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// TestTrackedFlapsEndInTheLatestState flips a tracked condition 10,000 times in a burst,
// racing the instance's loop, and checks that each policy ends where the last value says:
// nothing in between may be lost or applied out of order.
func TestTrackedFlapsEndInTheLatestState(t *testing.T) {
	const flips = 10000
	for _, tc := range []struct {
		policy  Track
		failing bool
		a, b    State
		prio    int
		holder  string
	}{
		{Track{Fault: true}, true, StateFault, StateMaster, 150, "B"},
		{Track{Fault: true}, false, StateMaster, StateBackup, 150, "A"},
		{Track{Weight: -60}, true, StateBackup, StateMaster, 90, "B"},
		{Track{Weight: -60}, false, StateMaster, StateBackup, 150, "A"},
		// A weight that keeps A above B still resigns a failing master and stops it
		// preempting back: a node whose tracked service fails never holds the VIP by choice.
		{Track{Weight: -10}, true, StateBackup, StateMaster, 140, "B"},
	} {
		t.Run(fmt.Sprintf("%+v/failing=%v", tc.policy, tc.failing), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newMemNet()
				pol := tc.policy
				a := startNode(t, n, "192.0.2.11", testConfig("A", 150, func(c *InstanceConfig) { c.TrackHAProxy = &pol }))
				b := startNode(t, n, "192.0.2.12", testConfig("B", 100))
				advance(mdi150 + time.Millisecond)
				wantStates(t, "start", map[*node]State{a: StateMaster, b: StateBackup})

				done := make(chan struct{})
				go func() {
					defer close(done)
					for i := range flips {
						// Ends on tc.failing: the last flip (i = flips-1) sets it.
						a.in.SetTracked(TrackerHAProxy, (i%2 == 1) == tc.failing)
					}
				}()
				// The loop runs while the flips go on.
				for range 50 {
					advance(time.Millisecond)
				}
				<-done
				advance(10 * time.Second)
				wantStates(t, "after the flaps", map[*node]State{a: tc.a, b: tc.b})
				wantHolder(t, "after the flaps", n, tc.holder)
				if s := a.in.Snapshot(); s.EffectivePriority != tc.prio {
					t.Errorf("A's effective priority %d, want %d", s.EffectivePriority, tc.prio)
				}
			})
		})
	}
}

// TestTrackedUnknownNameIgnored: a condition the instance does not track changes nothing.
func TestTrackedUnknownNameIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		a := startNode(t, n, "192.0.2.11", testConfig("A", 150))
		advance(mdi150 + time.Millisecond)
		if a.in.SetTracked(TrackerHAProxy, true) {
			t.Error("SetTracked of an untracked name reported it tracked")
		}
		advance(5 * time.Second)
		wantStates(t, "untracked", map[*node]State{a: StateMaster})
	})
}
