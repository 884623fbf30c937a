package bgp

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
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

// Options are the speaker's dependencies; the zero value binds with netlink.
type Options struct {
	// Binder; nil: the configured interface, through netlink.
	Binder Binder
	// Now is the clock of the drain; nil: time.Now.
	Now func() time.Time
	// RefreshInterval is how often neighbour states are read from GoBGP for Status
	// (default 1s; a session event reads them at once).
	RefreshInterval time.Duration
}

// retryInterval paces a route update GoBGP refused (it is not expected to: the routes
// are built from a validated config).
const retryInterval = time.Second

// Speaker announces the service prefixes while the node is healthy. SetHealthy and
// SetDraining store the latest value and wake the one goroutine (Run) that applies it:
// a flapping input is never queued, and the newest always wins.
type Speaker struct {
	cfg  Config
	log  *slog.Logger
	opts Options

	wake    chan struct{} // 1 slot: "an input changed"
	refresh chan struct{} // 1 slot: "a session changed, read the neighbours again"

	mu         sync.Mutex
	healthy    bool
	degraded   bool
	draining   bool
	drainStart time.Time
	st         Status
	since      time.Time     // when the current phase began
	settled    chan struct{} // closed when the phase is withdrawn and draining is set
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
	s := &Speaker{cfg: cfg, log: logger, opts: opts,
		wake: make(chan struct{}, 1), refresh: make(chan struct{}, 1)}
	s.st = Status{ASN: cfg.ASN, RouterID: cfg.RouterID}
	for _, n := range cfg.Neighbors {
		bfd := BFDOff
		if n.BFDOn() {
			bfd = BFDDown
		}
		s.st.Neighbors = append(s.st.Neighbors, NeighborStatus{Address: netip.MustParseAddr(n.Address).Unmap().String(), ASN: n.ASN, State: "IDLE", BFD: bfd})
	}
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
	s.mu.Unlock()
	poke(s.wake)
}

