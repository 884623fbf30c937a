package vrrp

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// heardLoop is a loop in a steady BACKUP behind master, as Run builds it, without the
// goroutines: the test plays reader and loop in turn.
func heardLoop(t *testing.T, master netip.Addr, masterPrio uint8) (*loop, time.Time) {
	t.Helper()
	in, err := NewInstance(testConfig("B", 100), Options{})
	if err != nil {
		t.Fatal(err)
	}
	port := newMemNet().port("192.0.2.12")
	l := &loop{in: in, tr: port, rx: make(chan received, 16)}
	l.recv = newReceiver(in, port)
	l.m = NewMachine(MachineConfig{Version: 3, Priority: 100, AdvertInterval: time.Second, Preempt: true, Primary: port.addr})
	now := time.Now()
	l.m.Start(now)
	l.m.Advert(now, master, &Advert{Version: 3, VRID: 51, Priority: masterPrio, Interval: time.Second})
	return l, now
}

func advertPacket(t *testing.T, src netip.Addr, prio uint8, interval time.Duration) Packet {
	t.Helper()
	a := Advert{Version: 3, VRID: 51, Priority: prio, Interval: interval, Addresses: []netip.Addr{testVIP().Addr()}}
	dst := MulticastGroup(false)
	b, err := a.Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	return Packet{Data: b, Src: src, Dst: dst, TTL: TTL}
}

// TestHearTakesRefreshesOnly: the reader takes the master's repeated advert without the
// loop, counting it at once, and hands the loop anything else; the loop, when it next
// wakes, pushes its master-down timer back from the last one taken.
func TestHearTakesRefreshesOnly(t *testing.T) {
	master := netip.MustParseAddr("192.0.2.11")
	l, start := heardLoop(t, master, 150)

	if _, ok := l.hear(advertPacket(t, master, 150, time.Second)); !ok {
		t.Fatal("a refresh was taken before the loop said what a refresh is")
	}
	l.listen()
	for range 5 {
		if r, ok := l.hear(advertPacket(t, master, 150, time.Second)); ok {
			t.Fatalf("a refresh went to the loop: %+v", r)
		}
	}
	if got := l.in.Snapshot().Counters.AdvertsReceived; got != 5 {
		t.Errorf("AdvertsReceived = %d after 5 refreshes taken, want 5 (counted by the reader)", got)
	}
	if l.m.Deadline() != start.Add(l.m.MasterDownInterval()) {
		t.Error("the machine moved before the loop woke")
	}
	took := l.heard.at
	l.catchUp()
	if want := took.Add(l.m.MasterDownInterval()); !l.m.Deadline().Equal(want) {
		t.Errorf("after catchUp the deadline is %v, want the last refresh + master-down (%v)", l.m.Deadline(), want)
	}
	if l.heard.key.ok {
		t.Error("catchUp left the reader taking refreshes while the loop works")
	}

	// While the loop works even the refresh goes to it; afterwards, anything but the
	// refresh: another priority, interval or sender.
	if _, ok := l.hear(advertPacket(t, master, 150, time.Second)); !ok {
		t.Error("a refresh was taken while the loop works")
	}
	l.listen()
	for _, pk := range []Packet{
		advertPacket(t, master, 0, time.Second),
		advertPacket(t, master, 120, time.Second),
		advertPacket(t, master, 150, 2*time.Second),
		advertPacket(t, netip.MustParseAddr("192.0.2.13"), 150, time.Second),
	} {
		if _, ok := l.hear(pk); !ok {
			t.Errorf("advert %x from %v was taken as a refresh", pk.Data[:8], pk.Src)
		}
	}
	for len(l.rx) > 0 {
		<-l.rx
	}

	// With an advert queued for the loop, a refresh waits behind it: order is kept.
	l.listen()
	l.rx <- received{}
	if _, ok := l.hear(advertPacket(t, master, 150, time.Second)); !ok {
		t.Error("a refresh overtook an advert queued for the loop")
	}
}

// TestRefreshChangesOnlyTheTimer: whenever the machine names a refresh, that advert
// changes nothing but the Master_Down_Timer and asks for no action; in states where an
// advert could matter it names none.
func TestRefreshChangesOnlyTheTimer(t *testing.T) {
	self := netip.MustParseAddr("192.0.2.12")
	high, low := netip.MustParseAddr("192.0.2.13"), netip.MustParseAddr("192.0.2.11")
	cfg := MachineConfig{Version: 3, Priority: 100, AdvertInterval: time.Second, Preempt: true, Primary: self}
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	adv := func(p uint8) *Advert { return &Advert{Version: 3, VRID: 51, Priority: p, Interval: time.Second} }
	tests := []struct {
		name    string
		steps   func(m *Machine)
		refresh bool
	}{
		{"steady backup behind a better master", func(m *Machine) { m.Start(t0); m.Advert(t0, high, adv(150)) }, true},
		{"backup behind an equal master", func(m *Machine) { m.Start(t0); m.Advert(t0, low, adv(100)) }, true},
		{"backup that has heard nobody", func(m *Machine) { m.Start(t0) }, false},
		{"lower master, preempting", func(m *Machine) { m.Start(t0); m.Advert(t0, low, adv(50)) }, false},
		{"master", func(m *Machine) { m.Start(t0); m.Timeout(t0.Add(time.Hour)) }, false},
		{"master's priority now below ours", func(m *Machine) {
			m.Start(t0)
			m.Advert(t0, high, adv(150))
			m.SetPriority(t0, 200)
		}, false},
		{"resigned backup (yielding)", func(m *Machine) { m.Start(t0); m.Advert(t0, high, adv(150)); m.Resign(t0) }, false},
		{"held by its sync group, waiting", func(m *Machine) {
			m.SetHold(t0, true)
			m.Start(t0)
			m.Timeout(t0.Add(time.Hour))
		}, false},
		{"handing over", func(m *Machine) { m.Start(t0); m.Timeout(t0.Add(time.Hour)); m.Resign(t0.Add(time.Hour)) }, false},
		{"fault", func(m *Machine) { m.Start(t0); m.Advert(t0, high, adv(150)); m.SetFault(t0, true) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(cfg)
			tt.steps(m)
			src, prio, interval, ok := m.Refresh()
			if ok != tt.refresh {
				t.Fatalf("Refresh ok = %v, want %v (state %s)", ok, tt.refresh, m.State())
			}
			if !ok {
				return
			}
			before := *m
			at := t0.Add(1500 * time.Millisecond)
			if acts := m.Advert(at, src, &Advert{Version: 3, VRID: 51, Priority: prio, Interval: interval}); len(acts) > 0 {
				t.Errorf("the refresh asked for %v", acts)
			}
			if want := at.Add(m.MasterDownInterval()); !m.masterDownAt.Equal(want) {
				t.Errorf("Master_Down_Timer %v, want %v", m.masterDownAt, want)
			}
			after := *m
			after.masterDownAt = before.masterDownAt
			if !reflect.DeepEqual(before, after) {
				t.Errorf("the refresh changed more than the timer:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}
