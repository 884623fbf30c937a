package vrrp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// step is one event fed to the machine at t0+at, with what must come out of it.
type step struct {
	at    time.Duration
	do    func(m *Machine, now time.Time) []Action
	state State
	acts  []Action
	// deadline is the expected Deadline as an offset from t0; -1: no timer.
	deadline time.Duration
}

func start(m *Machine, now time.Time) []Action   { return m.Start(now) }
func timeout(m *Machine, now time.Time) []Action { return m.Timeout(now) }
func advert(src netip.Addr, prio uint8, interval time.Duration) func(*Machine, time.Time) []Action {
	return func(m *Machine, now time.Time) []Action {
		return m.Advert(now, src, &Advert{Version: m.cfg.Version, VRID: 51, Priority: prio, Interval: interval})
	}
}
func shutdown(m *Machine, now time.Time) []Action { return m.Shutdown(now) }
func resign(m *Machine, now time.Time) []Action   { return m.Resign(now) }
func fault(on bool) func(*Machine, time.Time) []Action {
	return func(m *Machine, now time.Time) []Action { return m.SetFault(now, on) }
}
func maintenance(on bool) func(*Machine, time.Time) []Action {
	return func(m *Machine, now time.Time) []Action { return m.SetMaintenance(now, on) }
}
func hold(on bool) func(*Machine, time.Time) []Action {
	return func(m *Machine, now time.Time) []Action { return m.SetHold(now, on) }
}
func syncBackup(m *Machine, now time.Time) []Action { return m.SyncBackup(now) }
func noPreempt(on bool) func(*Machine, time.Time) []Action {
	return func(m *Machine, now time.Time) []Action { m.SetNoPreempt(on); return nil }
}

// waiting wraps do and checks Machine.Waiting afterwards.
func waiting(want bool, do func(*Machine, time.Time) []Action) func(*Machine, time.Time) []Action {
	return func(m *Machine, now time.Time) []Action {
		acts := do(m, now)
		if m.Waiting() != want {
			panic(fmt.Sprintf("Waiting() = %v, want %v", m.Waiting(), want))
		}
		return acts
	}
}

func priority(p uint8) func(*Machine, time.Time) []Action {
	return func(m *Machine, now time.Time) []Action { return m.SetPriority(now, p) }
}

func send(p uint8) Action { return Action{Kind: ActSendAdvert, Priority: p} }

const (
	// mdi100 is the master-down interval of priority 100 at 1 s (v3): 3 s + 156/256 s.
	mdi100  = 3*time.Second + 609375*time.Microsecond
	skew100 = 609375 * time.Microsecond
	// hold1s is the handover bound at 1 s: three intervals and the skew of priority 1.
	hold1s = 3*time.Second + 255*time.Second/256
	// drain1s is how long the VIPs stay at 1 s once another node is master: half an
	// interval, capped at 250 ms.
	drain1s = 250 * time.Millisecond
)