// Drain sets draining and waits until the prefixes are withdrawn (the drain time, or at
// once when the node is unhealthy), or ctx ends: a clean stop calls it before it ends Run,
// so that the routers moved new flows away before the sessions close.
func (s *Speaker) Drain(ctx context.Context) error {
	s.SetDraining(true)
	for {
		s.mu.Lock()
		done := s.st.Running && s.draining && phaseOf(s.st) == phaseWithdrawn || !s.st.Running
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

func phaseOf(st Status) phase {
	if len(st.Prefixes) == 0 {
		return phaseWithdrawn
	}
	switch st.Prefixes[0].State {
	case StateAnnounced:
		return phaseAnnounced
	case StateDraining:
		return phaseDraining
	}
	return phaseWithdrawn
}

// Status returns the speaker's part of the snapshot; it never blocks on GoBGP.
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

// Run binds the service addresses, starts GoBGP and applies every input until ctx ends;
// then it withdraws, closes the sessions (a CEASE to each router) and unbinds.
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
	srv, err := startEngine(ctx, &s.cfg, s.log)
	if err != nil {
		s.setError(err)
		return err
	}
	s.mu.Lock()
	s.st.Running = true
	s.mu.Unlock()
	var wg sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(ctx)
	wg.Go(func() { s.watchSessions(watchCtx, srv) })
	defer func() {
		stopWatch()
		wg.Wait()
		srv.Stop() // CEASE to every established neighbour: the routers withdraw at once
		s.mu.Lock()
		s.st.Running = false
		s.setPhaseLocked(phaseWithdrawn)
		s.mu.Unlock()
	}()
	s.loop(ctx, srv, prefixes)
	// Withdraw before the CEASE, so that a router that keeps the session's routes stale
	// (graceful restart) has none to keep.
	if err := applyPhase(srv, &s.cfg, phaseWithdrawn, false); err != nil {
		s.log.Warn("withdraw on stop", "err", err)
	}
	return nil
}

func (s *Speaker) loop(ctx context.Context, srv *server.BgpServer, prefixes []netip.Prefix) {
	cur := phaseWithdrawn
	curDegraded := false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		s.mu.Lock()
		healthy, draining, start, degraded := s.healthy, s.draining, s.drainStart, s.degraded
		s.mu.Unlock()
		now := s.opts.Now()
		want, next := decide(cur, healthy, draining, start, now, s.cfg.DrainTime())
		// A change of degraded re-announces with the new MED (nothing to do when withdrawn).
		if want != cur || want != phaseWithdrawn && degraded != curDegraded {
			if err := applyPhase(srv, &s.cfg, want, degraded); err != nil {
				s.setError(err)
				next = now.Add(retryInterval)
			} else {
				s.log.Info("service prefixes "+want.String(), "healthy", healthy, "degraded", degraded, "draining", draining, "was", cur.String())
				cur, curDegraded = want, degraded
				s.mu.Lock()
				s.st.Error = ""
				s.setPhaseLocked(want)
				s.mu.Unlock()
			}
		}
		s.markBound(prefixes)
		if !next.IsZero() {
			timer.Reset(next.Sub(now))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// setPhaseLocked records a new phase, its counters and wakes Drain. s.mu is held.
func (s *Speaker) setPhaseLocked(p phase) {
	old := phaseOf(s.st)
	if old != p {
		s.since = s.opts.Now()
		switch p {
		case phaseAnnounced:
			s.st.Announces++
		case phaseDraining:
			s.st.Drains++
		case phaseWithdrawn:
			s.st.Withdrawals++
		}
	}
	for i := range s.st.Prefixes {
		s.st.Prefixes[i].State = p.String()
		s.st.Prefixes[i].Since = s.since
	}
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

// watchSessions keeps the neighbours' part of the status fresh: at once on a session
// event (logged), else every RefreshInterval, which also picks up BFD changes. It arms
// each neighbour's BFD once its session first comes up (bfdArmDelay).
func (s *Speaker) watchSessions(ctx context.Context, srv *server.BgpServer) {
	var armMu sync.Mutex
	armed := map[netip.Addr]bool{}
	closed := false // no arming once the watch ends: arms.Wait may have begun
	var arms sync.WaitGroup
	defer func() {
		armMu.Lock()
		closed = true
		armMu.Unlock()
		arms.Wait()
	}()
	err := srv.WatchEvent(ctx, server.WatchEventMessageCallbacks{
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
			if ev.Type == apiutil.PEER_EVENT_STATE {
				st := ev.Peer.State
				s.log.Info("bgp session", "neighbor", st.NeighborAddress, "state", st.SessionState.String(),
					"reason", st.DisconnectMessage)
				if st.SessionState == bgp.BGP_FSM_ESTABLISHED {
					armMu.Lock()
					n, ok := s.neighbor(st.NeighborAddress)
					if ok && n.BFDOn() && !armed[st.NeighborAddress] && !closed {
						armed[st.NeighborAddress] = true
						arms.Go(func() { s.armBFD(ctx, srv, n) })
					}
					armMu.Unlock()
				}
			}
			poke(s.refresh)
		},
	}, server.WatchPeer())
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("bgp: session events not watched; polling only", "err", err)
	}
	t := time.NewTicker(s.opts.RefreshInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		ns, err := listNeighbors(rctx, srv, &s.cfg)
		cancel()
		if err == nil {
			s.mu.Lock()
			s.st.Neighbors = ns
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.refresh:
		}
	}
}

// neighbor returns the configured neighbour at addr.
func (s *Speaker) neighbor(addr netip.Addr) (NeighborConfig, bool) {
	for _, n := range s.cfg.Neighbors {
		if a, err := netip.ParseAddr(n.Address); err == nil && a.Unmap() == addr.Unmap() {
			return n, true
		}
	}
	return NeighborConfig{}, false
}

// armBFD turns BFD on for n, bfdArmDelay after its session first came up.
func (s *Speaker) armBFD(ctx context.Context, srv *server.BgpServer, n NeighborConfig) {
	t := time.NewTimer(bfdArmDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	if _, err := srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: peerOf(n, true)}); err != nil {
		s.log.Warn("bgp: BFD not turned on", "neighbor", n.Address, "err", err)
		return
	}
	s.log.Debug("bgp: BFD on", "neighbor", n.Address)
}
