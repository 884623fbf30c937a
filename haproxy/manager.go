package haproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"
)

// ErrRunning is returned by Run when the Manager already runs.
var ErrRunning = errors.New("haproxy: manager already running")

// Event is what a Manager reports to its observer (OnEvent): *Started, *Exited,
// *HealthChanged or *Reloaded.
type Event interface{ event() }

// Started: a managed HAProxy master was started.
type Started struct {
	At  time.Time
	PID int
	// Restart is false for the first start of Run, true for a restart after an exit.
	Restart bool
}

// Exited: a managed HAProxy master exited.
type Exited struct {
	At     time.Time
	PID    int
	Uptime time.Duration
	// Err is the exit status (nil for a clean exit).
	Err error
	// Stopping is true when halod stopped it; otherwise it restarts after RestartIn.
	Stopping  bool
	RestartIn time.Duration
	// InPlace: it crashed and is restarted at once on the listening sockets halod
	// holds, the health verdict kept (restart_in_place).
	InPlace bool
}

// HealthChanged: the rise/fall verdict flipped.
type HealthChanged struct {
	At      time.Time
	Healthy bool
	// Degraded: serving, but a backend is under its minimum (backend_severity degraded).
	Degraded bool
	// Reason says why HAProxy is unhealthy (empty when healthy).
	Reason string
	// Check is the check that flipped the verdict.
	Check CheckResult
}

// Reloaded: a reload finished (whatever its outcome).
type Reloaded struct{ Result ReloadResult }

func (*Started) event()       {}
func (*Exited) event()        {}
func (*HealthChanged) event() {}
func (*Reloaded) event()      {}

// Status is HAProxy's part of the status snapshot.
type Status struct {
	Mode Mode
	// PID is the master halod started (managed); in external mode the master's PID as
	// the master socket last reported it, else the worker's.
	PID int
	// WorkerPID and Version are what `show info` last said.
	WorkerPID int
	Version   string
	// Running: managed, the master process is alive; external, the last check got an
	// answer.
	Running bool
	Healthy bool
	// Degraded: not Healthy, but serving: only a backend is under its minimum
	// (check.backend_severity degraded).
	Degraded bool
	// Reason says why HAProxy is unhealthy (empty when healthy).
	Reason string
	// Since is when the current verdict began.
	Since time.Time
	// StartedAt is when the managed master was started; Uptime how long ago.
	StartedAt time.Time
	Uptime    time.Duration
	// LastCheck is the last health check (its Duration is the check latency).
	LastCheck CheckResult
	// LastReload is the last reload, nil before the first.
	LastReload *ReloadResult
	// Reloads counts successful reloads, ReloadsFailed the others (invalid included).
	Reloads, ReloadsFailed int
	// Restarts counts restarts of a managed HAProxy after it exited.
	Restarts int
	// RestartingInPlace: HAProxy crashed and is being restarted in place; the verdict is
	// the one from before the crash until it serves again or restart_in_place.within
	// passes. RestartsInPlace counts those restarts (a part of Restarts).
	RestartingInPlace bool
	RestartsInPlace   int
	// HeldSockets is how many of HAProxy's listening sockets halod holds copies of
	// (restart_in_place); 0 when it holds none (and a crash fails over).
	HeldSockets int
}

