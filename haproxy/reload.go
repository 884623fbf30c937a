package haproxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReloadOutcome is how a reload ended: a small fixed set, fit for a metric label.
type ReloadOutcome string

// Reload outcomes.
const (
	// ReloadOK: the master loaded the configuration and a new worker runs it.
	ReloadOK ReloadOutcome = "ok"
	// ReloadInvalid: validation refused the configuration; nothing was sent to HAProxy,
	// which keeps serving the old one.
	ReloadInvalid ReloadOutcome = "invalid"
	// ReloadFailed: HAProxy could not be reloaded or said it failed (it keeps serving the
	// old configuration when it can).
	ReloadFailed ReloadOutcome = "failed"
	// ReloadTimeout: no verdict within reload_timeout.
	ReloadTimeout ReloadOutcome = "timeout"
)

// ReloadOutcomes lists every outcome, for metrics that want all label values present.
func ReloadOutcomes() []ReloadOutcome {
	return []ReloadOutcome{ReloadOK, ReloadInvalid, ReloadFailed, ReloadTimeout}
}

// Sentinels a Reload error matches (errors.Is), besides ErrInvalid for ReloadInvalid.
var (
	ErrReloadFailed  = errors.New("haproxy: reload failed")
	ErrReloadTimeout = errors.New("haproxy: reload timed out")
)

// ReloadResult describes one reload.
type ReloadResult struct {
	// Seq numbers the reloads of this Manager from 1; callers that were coalesced into
	// one reload get the same Seq.
	Seq uint64
	// Callers is how many Reload calls this reload served.
	Callers  int
	Outcome  ReloadOutcome
	Started  time.Time
	Duration time.Duration
	// Validation is the part of Duration spent validating (`haproxy -c` and the lint).
	Validation time.Duration
	// Reason says why the reload did not succeed: HAProxy's own message for an invalid
	// configuration.
	Reason string
	// Warnings are the validation's warnings.
	Warnings []string
	// OldWorkers were the workers before; NewWorkers the ones the reload created;
	// Draining are old workers still finishing their connections.
	OldWorkers, NewWorkers, Draining []int
	// MasterReloads and MasterFailed are the master's counters after the reload.
	MasterReloads, MasterFailed int
}

// OK reports whether the reload succeeded.
func (r ReloadResult) OK() bool { return r.Outcome == ReloadOK }

type reloadCall struct {
	done    chan struct{}
	callers int
	res     ReloadResult
	err     error
}

// Reload validates the configuration files and, if they are valid, reloads HAProxy
// through the master CLI and verifies the reload with `show proc` (the master's reload
// and failed counters, a new worker; on HAProxy 2.7+ also the Success= answer), all
// within reload_timeout. An invalid configuration is never sent: the error matches
// ErrInvalid and HAProxy keeps serving the old one. Calls made while a reload runs are
// coalesced into one reload that starts after it, so every caller's edits are seen.
// ctx bounds the wait of this caller only.
func (m *Manager) Reload(ctx context.Context) (ReloadResult, error) {
	m.rmu.Lock()
	var c *reloadCall
	if m.rcur == nil {
		c = &reloadCall{done: make(chan struct{})}
		m.rcur = c
		go m.reloadLoop(c)
	} else {
		if m.rnext == nil {
			m.rnext = &reloadCall{done: make(chan struct{})}
		}
		c = m.rnext
	}
	c.callers++
	m.rmu.Unlock()
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		return ReloadResult{}, fmt.Errorf("haproxy: reload: %w", ctx.Err())
	}
}

// reloadLoop runs c, then the reload coalesced behind it, if any.
func (m *Manager) reloadLoop(c *reloadCall) {
	for c != nil {
		m.rmu.Lock()
		callers := c.callers
		m.rmu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ReloadTimeout)
		c.res, c.err = m.reloadOnce(ctx, callers)
		cancel()
		close(c.done)
		m.rmu.Lock()
		c, m.rnext = m.rnext, nil
		m.rcur = c
		m.rmu.Unlock()
	}
}

func (m *Manager) reloadOnce(ctx context.Context, callers int) (ReloadResult, error) {
	m.mu.Lock()
	m.reloadSq++
	m.reloads++
	res := ReloadResult{Seq: m.reloadSq, Callers: callers, Started: time.Now(), MasterFailed: -1}
	m.mu.Unlock()
	// The check's kept session would hold the old worker back from exiting (at start) or
	// may have reached it again (at the end): either way the next check reconnects.
	m.pipe.drop()
	err := m.doReload(ctx, &res)
	m.pipe.drop()
	res.Duration = time.Since(res.Started)
	m.mu.Lock()
	m.reloads--
	// A refused reload leaves the old frontends paused until the master has resumed them;
	// a check or two later they are open again.
	m.reloadSettled = time.Now().Add(2 * m.cfg.Check.Interval)
	m.mu.Unlock()
	if err != nil && res.Reason == "" {
		res.Reason = err.Error()
	}
	m.mu.Lock()
	r := res
	m.st.LastReload = &r
	if res.OK() {
		m.st.Reloads++
	} else {
		m.st.ReloadsFailed++
	}
	m.ctr.Reloads[res.Outcome]++
	m.mu.Unlock()
	if res.OK() {
		m.log.Info("haproxy reloaded", "seq", res.Seq, "seconds", res.Duration.Seconds(), "new_workers", res.NewWorkers, "callers", callers)
	} else {
		m.log.Error("haproxy reload", "seq", res.Seq, "outcome", res.Outcome, "err", res.Reason)
	}
	m.emit(&Reloaded{Result: res})
	return res, err
}

