package tick

import (
	"testing"
	"time"
)

func TestNextIsOnTheGridWithinOnePeriod(t *testing.T) {
	base := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	for _, every := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, time.Second, 300 * time.Millisecond, 7 * time.Millisecond} {
		for _, d := range []time.Duration{0, 1, 37 * time.Millisecond, every - 1, every, 3*every + 5} {
			now := base.Add(d)
			got := Next(now, every)
			if !got.After(now) || got.After(now.Add(every)) {
				t.Errorf("Next(%v, %v) = %v: not in (now, now+%v]", d, every, got.Sub(now), every)
			}
			if got.UnixNano()%int64(every) != 0 {
				t.Errorf("Next(%v, %v) = %v: off the grid by %v", d, every, got, time.Duration(got.UnixNano()%int64(every)))
			}
		}
	}
}

// TestNextKeepsThePeriod: a timer re-armed with Next each time it fires (a little late,
// as timers do) fires once per period, on the grid.
func TestNextKeepsThePeriod(t *testing.T) {
	every := 100 * time.Millisecond
	now := time.Date(2026, 12, 2, 7, 0, 0, 12345, time.UTC)
	at := Next(now, every)
	for i := range 50 {
		now = at.Add(time.Duration(i%7) * time.Millisecond) // fired late
		next := Next(now, every)
		if next.Sub(at) != every {
			t.Fatalf("fire %d: next %v after the last, want %v", i, next.Sub(at), every)
		}
		at = next
	}
}

func TestNextBeforeTheEpochAndMonotonic(t *testing.T) {
	old := time.Date(1960, 1, 1, 0, 0, 0, 30_000_000, time.UTC)
	if got := Next(old, time.Second); got != time.Date(1960, 1, 1, 0, 0, 1, 0, time.UTC) {
		t.Errorf("before 1970: %v", got)
	}
	now := time.Now()
	got := Next(now, time.Second)
	if got.Sub(now) <= 0 || got.Sub(now) > time.Second {
		t.Errorf("with a monotonic reading: %v", got.Sub(now))
	}
	if Next(now, 0) != now {
		t.Error("every 0: want now")
	}
}
