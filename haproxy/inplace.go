package haproxy

import (
	"fmt"
	"slices"
	"time"
)

// inPlace is the state of restart_in_place. m.mu guards it.
type inPlace struct {
	// crashes are the crashes restarted in place within the last window.
	crashes []time.Time
	// until is the deadline of the restart in place under way (zero: none); since is the
	// crash that began it, pid the master that crashed.
	until, since time.Time
	pid          int
}

// restartInPlace decides, when the managed master c exited without being asked to,
// whether it is restarted in place (at once, on the held sockets, the verdict kept) and
// if so records it and reports true. Otherwise the caller goes on as for any exit
// (verdict down, backoff), and the held sockets are released first: nobody will serve
// their queue soon, so clients had better be refused and go elsewhere.
func (m *Manager) restartInPlace(c *child, exitErr error) bool {
	p := m.cfg.RestartInPlace
	if !p.On() {
		return false
	}
	now := time.Now()
	up := now.Sub(c.started)
	held := m.hold.count()
	m.mu.Lock()
	episode := !m.ip.until.IsZero()
	m.ip.until = time.Time{}
	m.st.RestartingInPlace = false
	m.ip.crashes = slices.DeleteFunc(m.ip.crashes, func(t time.Time) bool { return now.Sub(t) >= p.Window })
	why := ""
	switch {
	case episode:
		why = fmt.Sprintf("the haproxy restarted in place exited before serving again (%s after the crash of pid %d)", now.Sub(m.ip.since).Round(time.Millisecond), m.ip.pid)
	case !m.verdict.Serving:
		why = "haproxy was not serving before it exited"
	case held == 0:
		why = `halod holds none of its listening sockets (the stats socket needs "expose-fd listeners")`
	case len(m.ip.crashes) >= p.MaxCrashes:
		why = fmt.Sprintf("crash loop: %d crashes restarted in place within restart_in_place.window %s", len(m.ip.crashes), p.Window)
	}
	if why == "" {
		m.ip.crashes = append(m.ip.crashes, now)
		m.ip.until, m.ip.since, m.ip.pid = now.Add(p.Within), now, c.pid
		if m.proc == c {
			m.proc = nil
			m.st.PID, m.st.Running, m.st.WorkerPID = 0, false, 0
		}
		m.st.RestartingInPlace = true
		m.st.RestartsInPlace++
		m.ctr.RestartsInPlace++
	}
	crashes := len(m.ip.crashes)
	m.mu.Unlock()
	if why != "" {
		if n := m.hold.release(); n > 0 {
			m.log.Info("released the listening sockets halod held: their queued connections are refused", "sockets", n)
		}
		m.log.Warn("haproxy crashed: not restarting it in place", "pid", c.pid, "why", why)
		return false
	}
	m.log.Error("haproxy exited: restarting it in place on the listening sockets halod holds; the VIP stays unless it serves no more within restart_in_place.within",
		"pid", c.pid, "uptime", up.Round(time.Millisecond), "err", exitText(exitErr), "sockets", held,
		"crashes_in_window", crashes, "max_crashes", p.MaxCrashes, "within", p.Within)
	m.emit(&Exited{At: now, PID: c.pid, Uptime: up, Err: exitErr, InPlace: true})
	return true
}

// inPlaceStartFailed ends a restart in place whose HAProxy could not be started: the
// caller then goes on as for any exit (verdict down, backoff).
func (m *Manager) inPlaceStartFailed(err error) {
	m.mu.Lock()
	episode := !m.ip.until.IsZero()
	m.ip.until = time.Time{}
	m.st.RestartingInPlace = false
	m.mu.Unlock()
	if episode {
		m.hold.release()
		m.log.Warn("haproxy could not be restarted in place: failing over", "err", err)
	}
}

// judgeInPlaceLocked handles a check while a restart in place is under way. It reports
// whether the check is settled (true: ignore it, check again soon) or must be recorded
// as usual (false). The restart succeeds with the first check that finds HAProxy
// serving; it fails at the first check past the deadline, which then takes the verdict
// down at once. m.mu is held.
func (m *Manager) judgeInPlaceLocked(r CheckResult) (settled bool, failed string) {
	if m.ip.until.IsZero() {
		return false, ""
	}
	serving := r.OK() || r.Kind == KindBackend && m.cfg.Check.BackendSeverity == SeverityDegraded
	switch {
	case serving:
		took := r.At.Add(r.Duration).Sub(m.ip.since)
		m.ip.until = time.Time{}
		m.st.RestartingInPlace = false
		m.log.Info("haproxy restarted in place: serving again", "crashed_pid", m.ip.pid, "worker_pid", r.WorkerPID, "after", took.Round(time.Millisecond))
		return false, ""
	case r.At.Before(m.ip.until):
		return true, ""
	}
	m.ip.until = time.Time{}
	m.st.RestartingInPlace = false
	return false, fmt.Sprintf("haproxy not serving again within restart_in_place.within %s after the crash of pid %d: %s", m.cfg.RestartInPlace.Within, m.ip.pid, r.Reason)
}