func TestMachine(t *testing.T) {
	self := netip.MustParseAddr("192.0.2.11")
	lowPeer := netip.MustParseAddr("192.0.2.10")
	highPeer := netip.MustParseAddr("192.0.2.12")
	add, remove, announce := Action{Kind: ActAddVIPs}, Action{Kind: ActRemoveVIPs}, Action{Kind: ActAnnounce}
	base := MachineConfig{Version: 3, Priority: 100, AdvertInterval: time.Second, Preempt: true, Primary: self}
	with := func(f func(*MachineConfig)) MachineConfig { c := base; f(&c); return c }
	owner := with(func(c *MachineConfig) { c.Priority = 255 })
	// master brings a node to MASTER at t0+mdi100.
	master := []step{
		{0, start, StateBackup, nil, mdi100},
		{mdi100, timeout, StateMaster, []Action{add, announce, send(100)}, mdi100 + time.Second},
	}
	then := func(pre []step, s ...step) []step { return append(append([]step(nil), pre...), s...) }

	tests := []struct {
		name  string
		cfg   MachineConfig
		steps []step
	}{
		{"init to backup", base, []step{{0, start, StateBackup, nil, mdi100}}},
		{"init to master as owner", owner, []step{{0, start, StateMaster, []Action{add, announce, send(255)}, time.Second}}},
		{"owner in maintenance starts as backup", owner, []step{
			{0, maintenance(true), StateInit, nil, -1},
			{0, start, StateBackup, nil, 3*time.Second + time.Second/256},
		}},
		{"start with a fault set", base, []step{{0, fault(true), StateInit, nil, -1}, {0, start, StateFault, nil, -1}}},
		{"backup: early timeout does nothing", base, []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, timeout, StateBackup, nil, mdi100},
		}},
		{"backup: master down", base, master},
		{"backup: higher priority resets the timer and adopts its interval (v3)", base, []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, advert(highPeer, 150, 2*time.Second), StateBackup, nil, time.Second + 6*time.Second + 156*2*time.Second/256},
		}},
		{"backup: v2 keeps its own interval", with(func(c *MachineConfig) { c.Version = 2 }), []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, advert(highPeer, 150, 2*time.Second), StateBackup, nil, time.Second + mdi100},
		}},
		{"backup: priority 0 waits only the skew time", base, []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, advert(highPeer, 0, time.Second), StateBackup, nil, time.Second + skew100},
			{time.Second + skew100, timeout, StateMaster, []Action{add, announce, send(100)}, 2*time.Second + skew100},
		}},
		{"backup: equal priority is accepted whatever the address", base, []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, advert(lowPeer, 100, time.Second), StateBackup, nil, time.Second + mdi100},
		}},
		{"backup: lower priority discarded with preempt", base, []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, advert(lowPeer, 50, time.Second), StateBackup, nil, mdi100},
			{mdi100, timeout, StateMaster, []Action{add, announce, send(100)}, mdi100 + time.Second},
		}},
		{"backup: lower priority accepted with nopreempt", with(func(c *MachineConfig) { c.Preempt = false }), []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, advert(lowPeer, 50, time.Second), StateBackup, nil, time.Second + mdi100},
		}},
		{"backup: no-preempt accepts a lower-priority master, then preempts once lifted", base, []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, noPreempt(true), StateBackup, nil, mdi100},
			{time.Second, advert(lowPeer, 50, time.Second), StateBackup, nil, time.Second + mdi100},
			{2 * time.Second, noPreempt(false), StateBackup, nil, time.Second + mdi100},
			{2 * time.Second, advert(lowPeer, 50, time.Second), StateBackup, nil, time.Second + mdi100},
			{time.Second + mdi100, timeout, StateMaster, []Action{add, announce, send(100)}, 2*time.Second + mdi100},
		}},
		{"backup: no-preempt still takes over when the master resigns", base, []step{
			{0, start, StateBackup, nil, mdi100},
			{0, noPreempt(true), StateBackup, nil, mdi100},
			{time.Second, advert(lowPeer, 0, time.Second), StateBackup, nil, time.Second + skew100},
			{time.Second + skew100, timeout, StateMaster, []Action{add, announce, send(100)}, 2*time.Second + skew100},
		}},
		{"backup: preempt delay", with(func(c *MachineConfig) { c.PreemptDelay = 5 * time.Second }), []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, advert(lowPeer, 50, time.Second), StateBackup, nil, time.Second + mdi100},
			{4 * time.Second, advert(lowPeer, 50, time.Second), StateBackup, nil, 4*time.Second + mdi100},
			{5 * time.Second, advert(lowPeer, 50, time.Second), StateBackup, nil, 4*time.Second + mdi100},
			{4*time.Second + mdi100, timeout, StateMaster, []Action{add, announce, send(100)}, 5*time.Second + mdi100},
		}},
		{"backup: shutdown", base, []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, shutdown, StateInit, nil, -1},
		}},
		// The next advert is on the grid of whole intervals (see tick), here whole
		// seconds: the last one not after an interval from now.
		{"master: advert timer", base, then(master,
			step{mdi100 + time.Second, timeout, StateMaster, []Action{send(100)}, 5 * time.Second},
			step{5 * time.Second, timeout, StateMaster, []Action{send(100)}, 6 * time.Second},
			step{6*time.Second + 3*time.Millisecond, timeout, StateMaster, []Action{send(100)}, 7 * time.Second})},
		{"master: priority 0 answered at once", base, then(master,
			step{mdi100 + time.Second/2, advert(lowPeer, 0, time.Second), StateMaster, []Action{send(100)}, mdi100 + 3*time.Second/2})},
		// A better master takes the role: the VIPs stay for the drain (its own interval's,
		// not the adopted one), then go.
		{"master: higher priority wins", base, then(master,
			step{mdi100 + time.Second/2, advert(lowPeer, 101, 3*time.Second), StateBackup, nil, mdi100 + time.Second/2 + drain1s},
			step{mdi100 + time.Second/2 + drain1s, timeout, StateBackup, []Action{remove}, mdi100 + time.Second/2 + 9*time.Second + 156*3*time.Second/256})},
		{"master: equal priority, higher address wins", base, then(master,
			step{mdi100 + time.Second/2, advert(highPeer, 100, time.Second), StateBackup, nil, mdi100 + time.Second/2 + drain1s},
			step{mdi100 + time.Second/2 + drain1s, timeout, StateBackup, []Action{remove}, mdi100 + time.Second/2 + mdi100})},
		{"master: preempted, keeps the VIPs for the drain, then removes them", base, then(master,
			step{mdi100 + time.Second/2, advert(highPeer, 150, time.Second), StateBackup, nil, mdi100 + time.Second/2 + drain1s},
			// The new master's next adverts do not push the end of the drain back.
			step{mdi100 + time.Second/2 + drain1s/2, advert(highPeer, 150, time.Second), StateBackup, nil, mdi100 + time.Second/2 + drain1s},
			step{mdi100 + time.Second/2 + drain1s - 1, timeout, StateBackup, nil, mdi100 + time.Second/2 + drain1s},
			step{mdi100 + time.Second/2 + drain1s, timeout, StateBackup, []Action{remove}, mdi100 + time.Second/2 + drain1s/2 + mdi100},
			step{mdi100 + 2*time.Second, advert(highPeer, 150, time.Second), StateBackup, nil, mdi100 + 2*time.Second + mdi100})},
		{"master: a fault during the drain releases at once", base, then(master,
			step{mdi100 + time.Second/2, advert(highPeer, 150, time.Second), StateBackup, nil, mdi100 + time.Second/2 + drain1s},
			step{mdi100 + time.Second/2 + drain1s/2, fault(true), StateFault, []Action{remove}, -1})},
		{"master: a shutdown during the drain lets it end", base, then(master,
			step{mdi100 + time.Second/2, advert(highPeer, 150, time.Second), StateBackup, nil, mdi100 + time.Second/2 + drain1s},
			step{mdi100 + time.Second/2 + drain1s/2, shutdown, StateInit, nil, mdi100 + time.Second/2 + drain1s},
			step{mdi100 + time.Second/2 + drain1s, timeout, StateInit, []Action{remove}, -1})},
		{"master: equal priority, lower address answered", base, then(master,
			step{mdi100 + time.Second/2, advert(lowPeer, 100, time.Second), StateMaster, []Action{send(100), announce}, mdi100 + 3*time.Second/2})},
		{"master: lower priority answered at once", base, then(master,
			step{mdi100 + time.Second/2, advert(highPeer, 99, time.Second), StateMaster, []Action{send(100), announce}, mdi100 + 3*time.Second/2})},
		{"master: shutdown sends priority 0 and keeps the VIPs until the new master speaks", base, then(master,
			step{mdi100 + time.Second/2, shutdown, StateInit, []Action{send(0)}, mdi100 + time.Second/2 + hold1s},
			// Another node's resignation is not a new master.
			step{mdi100 + time.Second, advert(highPeer, 0, time.Second), StateInit, nil, mdi100 + time.Second/2 + hold1s},
			// The new master speaks: the VIPs stay for the drain, which its next advert
			// does not extend.
			step{mdi100 + time.Second + skew100, advert(highPeer, 100, time.Second), StateInit, nil, mdi100 + time.Second + skew100 + drain1s},
			step{mdi100 + 2*time.Second, advert(highPeer, 100, time.Second), StateInit, nil, mdi100 + time.Second + skew100 + drain1s},
			step{mdi100 + time.Second + skew100 + drain1s - 1, timeout, StateInit, nil, mdi100 + time.Second + skew100 + drain1s},
			step{mdi100 + time.Second + skew100 + drain1s, timeout, StateInit, []Action{remove}, -1},
			step{mdi100 + 3*time.Second, advert(highPeer, 100, time.Second), StateInit, nil, -1})},
		{"master: a new master heard late: the drain ends with the handover bound", base, then(master,
			step{mdi100 + time.Second/2, shutdown, StateInit, []Action{send(0)}, mdi100 + time.Second/2 + hold1s},
			step{mdi100 + time.Second/2 + hold1s - drain1s/2, advert(highPeer, 100, time.Second), StateInit, nil, mdi100 + time.Second/2 + hold1s},
			step{mdi100 + time.Second/2 + hold1s, timeout, StateInit, []Action{remove}, -1})},
		{"master: shutdown with no one to take over releases after the bound", base, then(master,
			step{mdi100 + time.Second/2, shutdown, StateInit, []Action{send(0)}, mdi100 + time.Second/2 + hold1s},
			step{mdi100 + time.Second/2 + hold1s - 1, timeout, StateInit, nil, mdi100 + time.Second/2 + hold1s},
			step{mdi100 + time.Second/2 + hold1s, timeout, StateInit, []Action{remove}, -1})},
		{"master: a fault during the handover releases at once", base, then(master,
			step{mdi100 + time.Second/2, resign, StateBackup, []Action{send(0)}, mdi100 + time.Second/2 + mdi100},
			step{mdi100 + time.Second, fault(true), StateFault, []Action{remove}, -1})},
		{"master: resign with no one to take over: master again, VIPs kept", base, then(master,
			step{mdi100 + time.Second/2, resign, StateBackup, []Action{send(0)}, mdi100 + time.Second/2 + mdi100},
			step{2*mdi100 + time.Second/2, timeout, StateMaster, []Action{add, announce, send(100)}, 2*mdi100 + 3*time.Second/2},
			step{mdi100 + time.Second/2 + hold1s, timeout, StateMaster, nil, 2*mdi100 + 3*time.Second/2})},
		{"master: fault sends priority 0", base, then(master,
			step{mdi100 + time.Second/2, fault(true), StateFault, []Action{send(0), remove}, -1})},
		{"backup: fault", base, []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, fault(true), StateFault, nil, -1},
			{2 * time.Second, advert(lowPeer, 50, time.Second), StateFault, nil, -1},
			{3 * time.Second, timeout, StateFault, nil, -1},
			{4 * time.Second, fault(false), StateBackup, nil, 4*time.Second + mdi100},
		}},
		{"owner: fault cleared goes master", owner, []step{
			{0, start, StateMaster, []Action{add, announce, send(255)}, time.Second},
			{time.Second / 2, fault(true), StateFault, []Action{send(0), remove}, -1},
			{time.Second, fault(false), StateMaster, []Action{add, announce, send(255)}, 2 * time.Second},
		}},
		{"master: resign, then let the new master keep the role", base, then(master,
			step{mdi100 + time.Second/2, resign, StateBackup, []Action{send(0)}, mdi100 + time.Second/2 + mdi100},
			// The new master's first advert starts the drain; the VIPs go at its end.
			step{mdi100 + time.Second, advert(lowPeer, 50, time.Second), StateBackup, nil, mdi100 + time.Second + drain1s},
			step{mdi100 + time.Second + drain1s, timeout, StateBackup, []Action{remove}, mdi100 + time.Second + mdi100},
			step{mdi100 + 2*time.Second, advert(lowPeer, 50, time.Second), StateBackup, nil, mdi100 + 2*time.Second + mdi100},
			// The new master dies: take the role back, and preempt again afterwards.
			step{2*mdi100 + 2*time.Second, timeout, StateMaster, []Action{add, announce, send(100)}, 2*mdi100 + 3*time.Second},
		)},
		{"backup: resign stops preemption", base, []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second / 2, resign, StateBackup, nil, mdi100},
			{time.Second, advert(lowPeer, 50, time.Second), StateBackup, nil, time.Second + mdi100},
		}},
		{"master: maintenance", base, then(master,
			step{mdi100 + time.Second/2, maintenance(true), StateBackup, []Action{send(0)}, mdi100 + time.Second/2 + mdi100},
			step{2*mdi100 + time.Second/2, timeout, StateBackup, nil, mdi100 + time.Second/2 + hold1s},
			step{2*mdi100 + time.Second, maintenance(false), StateBackup, nil, mdi100 + time.Second/2 + hold1s},
			// Nobody took over: the handover ends at its bound, the VIPs go.
			step{mdi100 + time.Second/2 + hold1s, timeout, StateBackup, []Action{remove}, 3*mdi100 + time.Second/2},
			step{3*mdi100 + time.Second/2, timeout, StateMaster, []Action{add, announce, send(100)}, 3*mdi100 + 3*time.Second/2},
		)},
		{"master: a priority change shows in the next advert", base, then(master,
			step{mdi100 + time.Second/2, priority(60), StateMaster, nil, mdi100 + time.Second},
			step{mdi100 + time.Second, timeout, StateMaster, []Action{send(60)}, 5 * time.Second},
			// and a priority-61 master now wins
			step{mdi100 + 3*time.Second/2, advert(lowPeer, 61, time.Second), StateBackup, nil, mdi100 + 3*time.Second/2 + drain1s},
			step{mdi100 + 3*time.Second/2 + drain1s, timeout, StateBackup, []Action{remove}, mdi100 + 3*time.Second/2 + 3*time.Second + 196*time.Second/256},
		)},
		{"sync group: a held backup waits, then goes master when let go", base, []step{
			{0, hold(true), StateInit, nil, -1},
			{0, start, StateBackup, nil, mdi100},
			{mdi100, waiting(true, timeout), StateBackup, nil, -1},
			// A lower-priority master with preempt, or a resignation: still ready.
			{mdi100 + time.Second, waiting(true, advert(lowPeer, 50, time.Second)), StateBackup, nil, -1},
			{mdi100 + 2*time.Second, waiting(true, advert(lowPeer, 0, time.Second)), StateBackup, nil, -1},
			{mdi100 + 3*time.Second, waiting(false, hold(false)), StateMaster, []Action{add, announce, send(100)}, mdi100 + 4*time.Second},
		}},
		{"sync group: a better master ends the wait", base, []step{
			{0, hold(true), StateInit, nil, -1},
			{0, start, StateBackup, nil, mdi100},
			{mdi100, waiting(true, timeout), StateBackup, nil, -1},
			{mdi100 + time.Second, waiting(false, advert(highPeer, 150, time.Second)), StateBackup, nil, mdi100 + time.Second + mdi100},
			{mdi100 + 2*time.Second, waiting(false, hold(false)), StateBackup, nil, mdi100 + time.Second + mdi100},
		}},
		{"sync group: maintenance ends the wait", base, []step{
			{0, hold(true), StateInit, nil, -1},
			{0, start, StateBackup, nil, mdi100},
			{mdi100, waiting(true, timeout), StateBackup, nil, -1},
			{mdi100 + time.Second, waiting(false, maintenance(true)), StateBackup, nil, mdi100 + time.Second + mdi100},
		}},
		{"sync group: an unheld backup goes master at once", base, []step{
			{0, hold(true), StateInit, nil, -1},
			{0, start, StateBackup, nil, mdi100},
			{time.Second, hold(false), StateBackup, nil, mdi100},
			{mdi100, waiting(false, timeout), StateMaster, []Action{add, announce, send(100)}, mdi100 + time.Second},
			// A hold does not move a master; SyncBackup does, handing over.
			{mdi100 + time.Second/2, hold(true), StateMaster, nil, mdi100 + time.Second},
			{mdi100 + time.Second, syncBackup, StateBackup, []Action{send(0)}, mdi100 + time.Second + mdi100},
			// The peer's first advert starts the drain; a lower priority leaves the timer
			// running (preempt).
			{mdi100 + 2*time.Second, advert(highPeer, 90, time.Second), StateBackup, nil, mdi100 + 2*time.Second + drain1s},
			{mdi100 + 2*time.Second + drain1s, timeout, StateBackup, []Action{remove}, mdi100 + time.Second + mdi100},
			{mdi100 + 3*time.Second, syncBackup, StateBackup, nil, mdi100 + time.Second + mdi100},
		}},
		{"sync group: a held owner starts as backup", owner, []step{
			{0, hold(true), StateInit, nil, -1},
			{0, start, StateBackup, nil, 3*time.Second + time.Second/256},
		}},
		{"fault: shutdown", base, []step{
			{0, start, StateBackup, nil, mdi100},
			{time.Second, fault(true), StateFault, nil, -1},
			{2 * time.Second, shutdown, StateInit, nil, -1},
			{3 * time.Second, start, StateFault, nil, -1},
		}},
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(tt.cfg)
			for i, s := range tt.steps {
				got := s.do(m, t0.Add(s.at))
				if diff := cmp.Diff(s.acts, got); diff != "" {
					t.Errorf("step %d: actions (-want +got):\n%s", i, diff)
				}
				if m.State() != s.state {
					t.Errorf("step %d: state %s, want %s", i, m.State(), s.state)
				}
				var want time.Time
				if s.deadline >= 0 {
					want = t0.Add(s.deadline)
				}
				if d := m.Deadline(); !d.Equal(want) {
					t.Errorf("step %d: deadline %v, want %v", i, d.Sub(t0), s.deadline)
				}
			}
		})
	}
}

