package bgp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
)

// fakeEngine hands every started run to the test.
type fakeEngine struct {
	runs chan *fakeRun
	// stepped: each Apply waits until the test takes it (await).
	stepped bool
}

func (e *fakeEngine) Start(_ context.Context, spec EngineSpec) (EngineRun, error) {
	r := &fakeRun{spec: spec, done: make(chan struct{}), applied: make(chan Phase, 16)}
	if e.stepped {
		r.applied, r.entered = make(chan Phase), make(chan Phase, 16)
	}
	e.runs <- r
	return r, nil
}

type fakeRun struct {
	spec     EngineSpec
	entered  chan Phase // stepped: each Apply as it begins
	applied  chan Phase
	done     chan struct{}
	mu       sync.Mutex
	stopped  bool
	degraded bool // the last Apply's
}

func (r *fakeRun) Apply(ctx context.Context, p Phase, degraded bool) error {
	r.mu.Lock()
	r.degraded = degraded
	r.mu.Unlock()
	if r.entered != nil {
		r.entered <- p
	}
	select {
	case r.applied <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (r *fakeRun) Stop(context.Context) error {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	return nil
}
func (r *fakeRun) Done() <-chan struct{} { return r.done }
func (r *fakeRun) Err() error            { return errors.New("signal: killed") }

func (r *fakeRun) await(t *testing.T, want Phase) {
	t.Helper()
	select {
	case p := <-r.applied:
		if p != want {
			t.Fatalf("applied %s, want %s", p, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never applied", want)
	}
}

type nopBinder struct{}

func (nopBinder) Bind([]netip.Prefix) error   { return nil }
func (nopBinder) Unbind([]netip.Prefix) error { return nil }
func (nopBinder) Bound(ps []netip.Prefix) map[netip.Prefix]bool {
	m := map[netip.Prefix]bool{}
	for _, p := range ps {
		m[p] = true
	}
	return m
}

// An engine that dies shows its sessions down and its prefixes withdrawn (the routers
// withdrew them when the sessions dropped), is started again after the backoff, and is
// told the latest inputs: announced when healthy; never announced again while draining.
// The flap counters go on across engines.
func TestEngineEndedIsRestarted(t *testing.T) {
	cfg := Config{ASN: 65001, RouterID: "192.0.2.11",
		Neighbors: []NeighborConfig{{Address: "192.0.2.1", ASN: 65000, BFD: &BFDConfig{}}},
		Prefixes:  []PrefixConfig{{Prefix: "198.51.100.10/32"}}}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{runs: make(chan *fakeRun, 4)}
	sp := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Binder: nopBinder{}, Engine: eng})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	defer func() { cancel(); <-done }()

	first := <-eng.runs
	sp.SetHealthy(true)
	first.await(t, PhaseAnnounced)
	first.spec.OnNeighbors([]NeighborStatus{{Address: "192.0.2.1", ASN: 65000, State: "ESTABLISHED", BFD: BFDUp, Flaps: 2, Since: time.Now()}})

	close(first.done)
	poll.Until(t, 5*time.Second, "engine end seen", func() error {
		st := sp.Status()
		n := st.Neighbors[0]
		if st.Running || n.State != "IDLE" || n.BFD != BFDDown || n.Flaps != 3 || st.Prefixes[0].State != StateWithdrawn || st.Error == "" || st.EngineFailures != 1 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	// A late report from the dead engine changes nothing.
	first.spec.OnNeighbors([]NeighborStatus{{Address: "192.0.2.1", ASN: 65000, State: "ESTABLISHED", BFD: BFDUp}})
	if n := sp.Status().Neighbors[0]; n.State != "IDLE" {
		t.Errorf("dead engine's report taken: %+v", n)
	}

	var second *fakeRun
	select {
	case second = <-eng.runs:
	case <-time.After(10 * time.Second):
		t.Fatal("engine not started again")
	}
	second.await(t, PhaseAnnounced)
	second.spec.OnNeighbors([]NeighborStatus{{Address: "192.0.2.1", ASN: 65000, State: "ESTABLISHED", BFD: BFDUp}})
	poll.Until(t, 5*time.Second, "status after the restart", func() error {
		st := sp.Status()
		if !st.Running || st.Error != "" || st.Neighbors[0].Flaps != 3 || st.Announces != 2 || st.Withdrawals != 1 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})

	// Draining when the engine dies: the new engine stays withdrawn.
	sp.SetDraining(true)
	second.await(t, PhaseDraining)
	close(second.done)
	third := <-eng.runs
	select {
	case p := <-third.applied:
		t.Fatalf("restarted while draining: applied %s", p)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	<-done
	done <- nil
	third.mu.Lock()
	defer third.mu.Unlock()
	if !third.stopped {
		t.Error("the running engine was not stopped at the end of Run")
	}
}

// TestDrainWaitsForTheAnnouncementInFlight: Drain (a clean stop) must not take the
// withdrawn phase of an announcement still being applied for "nothing to drain": the
// stop would close the sessions without GRACEFUL_SHUTDOWN (make test under load:
// maintenance off, then a stop, and the router never saw the community).
func TestDrainWaitsForTheAnnouncementInFlight(t *testing.T) {
	drain := 2 * time.Second // counted from the first Drain, longer than the wait below
	cfg := Config{ASN: 65001, RouterID: "192.0.2.11", Drain: &drain,
		Neighbors: []NeighborConfig{{Address: "192.0.2.1", ASN: 65000}},
		Prefixes:  []PrefixConfig{{Prefix: "198.51.100.10/32"}}}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{runs: make(chan *fakeRun, 1), stepped: true}
	sp := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Binder: nopBinder{}, Engine: eng})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	defer func() { cancel(); <-done }()
	run := <-eng.runs
	poll.Until(t, 5*time.Second, "engine running", func() error {
		if !sp.Status().Running {
			return errors.New("not yet")
		}
		return nil
	})
	sp.SetHealthy(true)
	if p := <-run.entered; p != PhaseAnnounced {
		t.Fatalf("applying %s, want %s", p, PhaseAnnounced)
	}
	// The announcement is in flight (Apply waits) and the status still reads withdrawn.
	short, stop := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer stop()
	if err := sp.Drain(short); err == nil {
		t.Fatal("Drain returned while the announcement it must drain was still being applied")
	}
	drained := make(chan error, 1)
	go func() { drained <- sp.Drain(t.Context()) }()
	run.await(t, PhaseAnnounced)
	run.await(t, PhaseDraining)
	run.await(t, PhaseWithdrawn)
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
}
