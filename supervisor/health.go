package supervisor

import (
	"context"
	"slices"
	"time"

	"github.com/halo-lb/halo/vrrp"
)

// track hands a verdict to one instance: each applies its own policy for the two
// severities.
func track(vi *vrrp.Instance, h HAProxyHealth) {
	vi.SetTracked(vrrp.TrackerHAProxy, !h.Serving)
	vi.SetTracked(vrrp.TrackerHAProxyDegraded, h.Serving && !h.Healthy)
}

// firstVerdictWait bounds how long instances that track HAProxy wait for its first
// verdict before they start (counting it as failing).
const firstVerdictWait = 3 * time.Second

// awaitFirstVerdict holds the start of instances that track HAProxy until HAProxy has
// been judged (a few checks: well under a second for a running one), at most
// firstVerdictWait. An instance started earlier would count HAProxy as failing, and one
// that finds its VIPs left by a restarted halod would drop them (FAULT) though the
// HAProxy it takes over serves: the restart would go dark.
func (s *Supervisor) awaitFirstVerdict(ctx context.Context, cfg *Config) {
	if !slices.ContainsFunc(cfg.VRRP.Instances, func(ic vrrp.InstanceConfig) bool { return ic.TrackHAProxy != nil }) {
		return
	}
	t := time.NewTimer(firstVerdictWait)
	defer t.Stop()
	for {
		h, changed := s.hap.Health()
		if h.Known {
			return
		}
		select {
		case <-changed:
		case <-t.C:
			s.log.Warn("HAProxy not judged yet: starting VRRP with it counted as failing", "after", firstVerdictWait)
			return
		case <-ctx.Done():
			return
		}
	}
}

// applyHealth hands HAProxy's newest verdict to every instance and returns the channel
// that says when there is a newer one. Each instance applies its own track policy on its
// own loop (vrrp.Instance.SetTracked); nothing here reads an instance's state to decide.
func (s *Supervisor) applyHealth() <-chan struct{} {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	_, changed := s.hap.Health()
	h := s.currentHealth()
	s.mu.Lock()
	ins := append([]*instance(nil), s.instances...)
	s.mu.Unlock()
	for _, in := range ins {
		track(in.vi, h)
	}
	s.changes.bump() // a new verdict, or supervision stopped: watchers see it
	s.trackBGP(h)
	return changed
}

// currentHealth is HAProxy's newest verdict, failing for good once its supervision has
// stopped. healthMu is held.
func (s *Supervisor) currentHealth() HAProxyHealth {
	h, _ := s.hap.Health()
	if s.hapStopped != "" {
		h = HAProxyHealth{Reason: s.hapStopped}
	}
	return h
}
