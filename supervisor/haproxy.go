package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/halo-lb/halo/haproxy"
)

// managerAdapter joins *haproxy.Manager to the supervisor: its verdict is the health the
// instances track, its snapshot and counters become HAProxy's part of the status.
type managerAdapter struct {
	m *haproxy.Manager
}

var _ HAProxy = managerAdapter{}

// NewHAProxy builds the HAProxy manager of cfg; it starts nothing.
func NewHAProxy(cfg haproxy.Config, log *slog.Logger) (HAProxy, error) {
	m, err := haproxy.New(cfg, log)
	if err != nil {
		return nil, err
	}
	return managerAdapter{m}, nil
}

func (a managerAdapter) Run(ctx context.Context) error { return a.m.Run(ctx) }

func (a managerAdapter) Health() (HAProxyHealth, <-chan struct{}) {
	v, changed := a.m.Health()
	return HAProxyHealth{Healthy: v.Healthy, Serving: v.Serving, Known: v.Known, Reason: v.Reason}, changed
}

func (a managerAdapter) Reload(ctx context.Context) (Reload, error) {
	r, err := a.m.Reload(ctx)
	return reloadStatus(&r), err
}

func (a managerAdapter) Validate(ctx context.Context) error { return a.m.Validate(ctx) }

func reloadStatus(r *haproxy.ReloadResult) Reload {
	msg := r.Reason
	if msg == "" && len(r.NewWorkers) > 0 {
		msg = fmt.Sprintf("new worker %v", r.NewWorkers)
	}
	return Reload{At: r.Started, OK: r.OK(), Result: string(r.Outcome), Seconds: r.Duration.Seconds(), Message: msg}
}

func (a managerAdapter) Status() HAProxyStatus {
	s := a.m.Snapshot()
	c := a.m.Counters()
	st := HAProxyStatus{
		Mode: string(s.Mode), PID: s.PID, Running: s.Running, Healthy: s.Healthy, Degraded: s.Degraded, Reason: s.Reason,
		Since: s.Since, StartedAt: s.StartedAt, LastCheckSeconds: s.LastCheck.Duration.Seconds(),
		Reloads: s.Reloads, ReloadsFailed: s.ReloadsFailed, Restarts: s.Restarts,
		RestartsInPlace: s.RestartsInPlace, RestartingInPlace: s.RestartingInPlace, HeldSockets: s.HeldSockets,
		ReloadsByResult: map[string]uint64{}, CheckFailures: map[string]uint64{},
		CheckDuration: &Histogram{Bounds: c.CheckDuration.Bounds, Counts: c.CheckDuration.Counts, Count: c.CheckDuration.Count, Sum: c.CheckDuration.Sum},
	}
	if s.LastReload != nil {
		r := reloadStatus(s.LastReload)
		st.LastReload = &r
	}
	for _, o := range haproxy.ReloadOutcomes() {
		st.ReloadsByResult[string(o)] = c.Reloads[o]
	}
	kinds := haproxy.CheckKinds()
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	for _, k := range kinds {
		if k != haproxy.KindOK {
			st.CheckFailures[string(k)] = c.Checks[k]
		}
	}
	return st
}
