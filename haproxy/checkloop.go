package haproxy

import (
	"context"
	"time"

	"github.com/halo-lb/halo/internal/tick"
)

// checkLoop runs one check at a time, every check.interval, or every
// check.fast_interval while the verdict may be about to flip. While HAProxy answers, the
// checks are pipelined (see pipeline) if that keeps a hang's bound; a blocking check,
// bounded by check.timeout, opens the pipeline, follows an overdue or ended one, and runs
// every timedEvery to measure HAProxy's answer time.
func (m *Manager) checkLoop(ctx context.Context) {
	defer m.pipe.close()
	clk := tick.NewClock()
	defer clk.Close()
	sched := pace{due: time.Now()}
	clk.Set(0)
	var lastTimed time.Time
	var buf [2]CheckResult
	for {
		if !clk.Wait(ctx) {
			return
		}
		began := time.Now()
		rs := m.checkOnce(ctx, began, buf[:0])
		if dl, ok := ctx.Deadline(); ctx.Err() != nil || ok && !time.Now().Before(dl) {
			return // a check cut short by shutdown says nothing about HAProxy
		}
		fast := m.transitioning()
		for _, r := range rs {
			if !r.Pipelined {
				lastTimed = r.At
			}
			for range max(r.Repeat, 1) {
				fast = m.record(r)
			}
		}
		if m.pipelining && len(rs) > 0 && answered(rs[len(rs)-1]) && !m.pipe.pending() &&
			began.Sub(lastTimed) < timedEvery-m.cfg.Check.Interval && !m.reloading() {
			if err := m.pipe.start(sched.due); err != nil {
				m.log.Debug("health check pipeline", "err", err)
			}
		}
		every := m.cfg.Check.Interval
		if fast {
			every = m.cfg.Check.FastInterval
		}
		clk.Set(sched.next(began, every))
	}
}

// pace is the check loop's schedule, on the process's grid (see tick), where a check
// shares its wake-up with the VRRP adverts due at the same time. due is when the current
// check was due: a probe it sends counts its wait from there, so its look, due an interval
// later, finds at least an interval waited however late either wake-up came (counted from
// the wake-up, a late send and a prompt look fell short of the interval, the look credited
// one timeout less than it stands for, and a hang was caught a fast interval late).
type pace struct{ due time.Time }

// next moves due to the next check, every after the one that began at began, and returns
// how long until then.
func (p *pace) next(began time.Time, every time.Duration) time.Duration {
	p.due = tick.Next(began, every)
	return time.Until(p.due)
}

// timedEvery is how often a check waits for its answer, so that the duration metrics
// measure HAProxy's answer time even while the checks are pipelined.
const timedEvery = 10 * time.Second

// canPipeline reports whether pipelined checks catch a hung HAProxy as early as blocking
// ones: the first look at a probe comes an interval after it was sent, when a blocking
// check would have failed 1 + (interval - timeout) / fast_interval times; that must not
// exceed fall.
func canPipeline(ck CheckConfig) bool {
	return ck.Interval <= ck.Timeout+time.Duration(ck.Fall-1)*ck.FastInterval
}

// answered reports whether HAProxy answered the check (whatever it said, but a soft
// stop): only then is a pipelined probe worth sending.
func answered(r CheckResult) bool {
	return r.OK() || r.Kind == KindFrontend || r.Kind == KindBackend
}

// checkOnce runs one check at now and appends its results to out: none while a pipelined
// probe is not yet overdue; for one overdue, the timeouts its wait stands for (see
// timeouts) and then a blocking check, since a session is not trusted to answer ever;
// otherwise the one result.
func (m *Manager) checkOnce(ctx context.Context, now time.Time, out []CheckResult) []CheckResult {
	if m.cfg.Mode == Managed {
		m.mu.Lock()
		up := m.proc != nil
		m.mu.Unlock()
		if !up {
			m.pipe.close()
			return append(out, CheckResult{At: now, Kind: KindNotRunning, Reason: "haproxy is not running"})
		}
	}
	sent := m.pipe.sent
	blocks, n, ok := m.pipe.look(now, m.cfg.Check.Timeout, m.cfg.Check.FastInterval)
	switch {
	case ok && blocks == nil && n == 0:
		return out
	case ok && blocks == nil:
		m.pipe.close()
		out = append(out, CheckResult{At: sent, Duration: now.Sub(sent), Pipelined: true, Repeat: n, Kind: KindTimeout,
			Reason: (&SocketError{Socket: m.pipe.name, Kind: KindTimeout, Timeout: m.cfg.Check.Timeout}).Error()})
	case ok:
		r := m.plan.judgeBlocks(blocks)
		r.At, r.Duration, r.Pipelined = sent, now.Sub(sent), true
		if r.Kind != KindStopping {
			return append(out, r)
		}
		// A stopping HAProxy (reloaded) waits for halod's session before it exits: close it,
		// and ask whoever listens now.
		m.pipe.close()
	}
	return append(out, m.probe(ctx))
}

// reloading reports whether a reload is in flight: no session is opened then, as it may
// reach the worker being stopped (reloadOnce drops the kept one before and after).
func (m *Manager) reloading() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reloads > 0
}

// transitioning reports whether the verdict may be about to flip.
func (m *Manager) transitioning() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hyst.transitioning() || m.serve.transitioning()
}

// probe runs one blocking check, bounded by check.timeout (and ctx).
func (m *Manager) probe(ctx context.Context) CheckResult {
	if m.cfg.StatsSocket == "" {
		return m.plan.probe(ctx, m.cfg.Check.Timeout, "master socket", m.cfg.MasterSocket)
	}
	return m.plan.probe(ctx, m.cfg.Check.Timeout, "stats socket", m.cfg.StatsSocket)
}