func (m *Manager) doReload(ctx context.Context, res *ReloadResult) error {
	fail := func(o ReloadOutcome, sentinel error, format string, args ...any) error {
		res.Outcome, res.Reason = o, fmt.Sprintf(format, args...)
		return fmt.Errorf("%w: %s", sentinel, res.Reason)
	}
	if m.cfg.Mode == Managed {
		m.mu.Lock()
		up := m.proc != nil
		m.mu.Unlock()
		if !up {
			return fail(ReloadFailed, ErrReloadFailed, "haproxy is not running")
		}
	}
	if m.cfg.MasterSocket == "" {
		return fail(ReloadFailed, ErrReloadFailed, "no master socket configured: halo reloads through the master CLI")
	}
	vstart := time.Now()
	rep, err := m.ValidateReport(ctx)
	res.Validation = time.Since(vstart)
	for _, w := range rep.Warnings() {
		res.Warnings = append(res.Warnings, w.String())
	}
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			res.Outcome, res.Reason = ReloadInvalid, err.Error()
			return err
		}
		if ctx.Err() != nil {
			return fail(ReloadTimeout, ErrReloadTimeout, "validation not finished within %s", m.cfg.ReloadTimeout)
		}
		return fail(ReloadFailed, ErrReloadFailed, "validate: %v", err)
	}
	before, err := m.showProc(ctx, time.Second)
	if err != nil {
		return fail(ReloadFailed, ErrReloadFailed, "show proc before reload: %v", err)
	}
	for _, w := range before.Workers {
		res.OldWorkers = append(res.OldWorkers, w.PID)
	}
	sent := time.Now()
	ans, err := masterCommand(ctx, m.cfg.ReloadTimeout, m.cfg.MasterSocket, "reload")
	if err != nil {
		var se *SocketError
		// The master re-executes itself and may cut the connection; only a reload that
		// never reached it is a failure here.
		if errors.As(err, &se) && se.Kind == KindConnect {
			return fail(ReloadFailed, ErrReloadFailed, "%v", err)
		}
	}
	// HAProxy 2.7+ answers "Success=1|0", "--", then the startup logs; 2.6 answers nothing.
	if ok, logs, known := parseReloadAnswer(ans); known && !ok {
		return fail(ReloadFailed, ErrReloadFailed, "haproxy refused the configuration: %s", logs)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fail(ReloadTimeout, ErrReloadTimeout, "no new worker within %s (master reloads %d, failed %d before)", m.cfg.ReloadTimeout, before.Reloads, before.Failed)
		case <-t.C:
		}
		p, err := m.showProc(ctx, 500*time.Millisecond)
		if err != nil {
			continue // the master is re-executing itself
		}
		res.MasterReloads, res.MasterFailed = p.Reloads, p.Failed
		if p.MasterPID != before.MasterPID {
			return fail(ReloadFailed, ErrReloadFailed, "the master changed from pid %d to %d during the reload", before.MasterPID, p.MasterPID)
		}
		if before.Failed >= 0 && p.Failed > before.Failed {
			reason := fmt.Sprintf("haproxy could not load the new configuration (master failed reloads %d → %d); it keeps the old workers", before.Failed, p.Failed)
			if a := m.alertsSince(sent); len(a) > 0 {
				reason += ": " + strings.Join(a, "; ")
			}
			return fail(ReloadFailed, ErrReloadFailed, "%s", reason)
		}
		if p.Reloads <= before.Reloads {
			continue
		}
		res.NewWorkers = res.NewWorkers[:0]
		for _, w := range p.Workers {
			if !slices.Contains(res.OldWorkers, w.PID) {
				res.NewWorkers = append(res.NewWorkers, w.PID)
			}
		}
		if len(res.NewWorkers) == 0 {
			continue
		}
		for _, w := range p.OldWorkers {
			if slices.Contains(res.OldWorkers, w.PID) {
				res.Draining = append(res.Draining, w.PID)
			}
		}
		res.Outcome = ReloadOK
		return nil
	}
}

// parseReloadAnswer reads the master's answer to reload on HAProxy 2.7+: known is false
// for 2.6's empty answer.
func parseReloadAnswer(ans string) (ok bool, logs string, known bool) {
	ans = strings.TrimSpace(ans)
	if !strings.HasPrefix(ans, "Success=") {
		return false, "", false
	}
	first, rest, _ := strings.Cut(ans, "\n")
	rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "--"))
	var alerts []string
	for line := range strings.Lines(rest) {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "[ALERT]") {
			alerts = append(alerts, stripLogPrefix(l))
		}
	}
	logs = strings.Join(alerts, "; ")
	if logs == "" {
		logs = strings.ReplaceAll(rest, "\n", "; ")
	}
	return strings.TrimSpace(strings.TrimPrefix(first, "Success=")) == "1", logs, true
}

// showProc asks the master for `show proc`, bounded by timeout (and ctx).
func (m *Manager) showProc(ctx context.Context, timeout time.Duration) (Proc, error) {
	if m.cfg.MasterSocket == "" {
		return Proc{}, errors.New("no master socket")
	}
	out, err := masterCommand(ctx, timeout, m.cfg.MasterSocket, "show proc")
	if err != nil {
		return Proc{}, err
	}
	p, err := parseProc(out)
	if err == nil && m.cfg.Mode == External {
		m.mu.Lock()
		m.st.PID = p.MasterPID
		m.mu.Unlock()
	}
	return p, err
}
