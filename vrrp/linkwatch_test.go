package vrrp

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeLinks is a LinkWatcher whose links the test sets.
type fakeLinks struct {
	mu      sync.Mutex
	up      map[string]bool
	reports []func(LinkState)
	names   []string
}

func newFakeLinks(up ...string) *fakeLinks {
	f := &fakeLinks{up: map[string]bool{}}
	for _, n := range up {
		f.up[n] = true
	}
	return f
}

func (f *fakeLinks) Watch(ctx context.Context, names []string, report func(LinkState)) error {
	f.mu.Lock()
	f.reports = append(f.reports, report)
	f.names = slices.Clone(names)
	for _, n := range names {
		report(LinkState{Name: n, Up: f.up[n]})
	}
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.reports = nil
	f.mu.Unlock()
	return ctx.Err()
}

// set changes a link and reports it to every watcher.
func (f *fakeLinks) set(name string, up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up[name] = up
	for _, r := range f.reports {
		r(LinkState{Name: name, Up: up})
	}
}

func withLinks(f *fakeLinks) func(*Options) { return func(o *Options) { o.Links = f } }

func TestInstanceLinkTracking(t *testing.T) {
	for _, link := range []string{"eth0", "eth1"} {
		t.Run(link, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newMemNet()
				track := func(c *InstanceConfig) { c.TrackInterfaces = []TrackInterface{{Name: "eth1"}} }
				linksA := newFakeLinks("eth0", "eth1")
				a := startNodeWith(t, n, "192.0.2.11", testConfig("A", 150, track), withLinks(linksA))
				b := startNodeWith(t, n, "192.0.2.12", testConfig("B", 100, track), withLinks(newFakeLinks("eth0", "eth1")))
				advance(mdi150 + time.Millisecond)
				wantStates(t, "start", map[*node]State{a: StateMaster, b: StateBackup})
				if got := linksA.names; !slices.Equal(got, []string{"eth0", "eth1"}) {
					t.Errorf("watched links %v, want [eth0 eth1]", got)
				}

				// The link goes: FAULT and the VIP released at once (no handover), B takes
				// over in its skew time.
				linksA.set(link, false)
				synctest.Wait()
				wantStates(t, "link down", map[*node]State{a: StateFault})
				wantHolder(t, "link down", n)
				if s := a.in.Snapshot(); !slices.Equal(s.Faults, []string{"link:" + link}) || s.HoldsVIPs {
					t.Errorf("A: faults %v, holds %v", s.Faults, s.HoldsVIPs)
				}
				advance(skew100)
				wantStates(t, "link down", map[*node]State{b: StateMaster})
				wantHolder(t, "link down", n, "B")

				// A repeated report changes nothing.
				linksA.set(link, false)
				synctest.Wait()
				wantStates(t, "link still down", map[*node]State{a: StateFault})

				// Back up: BACKUP, then A preempts after its master-down interval.
				linksA.set(link, true)
				synctest.Wait()
				wantStates(t, "link up", map[*node]State{a: StateBackup})
				advance(mdi150)
				wantStates(t, "link up", map[*node]State{a: StateMaster, b: StateBackup})
				wantHolder(t, "link up, B draining", n, "B", "A")
				advance(drain1s)
				wantHolder(t, "link up", n, "A")
				if got := a.transitions(); len(got) != 5 || got[2].To != StateFault || got[3].To != StateBackup || got[3].Reason != "fault_cleared" {
					t.Errorf("A transitions %+v", got)
				}
			})
		})
	}
}

// TestInstanceLinkDownAtStart: an instance whose link is down when it starts goes
// straight to FAULT, without passing through BACKUP; unknown interfaces count as down.
func TestInstanceLinkDownAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		links := newFakeLinks("eth0") // eth9 is missing
		a := startNodeWith(t, n, "192.0.2.11", testConfig("A", 150, func(c *InstanceConfig) {
			c.TrackInterfaces = []TrackInterface{{Name: "eth9"}, {Name: "eth0"}}
		}), withLinks(links))
		advance(10 * time.Second)
		wantStates(t, "start", map[*node]State{a: StateFault})
		if got := a.transitions(); len(got) != 1 || got[0].From != StateInit || got[0].To != StateFault {
			t.Errorf("transitions %+v, want INIT -> FAULT only", got)
		}
		if got := links.names; !slices.Equal(got, []string{"eth0", "eth9"}) {
			t.Errorf("watched %v, want [eth0 eth9] (own interface once)", got)
		}
		links.set("eth9", true)
		advance(mdi150)
		wantStates(t, "link appeared", map[*node]State{a: StateMaster})
		a.stop(t)
		if s := a.in.Snapshot(); len(s.Faults) != 0 {
			t.Errorf("link faults left after Run: %v", s.Faults)
		}
	})
}

// TestInstanceLinkDownDuringHandover: a link lost while a stopping master hands over
// releases the VIPs at once, and Run returns.
func TestInstanceLinkDownDuringHandover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		links := newFakeLinks("eth0")
		a := startNodeWith(t, n, "192.0.2.11", testConfig("A", 150), withLinks(links))
		advance(mdi150 + time.Millisecond)
		wantStates(t, "start", map[*node]State{a: StateMaster})
		stopped := time.Now()
		a.cancel()
		advance(time.Second)
		wantHolder(t, "handing over", n, "A")
		links.set("eth0", false)
		a.stop(t)
		if d := time.Since(stopped); d != time.Second {
			t.Errorf("Run returned %v after ctx ended, want 1s (at the link loss)", d)
		}
		wantHolder(t, "stopped", n)
	})
}

// TestFlagsUp: up means administratively up and running (carrier), as keepalived judges.