func TestSkewTime(t *testing.T) {
	tests := []struct {
		version  int
		prio     uint8
		interval time.Duration
		skew     time.Duration
	}{
		{3, 100, time.Second, skew100},
		{3, 254, 100 * time.Millisecond, 2 * 100 * time.Millisecond / 256},
		{3, 1, time.Second, 255 * time.Second / 256},
		{2, 100, 5 * time.Second, skew100},
		{2, 255, time.Second, time.Second / 256},
	}
	for _, tt := range tests {
		m := NewMachine(MachineConfig{Version: tt.version, Priority: tt.prio, AdvertInterval: tt.interval})
		if got := m.SkewTime(); got != tt.skew {
			t.Errorf("v%d prio %d: skew %v, want %v", tt.version, tt.prio, got, tt.skew)
		}
		if got, want := m.MasterDownInterval(), 3*tt.interval+tt.skew; got != want {
			t.Errorf("v%d prio %d: master down %v, want %v", tt.version, tt.prio, got, want)
		}
	}
}

// TestMasterAnswersAFloodOncePerInterval: 2,000 valid lower-priority adverts (and as many
// priority-0 ones) in one second from one source get one answer each kind, not 2,000:
// a master is no reflector. Another source is still answered.
func TestMasterAnswersAFloodOncePerInterval(t *testing.T) {
	now := time.Unix(1000, 0)
	primary := netip.MustParseAddr("192.0.2.11")
	m := NewMachine(MachineConfig{Version: 3, Priority: 150, AdvertInterval: time.Second, Preempt: true, Primary: primary})
	m.Start(now)
	now = now.Add(4 * time.Second)
	m.Timeout(now)
	if m.State() != StateMaster {
		t.Fatalf("state %s, want MASTER", m.State())
	}
	count := func(acts []Action) (sends, announces int) {
		for _, a := range acts {
			switch a.Kind {
			case ActSendAdvert:
				sends++
			case ActAnnounce:
				announces++
			}
		}
		return
	}
	attacker := netip.MustParseAddr("192.0.2.66")
	var sends, announces int
	for i := range 2000 {
		at := now.Add(time.Duration(i) * 400 * time.Microsecond) // 2,000 in 0.8 s
		prio := uint8(100)
		if i%2 == 1 {
			prio = 0
		}
		s, a := count(m.Advert(at, attacker, &Advert{Version: 3, VRID: 51, Priority: prio, Interval: time.Second}))
		sends, announces = sends+s, announces+a
	}
	if sends > 1 || announces > 1 {
		t.Errorf("2,000 adverts answered with %d adverts and %d announcements, want at most 1 each", sends, announces)
	}
	if m.State() != StateMaster {
		t.Errorf("state %s after the flood, want MASTER", m.State())
	}
	other := netip.MustParseAddr("192.0.2.12")
	if s, a := count(m.Advert(now.Add(900*time.Millisecond), other, &Advert{Version: 3, VRID: 51, Priority: 100, Interval: time.Second})); s != 1 || a != 1 {
		t.Errorf("a healed partition's master was answered with %d adverts, %d announcements; want 1, 1", s, a)
	}
	// A second later the attacker's source may be answered once more.
	if s, _ := count(m.Advert(now.Add(2*time.Second), attacker, &Advert{Version: 3, VRID: 51, Priority: 100, Interval: time.Second})); s != 1 {
		t.Errorf("%d answers a second later, want 1", s)
	}
}

