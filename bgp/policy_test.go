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
		healthy, draining bool
		now               time.Time
		want              phase
		wantNext          time.Time
	}{
		{"healthy announces", true, false, t0, phaseAnnounced, time.Time{}},
		{"unhealthy withdraws", false, false, t0, phaseWithdrawn, time.Time{}},
		{"drain starts", true, true, t0, phaseDraining, t0.Add(drain)},
		{"drain goes on", true, true, t0.Add(drain - time.Millisecond), phaseDraining, t0.Add(drain)},
		{"drain ends", true, true, t0.Add(drain), phaseWithdrawn, time.Time{}},
		{"unhealthy while draining withdraws at once", false, true, t0.Add(time.Second), phaseWithdrawn, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next := decide(tt.healthy, tt.draining, t0, tt.now, drain)
			if got != tt.want || !next.Equal(tt.wantNext) {
				t.Errorf("decide = %s, %v; want %s, %v", got, next, tt.want, tt.wantNext)
			}
		})
	}
	if got, _ := decide(true, true, t0, t0, 0); got != phaseWithdrawn {
		t.Errorf("drain 0s: %s, want withdrawn at once", got)
	}
}
