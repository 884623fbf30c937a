package bgp

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Binder puts the service addresses on this node and takes them off.
type Binder interface {
	// Bind adds every prefix's address (idempotent: addresses already there stay).
	Bind(prefixes []netip.Prefix) error
	// Unbind removes them, and the interface when halo made it.
	Unbind(prefixes []netip.Prefix) error
	// Bound reports which of them are on the interface now.
	Bound(prefixes []netip.Prefix) map[netip.Prefix]bool
}

// Options are the speaker's dependencies; the zero value binds with netlink and runs
// halo-bgp.
type Options struct {
	// Binder; nil: the configured interface, through netlink.
	Binder Binder
	// Engine runs BGP; nil: ProcessEngine{Path: EnginePath}.
	Engine Engine
	// EnginePath is halo-bgp's path for the default engine; "": LookEngine's search.
	EnginePath string
	// Now is the clock of the drain; nil: time.Now.
	Now func() time.Time
	// RefreshInterval is how often the engine reads the neighbours' states for Status
	// when no session event arrives (default 1s).
	RefreshInterval time.Duration
}

// retryInterval paces a route update the engine refused (it is not expected to: the
// routes are built from a validated config).
const retryInterval = time.Second

// An engine that fails to start or ends by itself is started again after a backoff that
// doubles from minRestart to maxRestart, and starts over once a run lasted stableRun.
// engineStop bounds a clean stop's withdraw and CEASE before the process is killed.
const (
	minRestart = 500 * time.Millisecond
	maxRestart = 30 * time.Second
	stableRun  = time.Minute
	engineStop = engineStopTimeout + 2*time.Second
)

// Speaker announces the service prefixes while the node is healthy. SetHealthy and
// SetDraining store the latest value and wake the one goroutine (Run) that applies it:
// a flapping input is never queued, and the newest always wins.
type Speaker struct {
	cfg  Config
	log  *slog.Logger
	opts Options

	wake chan struct{} // 1 slot: "an input changed"

	mu         sync.Mutex
	healthy    bool
	degraded   bool
	draining   bool
	drainStart time.Time
	st         Status
	since      time.Time     // when the current phase began
	settled    chan struct{} // closed when the loop has applied what it read, or the phase changed
	// inputs counts the changes of healthy, degraded and draining; applied is the count
	// the loop had read when it last brought the engine in line. Drain waits for its own
	// change to be applied: the phase alone may be an apply behind (an announcement in
	// flight still reads withdrawn), and a stop would then close the sessions undrained.
	inputs, applied uint64
	gen             uint64   // the engine run whose neighbour reports count
	flapBase        []uint64 // flaps of earlier engine runs, per neighbour
}

// New builds a speaker for a validated config; it starts nothing.
func New(cfg Config, logger *slog.Logger, opts Options) *Speaker {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = time.Second
	}
	if opts.Binder == nil {
		opts.Binder = newNetlinkBinder(cfg.Interface, logger)
	}
	if opts.Engine == nil {
		opts.Engine = ProcessEngine{Path: opts.EnginePath}
	}
	s := &Speaker{cfg: cfg, log: logger, opts: opts, wake: make(chan struct{}, 1),
		flapBase: make([]uint64, len(cfg.Neighbors))}
	s.st = Status{ASN: cfg.ASN, RouterID: cfg.RouterID}
	s.st.Neighbors = make([]NeighborStatus, len(cfg.Neighbors))
	s.neighborsDownLocked()
	for _, p := range cfg.ServicePrefixes() {
		s.st.Prefixes = append(s.st.Prefixes, PrefixStatus{Prefix: p.String(), State: StateWithdrawn})
	}
	return s
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// SetHealthy gives the newest verdict on the node: true announces (unless draining),
// false withdraws at once.
func (s *Speaker) SetHealthy(h bool) {
	s.mu.Lock()
	s.healthy = h
	s.inputs++
	s.mu.Unlock()
	poke(s.wake)
}

// SetDegraded says the node serves, but worse than it should (HAProxy up, a backend under
// its minimum): the prefixes stay announced with DegradedMED added to their MED, so that a
// router prefers the healthy nodes and keeps this one only while every node is degraded
// (ECMP needs equal MEDs). The VRRP analogue is a priority penalty.
func (s *Speaker) SetDegraded(d bool) {
	s.mu.Lock()
	s.degraded = d
	s.inputs++
	s.mu.Unlock()
	poke(s.wake)
}