// TestYieldEndsWithItsMaster: a node that resigned lets the new master keep the role, but
// not a third node that took over from that one: then it preempts as usual.
func TestYieldEndsWithItsMaster(t *testing.T) {
	now := time.Unix(1000, 0)
	self := netip.MustParseAddr("192.0.2.12")
	m := NewMachine(MachineConfig{Version: 3, Priority: 100, AdvertInterval: time.Second, Preempt: true, Primary: self})
	m.Start(now)
	now = now.Add(4 * time.Second)
	m.Timeout(now)
	m.Resign(now)
	lb1, lb3 := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.13")
	adv := func(p uint8) *Advert { return &Advert{Version: 3, VRID: 51, Priority: p, Interval: time.Second} }
	m.Advert(now, lb1, adv(51)) // the node it yielded to, now weaker: still yielded to
	for range 5 {
		now = now.Add(time.Second)
		m.Advert(now, lb1, adv(51))
		m.Timeout(now)
	}
	if m.State() != StateBackup {
		t.Fatalf("state %s: the yield to lb1 did not hold", m.State())
	}
	// lb1 is gone; lb3 took over from it (after a master-down interval), and speaks: once
	// lb1 has been silent for two intervals the yield ends, and this node preempts lb3
	// when the Master_Down_Timer runs out.
	for range 8 {
		now = now.Add(time.Second)
		m.Advert(now, lb3, adv(99))
		m.Timeout(now)
	}
	if m.State() != StateMaster {
		t.Errorf("state %s: still yielding to a master it never yielded to", m.State())
	}
}

