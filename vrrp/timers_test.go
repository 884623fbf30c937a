package vrrp

import (
	"errors"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
)

// fireOf waits for d to fire, at most limit.
func fireOf(t *testing.T, d *deadline, limit time.Duration) (time.Time, bool) {
	t.Helper()
	select {
	case at := <-d.c():
		d.fired()
		return at, true
	case <-time.After(limit):
		return time.Time{}, false
	}
}

// TestTimersFireEachDeadlineOnceOnTime: deadlines sharing one clock fire once each, in
// order, never before their time; many at one instant all fire.
func TestTimersFireEachDeadlineOnceOnTime(t *testing.T) {
	ts := NewTimers()
	defer ts.Close()
	start := time.Now()
	var ds []*deadline
	for i := range 60 {
		d := newDeadline(ts)
		// 50 at one instant (as the grid makes them), 10 spread after it.
		when := start.Add(30 * time.Millisecond)
		if i >= 50 {
			when = when.Add(time.Duration(i-49) * 3 * time.Millisecond)
		}
		d.arm(when)
		ds = append(ds, d)
	}
	for i, d := range ds {
		at, ok := fireOf(t, d, 5*time.Second)
		if !ok {
			t.Fatalf("deadline %d never fired", i)
		}
		if at.Before(d.when) {
			t.Errorf("deadline %d fired %v early", i, d.when.Sub(at))
		}
	}
	for i, d := range ds {
		select {
		case <-d.c():
			t.Errorf("deadline %d fired twice", i)
		default:
		}
	}
}

// TestTimersRearmAndStop: a deadline moved later does not fire at its old time, even when
// that fire was already on its way; a stopped one never fires; one in the past fires at
// once; arming at the same time after a fire fires again.
func TestTimersRearmAndStop(t *testing.T) {
	ts := NewTimers()
	defer ts.Close()
	moved, stopped, past := newDeadline(ts), newDeadline(ts), newDeadline(ts)
	now := time.Now()
	moved.arm(now.Add(10 * time.Millisecond))
	stopped.arm(now.Add(10 * time.Millisecond))
	stopped.stop()
	// The old time passes: its fire waits in the channel, untaken.
	poll.Until(t, 5*time.Second, "the first fire", func() error {
		if len(moved.ch) == 0 {
			return errors.New("not fired")
		}
		return nil
	})
	later := time.Now().Add(60 * time.Millisecond)
	moved.arm(later)
	at, ok := fireOf(t, moved, 5*time.Second)
	if !ok || at.Before(later) {
		t.Fatalf("moved deadline fired at %v (ok %v), want at or after %v: a stale fire got through", at, ok, later)
	}
	select {
	case <-stopped.c():
		t.Error("a stopped deadline fired")
	default:
	}
	past.arm(time.Now().Add(-time.Second))
	if _, ok := fireOf(t, past, 5*time.Second); !ok {
		t.Fatal("a deadline in the past did not fire")
	}
	again := time.Now().Add(5 * time.Millisecond)
	past.arm(again)
	if _, ok := fireOf(t, past, 5*time.Second); !ok {
		t.Fatal("a deadline armed again after its fire did not fire")
	}
}

func TestTimersCloseUnused(t *testing.T) {
	done := make(chan struct{})
	go func() { NewTimers().Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close of an unused Timers hangs")
	}
}

func TestCoarse(t *testing.T) {
	for _, c := range []struct{ in, want time.Duration }{
		{-time.Second, 0}, {0, 0}, {1, time.Millisecond}, {time.Millisecond, time.Millisecond},
		{time.Millisecond + 1, 2 * time.Millisecond}, {99*time.Millisecond + 300*time.Microsecond, 100 * time.Millisecond},
	} {
		if got := coarse(c.in); got != c.want {
			t.Errorf("coarse(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
