package tick

import (
	"context"
	"testing"
	"time"
)

// waitFor runs c.Wait with a generous bound.
func waitFor(t *testing.T, c *Clock) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return c.Wait(ctx)
}

func TestClockFiresNotBefore(t *testing.T) {
	c := NewClock()
	defer c.Close()
	if c.f == nil {
		t.Fatal("no timerfd on Linux")
	}
	start := time.Now()
	c.Set(time.Hour)
	c.Set(20 * time.Millisecond) // replaces the hour
	if !waitFor(t, c) {
		t.Fatal("the clock did not fire")
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Errorf("fired after %v, set for 20ms", waited)
	}
	ctx, cancel := context.WithCancel(t.Context())
	c.Set(time.Hour)
	cancel()
	if c.Wait(ctx) {
		t.Error("Wait returned true for an ended ctx")
	}
}

// TestClockOutlivesItsTimerfd: a timerfd that fails under the clock does not stop its
// waiter: the clock fires at once, on a Go timer from then on.
func TestClockOutlivesItsTimerfd(t *testing.T) {
	c := NewClock()
	defer c.Close()
	c.Set(time.Hour)
	_ = c.f.Close() // behind the clock's back: the next read fails
	if !waitFor(t, c) {
		t.Fatal("the waiter stopped with its timerfd")
	}
	c.Set(10 * time.Millisecond)
	if !waitFor(t, c) {
		t.Fatal("the clock does not fire on its Go timer")
	}
	if c.t == nil {
		t.Error("no Go timer after the timerfd failed")
	}
}