// TestYieldSurvivesARace: two backups' timers run out together after a resignation; the
// weaker one claims the role for a moment and yields to the stronger one. The resigned
// node keeps yielding to the stronger one (the soak found it preempting instead, taking
// the role back from the master it had resigned to).
func TestYieldSurvivesARace(t *testing.T) {
	now := time.Unix(1000, 0)
	self := netip.MustParseAddr("192.0.2.11")
	m := NewMachine(MachineConfig{Version: 3, Priority: 101, AdvertInterval: time.Second, Preempt: true, Primary: self})
	m.Start(now)
	now = now.Add(4 * time.Second)
	m.Timeout(now)
	m.Resign(now)
	lb2, lb3 := netip.MustParseAddr("192.0.2.12"), netip.MustParseAddr("192.0.2.13")
	adv := func(p uint8) *Advert { return &Advert{Version: 3, VRID: 51, Priority: p, Interval: time.Second} }
	now = now.Add(600 * time.Millisecond)
	m.Advert(now, lb3, adv(99)) // lb3's claim arrives first
	m.Advert(now, lb2, adv(100))
	for range 10 {
		now = now.Add(time.Second)
		m.Advert(now, lb2, adv(100))
		m.Timeout(now)
	}
	if m.State() != StateBackup || !m.Resigned() {
		t.Errorf("state %s, resigned %v: the yield to lb2 did not survive lb3's brief claim", m.State(), m.Resigned())
	}
	// Both orders: lb2 first, then lb3's claim.
	m2 := NewMachine(MachineConfig{Version: 3, Priority: 101, AdvertInterval: time.Second, Preempt: true, Primary: self})
	now = time.Unix(2000, 0)
	m2.Start(now)
	now = now.Add(4 * time.Second)
	m2.Timeout(now)
	m2.Resign(now)
	now = now.Add(600 * time.Millisecond)
	m2.Advert(now, lb2, adv(100))
	m2.Advert(now.Add(time.Millisecond), lb3, adv(99))
	for range 10 {
		now = now.Add(time.Second)
		m2.Advert(now, lb2, adv(100))
		m2.Timeout(now)
	}
	if m2.State() != StateBackup || !m2.Resigned() {
		t.Errorf("state %s, resigned %v: lb3's brief claim ended the yield to lb2", m2.State(), m2.Resigned())
	}
}