// Histogram is a cumulative histogram, as Prometheus' const histograms want it.
type Histogram struct {
	// Bounds are the buckets' upper bounds in seconds; Counts[i] counts observations
	// <= Bounds[i] (cumulative).
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

func (h *Histogram) observe(d time.Duration) {
	s := d.Seconds()
	for i, le := range h.Bounds {
		if s <= le {
			h.Counts[i]++
		}
	}
	h.Count++
	h.Sum += s
}

func (h Histogram) clone() Histogram {
	h.Bounds, h.Counts = append([]float64(nil), h.Bounds...), append([]uint64(nil), h.Counts...)
	return h
}

// checkBuckets are the check-duration buckets, in seconds: a check answers in well under
// a millisecond on a small config and is cut at check.timeout (100ms by default).
func checkBuckets() []float64 {
	return []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
}

// Counters are the Manager's monotonic counters, for metrics (`_total` series).
type Counters struct {
	// Checks counts health checks by kind (KindOK for the passing ones).
	Checks map[CheckKind]uint64
	// CheckDuration is the distribution of check durations.
	CheckDuration Histogram
	// Reloads counts reloads by outcome.
	Reloads map[ReloadOutcome]uint64
	// Restarts counts restarts of a managed HAProxy; RestartsInPlace the part of them
	// made in place after a crash.
	Restarts, RestartsInPlace uint64
}

// Manager runs (managed) or attaches to (external) one HAProxy: process supervision,
// health checks, validation and reloads. Build it with New, then Run it.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	hlog *slog.Logger // HAProxy's own output, source=haproxy
	v    validator
	plan checkPlan
	pipe *pipeline // the check loop's own
	// pipelining: the checks may be pipelined (canPipeline).
	pipelining bool
	observe    func(Event) // set by OnEvent before Run

	mu      sync.Mutex // guards what follows
	st      Status
	verdict Verdict
	changed chan struct{} // closed when verdict changes, then replaced
	// hyst judges the checks (fully healthy), serve only the failures that stop HAProxy
	// serving (a backend under its minimum does not, with backend_severity degraded).
	hyst  hysteresis
	serve hysteresis
	// reloads counts reloads in flight; reloadSettled is when the last one's effects on
	// the checks are over.
	reloads       int
	reloadSettled time.Time
	judged        int // checks fed to the hysteresis
	ctr           Counters
	alerts        []alert // HAProxy's recent [ALERT] lines, for reload failures
	running       bool
	proc          *child
	priors        []*prior // masters a previous halod left, until they are gone
	reloadSq      uint64
	ip            inPlace

	hold *listenerHold // copies of HAProxy's listening sockets (restart_in_place)

	pmu sync.Mutex // serialises writes of the pid file

	bg sync.WaitGroup // background work Run waits for (log pumps of exited processes)

	rmu         sync.Mutex // guards the reload coalescing
	rcur, rnext *reloadCall
}

type alert struct {
	at   time.Time
	text string
}

// New checks cfg (after ApplyDefaults) and builds a Manager. It starts nothing and
// touches nothing outside itself.
func New(cfg Config, log *slog.Logger) (*Manager, error) {
	if log == nil {
		return nil, errors.New("haproxy: a logger is required")
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("haproxy: config: %w", err)
	}
	m := &Manager{
		cfg:     cfg,
		log:     log,
		hlog:    log.With("source", "haproxy"),
		v:       validator{cfg: cfg, env: hostEnvironment()},
		plan:    newCheckPlan(cfg.Check, cfg.StatsSocket == ""),
		changed: make(chan struct{}),
		hold:    newListenerHold(),
		hyst:    hysteresis{rise: cfg.Check.Rise, fall: cfg.Check.Fall},
		serve:   hysteresis{rise: cfg.Check.Rise, fall: cfg.Check.Fall},
		ctr: Counters{
			Checks:        map[CheckKind]uint64{},
			CheckDuration: Histogram{Bounds: checkBuckets(), Counts: make([]uint64, len(checkBuckets()))},
			Reloads:       map[ReloadOutcome]uint64{},
		},
	}
	if cfg.StatsSocket != "" {
		m.pipe = newPipeline(m.plan, "stats socket", cfg.StatsSocket)
	} else {
		m.pipe = newPipeline(m.plan, "master socket", cfg.MasterSocket)
	}
	m.pipelining = canPipeline(cfg.Check)
	m.st = Status{Mode: cfg.Mode, Reason: "not checked yet", Since: time.Now()}
	m.verdict = Verdict{Reason: m.st.Reason, Since: m.st.Since}
	return m, nil
}

// Config returns the configuration the Manager runs with (defaults applied).
func (m *Manager) Config() Config { return m.cfg }

// OnEvent sets a function called with every event, in order, from the goroutine that
// caused it; it must return at once. Set it before Run. It is for observers (tests, a
// log); health reaches its users through Health, which loses nothing.
func (m *Manager) OnEvent(f func(Event)) { m.observe = f }

func (m *Manager) emit(e Event) {
	if m.observe != nil {
		m.observe(e)
	}
}

