package bgp

import (
	"context"
	"log/slog"
	"time"
)

// Engine starts the BGP implementation the speaker drives. halod's is ProcessEngine: GoBGP
// in a child process (halo-bgp), so that a halod without a bgp section carries none of
// GoBGP's code, package initialisers or memory (see docs/BGP.md for the figures). The
// in-process one (package bgp/engine) serves halo-bgp itself and the engine's tests.
type Engine interface {
	// Start starts a speaker with spec's config and returns once its neighbours are
	// configured (not yet established). Nothing is announced until Apply.
	Start(ctx context.Context, spec EngineSpec) (EngineRun, error)
}

// EngineSpec is what an engine starts with.
type EngineSpec struct {
	Config *Config
	// Log receives the engine's own records (session transitions, GoBGP's warnings); nil
	// discards them.
	Log *slog.Logger
	// RefreshInterval is how often the neighbours' states are read when no session event
	// arrives (BFD changes, counters).
	RefreshInterval time.Duration
	// OnNeighbors receives every neighbour's state, in config order, each time any of them
	// changes; it is called from one goroutine at a time and must not block.
	OnNeighbors func([]NeighborStatus)
}

// EngineRun is one started engine.
type EngineRun interface {
	// Apply offers (announced, draining) or withdraws every service prefix; degraded adds
	// DegradedMED to the MED of what it offers.
	Apply(ctx context.Context, p Phase, degraded bool) error
	// Stop withdraws every prefix, closes the sessions with a CEASE and ends the engine;
	// when ctx ends first it ends the engine the hard way.
	Stop(ctx context.Context) error
	// Done is closed when the engine ended by itself (a crash); nil when it cannot.
	Done() <-chan struct{}
	// Err says why it ended, once Done is closed.
	Err() error
}
