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
		cur               phase
		healthy, draining bool
		now               time.Time
		want              phase
		wantNext          time.Time
	}{
		{"healthy announces", phaseWithdrawn, true, false, t0, phaseAnnounced, time.Time{}},
		{"unhealthy withdraws", phaseAnnounced, false, false, t0, phaseWithdrawn, time.Time{}},
		{"drain starts", phaseAnnounced, true, true, t0, phaseDraining, t0.Add(drain)},
		{"drain goes on", phaseDraining, true, true, t0.Add(drain - time.Millisecond), phaseDraining, t0.Add(drain)},
		{"drain ends", phaseDraining, true, true, t0.Add(drain), phaseWithdrawn, time.Time{}},
		{"unhealthy while draining withdraws at once", phaseDraining, false, true, t0.Add(time.Second), phaseWithdrawn, time.Time{}},
		{"maintenance at start stays out", phaseWithdrawn, true, true, t0, phaseWithdrawn, time.Time{}},
		{"back to healthy in maintenance stays out", phaseWithdrawn, true, true, t0.Add(time.Second), phaseWithdrawn, time.Time{}},
		{"maintenance off announces", phaseWithdrawn, true, false, t0, phaseAnnounced, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next := decide(tt.cur, tt.healthy, tt.draining, t0, tt.now, drain)
			if got != tt.want || !next.Equal(tt.wantNext) {
				t.Errorf("decide = %s, %v; want %s, %v", got, next, tt.want, tt.wantNext)
			}
		})
	}
	if got, _ := decide(phaseAnnounced, true, true, t0, t0, 0); got != phaseWithdrawn {
		t.Errorf("drain 0s: %s, want withdrawn at once", got)
	}
}