// Run supervises HAProxy until ctx ends. Managed: starts HAProxy, restarts it when it
// exits, and stops it gracefully (soft stop, then SIGKILL after stop_timeout) when ctx
// ends. External: never starts or signals anything. Both: health checks every
// check.interval. It returns nil after a clean stop.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return ErrRunning
	}
	m.running = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { m.checkLoop(ctx) })
	if m.cfg.Mode == Managed && m.cfg.RestartInPlace.On() {
		wg.Go(func() { m.holdListeners(ctx) })
	}
	var err error
	if m.cfg.Mode == Managed {
		err = m.supervise(ctx)
	} else {
		attrs := []any{"stats_socket", m.cfg.StatsSocket, "master_socket", m.cfg.MasterSocket}
		if p, err := m.showProc(ctx, time.Second); err == nil {
			attrs = append(attrs, "master_pid", p.MasterPID, "version", p.Version)
		} else if m.cfg.MasterSocket != "" {
			attrs = append(attrs, "err", err)
		}
		m.log.Info("attached to an external haproxy", attrs...)
		<-ctx.Done()
	}
	cancel()
	wg.Wait()
	m.bg.Wait()
	return err
}

func (m *Manager) started(c *child, restart bool) {
	m.mu.Lock()
	m.proc = c
	m.st.PID, m.st.Running, m.st.StartedAt = c.pid, true, c.started
	if restart {
		m.st.Restarts++
		m.ctr.Restarts++
	}
	m.mu.Unlock()
	m.log.Info("haproxy started", "pid", c.pid, "restart", restart, "args", m.cfg.args())
	m.emit(&Started{At: c.started, PID: c.pid, Restart: restart})
}

func (m *Manager) exited(c *child, err error, restartIn time.Duration, stopping bool) {
	now := time.Now()
	up := now.Sub(c.started)
	m.mu.Lock()
	if m.proc == c {
		m.proc = nil
		m.st.PID, m.st.Running, m.st.WorkerPID = 0, false, 0
	}
	changed := m.serve.down()
	changed = m.hyst.down() || changed
	m.st.Degraded = false
	reason := fmt.Sprintf("haproxy exited (pid %d): %v", c.pid, exitText(err))
	if stopping {
		reason = "haproxy stopped"
	}
	m.st.Healthy, m.st.Reason = false, reason
	if changed || !m.verdict.Known {
		m.st.Since = now
		m.publishLocked()
	}
	m.mu.Unlock()
	if stopping {
		m.log.Info("haproxy stopped", "pid", c.pid, "uptime", up.Round(time.Millisecond), "status", exitText(err))
	} else {
		m.log.Error("haproxy exited", "pid", c.pid, "uptime", up.Round(time.Millisecond), "err", exitText(err), "restart_in", restartIn)
	}
	m.emit(&Exited{At: now, PID: c.pid, Uptime: up, Err: err, Stopping: stopping, RestartIn: restartIn})
	if changed {
		m.emit(&HealthChanged{At: now, Healthy: false, Reason: reason})
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (m *Manager) noteAlert(text string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.alerts = append(m.alerts, alert{at: time.Now(), text: text})
	if len(m.alerts) > 32 {
		m.alerts = append(m.alerts[:0], m.alerts[len(m.alerts)-32:]...)
	}
}

func (m *Manager) alertsSince(t time.Time) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, a := range m.alerts {
		if !a.at.Before(t) {
			out = append(out, a.text)
		}
	}
	return out
}

// Snapshot returns the current status.
func (m *Manager) Snapshot() Status {
	held := m.hold.count()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.st
	s.HeldSockets = held
	if s.Running && !s.StartedAt.IsZero() {
		s.Uptime = time.Since(s.StartedAt)
	}
	if s.LastReload != nil {
		r := *s.LastReload
		s.LastReload = &r
	}
	return s
}

// Counters returns a copy of the counters.
func (m *Manager) Counters() Counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.ctr
	c.Checks = maps.Clone(c.Checks)
	c.Reloads = maps.Clone(c.Reloads)
	c.CheckDuration = c.CheckDuration.clone()
	return c
}

// Validate checks the configuration files as a reload would (`haproxy -c` and the lint),
// without reloading. Warnings are logged; the error is a *ValidationError when the files
// are refused.
func (m *Manager) Validate(ctx context.Context) error {
	_, err := m.ValidateReport(ctx)
	return err
}

// ValidateReport is Validate with the full report (warnings included).
func (m *Manager) ValidateReport(ctx context.Context) (Report, error) {
	r, err := m.v.validate(ctx)
	for _, w := range r.Warnings() {
		m.log.Warn("haproxy.cfg", "warning", w.String())
	}
	return r, err
}
