package supervisor

import (
	"context"
	"time"

	"github.com/halo-lb/halo/bgp"
)

// bgpRun is the running BGP speaker, when halo.yaml has a bgp section.
type bgpRun struct {
	sp     *bgp.Speaker
	drain  time.Duration
	cancel context.CancelFunc
	done   chan error
}

// startBGP binds the service addresses and starts the speaker with the current
// maintenance state and HAProxy verdict, so that its first decision is already the right
// one (a node restarted in maintenance never announces). It runs before HAProxy starts:
// HAProxy then binds the service addresses as local ones. Without a bgp section no engine
// process starts.
func (s *Supervisor) startBGP(ctx context.Context, cfg *Config) error {
	if cfg.BGP == nil {
		return nil
	}
	var opts bgp.Options
	if s.deps.BGPOptions != nil {
		opts = s.deps.BGPOptions()
	}
	if opts.Engine == nil {
		// A missing halo-bgp fails the start, not a retry loop nobody reads.
		path, err := bgp.LookEngine(opts.EnginePath)
		if err != nil {
			return err
		}
		opts.EnginePath = path
	}
	sp := bgp.New(*cfg.BGP, s.log.With("component", "bgp"), opts)
	if err := sp.Bind(); err != nil {
		return err
	}
	// Not ctx's child: a stop cancels the VRRP instances' context first, and the speaker
	// must go on announcing through its drain; stopBGP ends it.
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &bgpRun{sp: sp, drain: cfg.BGP.DrainTime(), cancel: cancel, done: make(chan error, 1)}
	// The inputs are read and the speaker published under the locks their writers take,
	// so a verdict or a maintenance request racing with the start is either read here or
	// handed to the speaker by its writer: never lost.
	s.healthMu.Lock()
	s.mu.Lock()
	sp.SetDraining(s.maintenance)
	s.bgp = r
	s.mu.Unlock()
	h := s.currentHealth()
	sp.SetDegraded(h.Serving && !h.Healthy)
	sp.SetHealthy(bgpHealthy(h))
	s.healthMu.Unlock()
	go func() { r.done <- sp.Run(bctx) }()
	return nil
}

// bgpHealthy is the verdict that keeps the prefixes announced: HAProxy serves. A backend
// under its minimum (degraded) does not withdraw, for the reason VRRP keeps a degraded
// node in the running: when every node has lost its backends, a 503 beats a dark service
// address. It raises the MED instead (SetDegraded), so that the routers prefer the nodes
// that kept their backends.
func bgpHealthy(h HAProxyHealth) bool { return h.Serving }

// trackBGP hands HAProxy's verdict to the speaker. healthMu is held.
func (s *Supervisor) trackBGP(h HAProxyHealth) {
	s.mu.Lock()
	r := s.bgp
	s.mu.Unlock()
	if r != nil {
		r.sp.SetDegraded(h.Serving && !h.Healthy)
		r.sp.SetHealthy(bgpHealthy(h))
	}
}

// drainBGP is maintenance for BGP: announce with GRACEFUL_SHUTDOWN, withdraw after the
// drain time; off announces again.
func (s *Supervisor) drainBGP(on bool) {
	s.mu.Lock()
	r := s.bgp
	s.mu.Unlock()
	if r != nil {
		r.sp.SetDraining(on)
	}
}

// stopBGP drains the speaker (HAProxy still serves meanwhile: it stops after this), then
// stops it: the routers moved new flows to the other nodes before this one closes its
// sessions. The drain is bounded by its configured time and a margin.
func (s *Supervisor) stopBGP() {
	s.mu.Lock()
	r := s.bgp
	s.bgp = nil
	s.mu.Unlock()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.drain+2*time.Second)
	if err := r.sp.Drain(ctx); err != nil {
		s.log.Warn("BGP drain cut short", "err", err)
	}
	cancel()
	r.cancel()
	if err := <-r.done; err != nil {
		s.log.Error("BGP speaker", "err", err)
	}
}

// bgpStatus is the speaker's part of the snapshot, nil without BGP.
func (s *Supervisor) bgpStatus() *BGPStatus {
	s.mu.Lock()
	r := s.bgp
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	return newBGPStatus(r.sp.Status())
}
