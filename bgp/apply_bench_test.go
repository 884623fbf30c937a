package bgp_test

import (
	"testing"

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
			b.Cleanup(func() { _ = run.Stop(b.Context()) })
			phases := [2]bgp.Phase{bgp.PhaseAnnounced, bgp.PhaseWithdrawn}
			i := 0
			for b.Loop() {
				if err := run.Apply(b.Context(), phases[i%2]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
