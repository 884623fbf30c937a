package bgp_test

import (
	"context"
	"testing"
	"time"

	"github.com/halo-lb/halo/bgp"
	"github.com/halo-lb/halo/bgp/engine"
	"github.com/halo-lb/halo/internal/bgptest"
)

// BenchmarkApply is the cost of one route change, announce or withdraw, up to the engine's
// answer: what the process split adds on the path from a dead HAProxy to the withdrawal
// (two pipe writes and two JSON lines) against GoBGP called in process.
func BenchmarkApply(b *testing.B) {
	for _, name := range []string{"process", "in-process"} {
		b.Run(name, func(b *testing.B) {
			var eng bgp.Engine = engine.New()
			if name == "process" {
				eng = bgp.ProcessEngine{Path: bgptest.EngineBinary(b)}
			}
			run, err := eng.Start(b.Context(), spec(quietConfig()))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { // b.Context() has ended by now
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := run.Stop(ctx); err != nil {
					b.Error(err)
				}
			})
			phases := [2]bgp.Phase{bgp.PhaseAnnounced, bgp.PhaseWithdrawn}
			i := 0
			for b.Loop() {
				if err := run.Apply(b.Context(), phases[i%2], false); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