// SetDraining starts (true) or ends (false) a planned withdrawal: the prefixes stay
// announced with GRACEFUL_SHUTDOWN for the drain time, then are withdrawn. The drain
// time counts from the first SetDraining(true).
func (s *Speaker) SetDraining(d bool) {
	s.mu.Lock()
	if d && !s.draining {
		s.drainStart = s.opts.Now()
	}
	s.draining = d
	s.inputs++
	s.mu.Unlock()
	poke(s.wake)
}

// Drain sets draining and waits until the prefixes are withdrawn (the drain time, or at
// once when the node is unhealthy or the engine is down), or ctx ends: a clean stop calls
// it before it ends Run, so that the routers moved new flows away before the sessions
// close.
func (s *Speaker) Drain(ctx context.Context) error {
	s.SetDraining(true)
	s.mu.Lock()
	asked := s.inputs
	s.mu.Unlock()
	for {
		s.mu.Lock()
		done := s.st.Running && s.draining && s.applied >= asked && phaseOf(s.st) == PhaseWithdrawn || !s.st.Running
		if s.settled == nil {
			s.settled = make(chan struct{})
		}
		ch := s.settled
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func phaseOf(st Status) Phase {
	if len(st.Prefixes) == 0 {
		return PhaseWithdrawn
	}
	p, _ := ParsePhase(st.Prefixes[0].State)
	return p
}

// Status returns the speaker's part of the snapshot; it never waits for the engine.
func (s *Speaker) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Healthy, st.Degraded, st.Draining = s.healthy, s.degraded, s.draining
	st.Neighbors = append([]NeighborStatus(nil), s.st.Neighbors...)
	st.Prefixes = append([]PrefixStatus(nil), s.st.Prefixes...)
	return st
}

// Bind puts the service addresses on the node. Run does it too; the supervisor calls it
// before HAProxy starts, so that HAProxy binds them without ip_nonlocal_bind.
func (s *Speaker) Bind() error {
	prefixes := s.cfg.ServicePrefixes()
	err := s.opts.Binder.Bind(prefixes)
	if err != nil {
		s.setError(err)
	}
	s.markBound(prefixes)
	return err
}

// Run binds the service addresses, starts the engine and applies every input until ctx
// ends; then it withdraws, closes the sessions (a CEASE to each router) and unbinds. An
// engine that cannot start, or that ends by itself, is started again with a backoff:
// meanwhile its sessions are down, and the routers, which saw them drop, have withdrawn
// this node's prefixes, the safe failure for ECMP (the other nodes take its flows).
func (s *Speaker) Run(ctx context.Context) error {
	prefixes := s.cfg.ServicePrefixes()
	if err := s.Bind(); err != nil {
		return err
	}
	defer func() {
		if err := s.opts.Binder.Unbind(prefixes); err != nil {
			s.log.Error("service addresses not removed", "err", err)
		}
		s.markBound(prefixes)
	}()
	backoff := minRestart
	for {
		began := time.Now()
		run, err := s.startEngine(ctx)
		if err == nil {
			if !s.loop(ctx, run, prefixes) {
				s.stopEngine(run)
				return nil
			}
			err = run.Err()
			s.log.Error("BGP engine ended; its sessions are down and the routers withdraw this node until it is back", "err", err, "restart_in", backoff)
			s.engineEnded(err)
			if time.Since(began) >= stableRun {
				backoff = minRestart
			}
		} else {
			if ctx.Err() != nil {
				return nil
			}
			s.setError(err)
			s.mu.Lock()
			s.st.EngineFailures++
			s.mu.Unlock()
			s.log.Warn("BGP engine not started", "restart_in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxRestart)
	}
}

// startEngine starts an engine whose neighbour reports update the status until it ends.
func (s *Speaker) startEngine(ctx context.Context) (EngineRun, error) {
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	run, err := s.opts.Engine.Start(ctx, EngineSpec{Config: &s.cfg, Log: s.log, RefreshInterval: s.opts.RefreshInterval,
		OnNeighbors: func(ns []NeighborStatus) { s.setNeighbors(gen, ns) }})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.st.Running = true
	s.st.Error = ""
	s.mu.Unlock()
	return run, nil
}

// stopEngine withdraws and closes the sessions, bounded: a hung engine is killed.
func (s *Speaker) stopEngine(run EngineRun) {
	ctx, cancel := context.WithTimeout(context.Background(), engineStop)
	defer cancel()
	if err := run.Stop(ctx); err != nil {
		s.log.Warn("BGP engine stop", "err", err)
	}
	s.engineEnded(nil)
}

// engineEnded marks the sessions down and the prefixes withdrawn: with the engine gone,
// no router holds them any more.
func (s *Speaker) engineEnded(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	for i, n := range s.st.Neighbors {
		s.flapBase[i] = n.Flaps
		if n.State == "ESTABLISHED" {
			s.flapBase[i]++
		}
	}
	s.neighborsDownLocked()
	s.st.Running = false
	if err != nil {
		s.st.Error = err.Error()
		s.st.EngineFailures++
	}
	s.setPhaseLocked(PhaseWithdrawn)
}

// neighborsDownLocked shows every session as not running. s.mu is held.
func (s *Speaker) neighborsDownLocked() {
	for i, n := range s.cfg.Neighbors {
		bfd := BFDOff
		if n.BFDOn() {
			bfd = BFDDown
		}
		s.st.Neighbors[i] = NeighborStatus{Address: netip.MustParseAddr(n.Address).Unmap().String(), ASN: n.ASN,
			State: "IDLE", BFD: bfd, Flaps: s.flapBase[i]}
	}
}

// setNeighbors takes an engine's report, when that engine is still the current one; the
// flap counters go on from the earlier engines'.
func (s *Speaker) setNeighbors(gen uint64, ns []NeighborStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || len(ns) != len(s.st.Neighbors) {
		return
	}
	for i := range ns {
		ns[i].Flaps += s.flapBase[i]
	}
	copy(s.st.Neighbors, ns)
}

// loop applies the inputs until ctx ends (false) or the engine ends by itself (true).
// A new engine offers nothing until told, so every run starts from withdrawn.
func (s *Speaker) loop(ctx context.Context, run EngineRun, prefixes []netip.Prefix) bool {
	cur, curDegraded := PhaseWithdrawn, false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		s.mu.Lock()
		healthy, draining, start, degraded, seen := s.healthy, s.draining, s.drainStart, s.degraded, s.inputs
		s.mu.Unlock()
		applied := true
		now := s.opts.Now()
		want, next := decide(cur, healthy, draining, start, now, s.cfg.DrainTime())
		// A change of degraded re-announces with the new MED (nothing to do when withdrawn).
		if want != cur || want != PhaseWithdrawn && degraded != curDegraded {
			if err := run.Apply(ctx, want, degraded); err != nil {
				if ctx.Err() != nil {
					return false
				}
				s.setError(err)
				next = now.Add(retryInterval)
				applied = false
			} else {
				s.log.Info("service prefixes "+want.String(), "healthy", healthy, "degraded", degraded, "draining", draining, "was", cur.String())
				cur, curDegraded = want, degraded
				s.mu.Lock()
				s.st.Error = ""
				s.setPhaseLocked(want)
				s.mu.Unlock()
			}
		}
		if applied {
			s.mu.Lock()
			s.applied = seen
			s.wakeDrainLocked()
			s.mu.Unlock()
		}
		s.markBound(prefixes)
		if !next.IsZero() {
			timer.Reset(next.Sub(now))
		}
		select {
		case <-ctx.Done():
			return false
		case <-run.Done():
			return true
		case <-s.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// setPhaseLocked records a new phase, its counters and wakes Drain. s.mu is held.
func (s *Speaker) setPhaseLocked(p Phase) {
	old := phaseOf(s.st)
	if old != p {
		s.since = s.opts.Now()
		switch p {
		case PhaseAnnounced:
			s.st.Announces++
		case PhaseDraining:
			s.st.Drains++
		case PhaseWithdrawn:
			s.st.Withdrawals++
		}
	}
	for i := range s.st.Prefixes {
		s.st.Prefixes[i].State = p.String()
		s.st.Prefixes[i].Since = s.since
	}
	s.wakeDrainLocked()
}

// wakeDrainLocked wakes Drain to look again. s.mu is held.
func (s *Speaker) wakeDrainLocked() {
	if s.settled != nil {
		close(s.settled)
		s.settled = nil
	}
}

func (s *Speaker) markBound(prefixes []netip.Prefix) {
	bound := s.opts.Binder.Bound(prefixes)
	s.mu.Lock()
	for i := range s.st.Prefixes {
		s.st.Prefixes[i].Bound = bound[prefixes[i]]
	}
	s.mu.Unlock()
}

func (s *Speaker) setError(err error) {
	s.log.Error("bgp", "err", err)
	s.mu.Lock()
	s.st.Error = err.Error()
	s.mu.Unlock()
}
