package haproxy

import "time"

// Verdict is HAProxy's health as the rise/fall hysteresis judges it.
type Verdict struct {
	// Healthy: every check passes. Serving: HAProxy answers and its frontends are open,
	// though a backend may be under its minimum (with backend_severity degraded); false
	// when it is dead, hung or not serving.
	Healthy bool
	Serving bool
	// Known is false until the checks have judged HAProxy at all (its first flip, or as
	// many checks as rise and fall ask for; or its exit).
	Known bool
	// Reason says why HAProxy is unhealthy (empty when healthy); before the first
	// verdict it is "not checked yet".
	Reason string
	// Since is when this verdict began.
	Since time.Time
}

// Health returns the current verdict and a channel that is closed when it next changes:
// read Health again then. Only the newest verdict counts, so nothing is queued and
// nothing can be dropped or seen out of order, however fast HAProxy flaps; any number of
// readers may wait.
func (m *Manager) Health() (Verdict, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.verdict, m.changed
}

// publishLocked makes the status' verdict the published one and wakes every waiter.
// m.mu is held.
func (m *Manager) publishLocked() {
	m.verdict = Verdict{Healthy: m.st.Healthy, Serving: m.serve.healthy, Known: true, Reason: m.st.Reason, Since: m.st.Since}
	close(m.changed)
	m.changed = make(chan struct{})
}

// record feeds a check into the counters and the hysteresis; it reports whether the
// verdict is in transition (the next check comes at the fast interval).
func (m *Manager) record(r CheckResult) bool {
	m.mu.Lock()
	m.ctr.Checks[r.Kind]++
	last := r
	if r.Pipelined {
		last.Duration = m.st.LastCheck.Duration // the status shows the last answer time measured
	} else {
		m.ctr.CheckDuration.observe(r.Duration)
	}
	m.st.LastCheck = last
	if r.OK() || r.Kind == KindStopping || r.Kind == KindFrontend || r.Kind == KindBackend {
		if m.cfg.Mode == External {
			m.st.Running = true
		}
		m.st.WorkerPID, m.st.Version = r.WorkerPID, r.Version
		if m.cfg.Mode == External && m.st.PID == 0 {
			m.st.PID = r.WorkerPID
		}
	} else if m.cfg.Mode == External {
		m.st.Running = false
	}
	if settled, failed := m.judgeInPlaceLocked(r); settled {
		m.mu.Unlock()
		return true
	} else if failed != "" {
		m.inPlaceFailedLocked(r, failed) // unlocks
		return true
	}
	if m.reloadingLocked(r.At) && (r.Kind == KindFrontend || r.Kind == KindStopping) {
		// A reload in flight pauses the old worker's frontends (for seconds when the new
		// process retries a bind) and stops the old worker: no failure, the verdict holds.
		fast := m.hyst.transitioning() || m.serve.transitioning()
		m.mu.Unlock()
		return fast
	}
	failed := !r.OK() && (r.Kind != KindBackend || m.cfg.Check.BackendSeverity == SeverityFailed)
	changed := m.serve.observe(!failed)
	changed = m.hyst.observe(r.OK()) || changed
	m.st.Healthy, m.st.Degraded = m.hyst.healthy, m.serve.healthy && !m.hyst.healthy
	if m.hyst.healthy {
		m.st.Reason = ""
	} else if !r.OK() {
		m.st.Reason = r.Reason
	}
	m.judged++
	if changed {
		m.st.Since = r.At.Add(r.Duration)
		m.publishLocked()
	} else if !m.verdict.Known && m.judged >= max(m.cfg.Check.Rise, m.cfg.Check.Fall) {
		m.publishLocked() // unhealthy from the start: that is a verdict too
	}
	healthy, degraded, reason := m.hyst.healthy, m.st.Degraded, m.st.Reason
	serving := m.serve.healthy
	fast := m.hyst.transitioning() || m.serve.transitioning()
	m.mu.Unlock()
	if serving && (r.OK() || r.Kind == KindBackend) {
		m.hold.want(r.WorkerPID)
	} else if changed && !serving {
		// A hung HAProxy keeps its own queue; a stopping one closes its listeners so that
		// clients are refused: halod's copies must not keep them open.
		if n := m.hold.release(); n > 0 {
			m.log.Info("haproxy not serving: released the listening sockets halod held", "sockets", n)
		}
	}
	if changed {
		switch {
		case healthy && r.Pipelined: // its Duration is not HAProxy's answer time
			m.log.Info("haproxy healthy")
		case healthy:
			m.log.Info("haproxy healthy", "check_seconds", r.Duration.Seconds())
		case degraded:
			m.log.Warn("haproxy degraded: serving, but a backend is under its minimum", "reason", reason)
		default:
			m.log.Warn("haproxy unhealthy", "reason", reason)
		}
		m.emit(&HealthChanged{At: r.At.Add(r.Duration), Healthy: healthy, Degraded: degraded, Reason: reason, Check: r})
	}
	return fast
}

// inPlaceFailedLocked takes the verdict down when a restart in place did not serve
// again in time, and releases the held sockets. m.mu is held; it is unlocked.
func (m *Manager) inPlaceFailedLocked(r CheckResult, reason string) {
	changed := m.serve.down()
	changed = m.hyst.down() || changed
	m.judged++
	m.st.Healthy, m.st.Degraded, m.st.Reason = false, false, reason
	at := r.At.Add(r.Duration)
	m.st.Since = at
	m.publishLocked()
	m.mu.Unlock()
	if n := m.hold.release(); n > 0 {
		m.log.Info("released the listening sockets halod held: their queued connections are refused", "sockets", n)
	}
	m.log.Warn("haproxy unhealthy", "reason", reason)
	if changed {
		m.emit(&HealthChanged{At: at, Healthy: false, Reason: reason, Check: r})
	}
}

// reloadingLocked reports whether a reload is in flight at t, or ended so recently that
// HAProxy may still be resuming the old worker's frontends. m.mu is held.
func (m *Manager) reloadingLocked(t time.Time) bool {
	return m.reloads > 0 || t.Before(m.reloadSettled)
}
