package bgp

import (
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const drain = 5 * time.Second
	tests := []struct {
		name              string
		cur               Phase
		healthy, draining bool
		now               time.Time
		want              Phase
		wantNext          time.Time
	}{
		{"healthy announces", PhaseWithdrawn, true, false, t0, PhaseAnnounced, time.Time{}},
		{"unhealthy withdraws", PhaseAnnounced, false, false, t0, PhaseWithdrawn, time.Time{}},
		{"drain starts", PhaseAnnounced, true, true, t0, PhaseDraining, t0.Add(drain)},
		{"drain goes on", PhaseDraining, true, true, t0.Add(drain - time.Millisecond), PhaseDraining, t0.Add(drain)},
		{"drain ends", PhaseDraining, true, true, t0.Add(drain), PhaseWithdrawn, time.Time{}},
		{"unhealthy while draining withdraws at once", PhaseDraining, false, true, t0.Add(time.Second), PhaseWithdrawn, time.Time{}},
		{"maintenance at start stays out", PhaseWithdrawn, true, true, t0, PhaseWithdrawn, time.Time{}},
		{"back to healthy in maintenance stays out", PhaseWithdrawn, true, true, t0.Add(time.Second), PhaseWithdrawn, time.Time{}},
		{"maintenance off announces", PhaseWithdrawn, true, false, t0, PhaseAnnounced, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next := decide(tt.cur, tt.healthy, tt.draining, t0, tt.now, drain)
			if got != tt.want || !next.Equal(tt.wantNext) {
				t.Errorf("decide = %s, %v; want %s, %v", got, next, tt.want, tt.wantNext)
			}
		})
	}
	if got, _ := decide(PhaseAnnounced, true, true, t0, t0, 0); got != PhaseWithdrawn {
		t.Errorf("drain 0s: %s, want withdrawn at once", got)
	}
}
