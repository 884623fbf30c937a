package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/halo-lb/halo/vrrp"
)

// HAProxyHealth is the HAProxy side's verdict, after rise/fall.
type HAProxyHealth struct {
	// Healthy: every check passes. Serving: HAProxy answers and serves its frontends,
	// though a backend may be under its minimum (degraded); false when it is dead or hung.
	Healthy, Serving bool
	// Known is false until HAProxy has been judged at all.
	Known bool
	// Reason says why it is not Healthy.
	Reason string
}

// track hands a verdict to one instance: each applies its own policy for the two
// severities.
func track(vi *vrrp.Instance, h HAProxyHealth) {
	vi.SetTracked(vrrp.TrackerHAProxy, !h.Serving)
	vi.SetTracked(vrrp.TrackerHAProxyDegraded, h.Serving && !h.Healthy)
}

// HAProxy is what the supervisor needs of the HAProxy manager; NewHAProxy adapts
// *haproxy.Manager to it, tests use fakes.
type HAProxy interface {
	// Run supervises HAProxy until ctx ends (then stops a managed one gracefully).
	Run(ctx context.Context) error
	// Health returns the newest verdict and a channel closed when it changes: only the
	// latest value counts, so a flapping HAProxy can never queue, reorder or lose one.
	Health() (HAProxyHealth, <-chan struct{})
	// Reload validates the configuration and reloads HAProxy, verified.
	Reload(ctx context.Context) (Reload, error)
	// Validate checks the configuration without reloading.
	Validate(ctx context.Context) error
	// Status returns HAProxy's part of the snapshot.
	Status() HAProxyStatus
}

// Deps are what the supervisor is built from; cmd/halod fills them.
type Deps struct {
	Logger  *slog.Logger
	Version string
	// HAProxy is the HAProxy side; nil builds one from the config (NewHAProxy).
	HAProxy HAProxy
	// VRRPOptions returns the options of one instance; nil gives every instance the real
	// transport and VIP owner. Tests use it to run instances in memory.
	VRRPOptions func(cfg vrrp.InstanceConfig) vrrp.Options
	// Notify sends sd_notify states ("READY=1", "WATCHDOG=1", "STOPPING=1"); nil: none.
	Notify func(state string)
	// Watchdog is systemd's watchdog interval (0: off); WATCHDOG=1 is sent every half of
	// it while the loop is healthy.
	Watchdog time.Duration
	// NoControl runs without the control socket, for callers that drive the supervisor
	// through its methods (tests in a synctest bubble, where a socket's accept would keep
	// the fake clock from moving).
	NoControl bool
	// StateDir keeps the maintenance flag across restarts; empty: the control socket's
	// directory.
	StateDir string
}

// Supervisor owns the daemon's state: one Run loop; other goroutines talk to it through
// channels and read the snapshot through Status.
type Supervisor struct {
	deps Deps
	log  *slog.Logger
	hap  HAProxy

	reqs    chan request  // state-changing control requests, served one at a time by opsLoop
	sockets *vrrp.Sockets // the raw VRRP sockets the instances share

	// healthMu serialises every application of HAProxy's health to instances, so that an
	// instance started by a reload and a health change racing with it end in the right
	// state.
	healthMu sync.Mutex
	// hapStopped says why HAProxy's supervision ended for good; HAProxy counts as
	// failing from then on, whatever its last verdict. Guarded by healthMu.
	hapStopped string

	mu          sync.Mutex // guards what Status reads
	cfg         *Config
	instances   []*instance
	byName      map[string]*instance
	groups      map[string]*group
	maintenance bool
	configValid bool
}

type instance struct {
	vi     *vrrp.Instance
	cfg    vrrp.InstanceConfig
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	failure string // why Run last failed, while it waits to be restarted
}

// instanceRestart bounds the backoff of an instance whose Run failed (no address on its
// interface yet at boot, a socket error).
const (
	instanceRestartMin = time.Second
	instanceRestartMax = 30 * time.Second
)

// group is a running sync group.
type group struct {
	g      *vrrp.Group
	cfg    vrrp.SyncGroupConfig
	cancel context.CancelFunc
	done   chan struct{}
}

type request struct {
	ctx  context.Context
	req  Request
	resp chan Response
}

// New builds a supervisor for cfg; it starts nothing.
func New(cfg *Config, deps Deps) (*Supervisor, error) {
	if deps.Logger == nil {
		return nil, errors.New("supervisor: a logger is required")
	}
	s := &Supervisor{deps: deps, log: deps.Logger, cfg: cfg, reqs: make(chan request), configValid: true,
		byName: map[string]*instance{}, groups: map[string]*group{}, sockets: vrrp.NewSockets()}
	s.hap = deps.HAProxy
	if s.hap == nil {
		h, err := NewHAProxy(cfg.HAProxy, deps.Logger)
		if err != nil {
			return nil, err
		}
		s.hap = h
	}
	if s.deps.StateDir == "" {
		s.deps.StateDir = filepath.Dir(cfg.Control.Socket)
	}
	s.maintenance = s.loadMaintenance()
	return s, nil
}

func (s *Supervisor) maintenanceFile() string {
	return filepath.Join(s.deps.StateDir, "maintenance")
}

// loadMaintenance reads the flag an earlier run left: an operator who put the node in
// maintenance wants it kept out of MASTER across a restart of halod too.
func (s *Supervisor) loadMaintenance() bool {
	_, err := os.Stat(s.maintenanceFile())
	return err == nil
}

func (s *Supervisor) notify(state string) {
	if s.deps.Notify != nil {
		s.deps.Notify(state)
	}
}

// Run starts HAProxy supervision and every VRRP instance, joins them, serves the control
// socket, and on ctx's end shuts down in the order that loses the least: masters resign
// first (priority 0, VIPs kept until the backup has taken over) so clients are never left
// without a master, then HAProxy drains.
//
// The loop itself only applies health and pings the watchdog: control requests that may
// take long (a reload waits for HAProxy and for handovers) run on a worker of their own,
// so a slow reload never delays a failover or starves systemd's watchdog.
func (s *Supervisor) Run(ctx context.Context) error {
	var srv *ControlServer
	if !s.deps.NoControl {
		var err error
		if srv, err = NewControlServer(s.cfg.Control, HandlerFunc(s.submit), s.log); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	hapCtx, stopHAProxy := context.WithCancel(context.WithoutCancel(ctx))
	vrrpCtx, stopVRRP := context.WithCancel(context.WithoutCancel(ctx))
	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	// shutdown runs on every way out, in the order that loses the least.
	shutdown := func() {
		stopServer()
		stopVRRP()
		s.stopInstances()
		stopHAProxy()
		wg.Wait()
		if srv != nil {
			srv.Close()
		}
	}
	hapErr := make(chan error, 1)
	wg.Go(func() { hapErr <- s.hap.Run(hapCtx) })
	_, healthChanged := s.hap.Health()

	s.mu.Lock()
	cfg := s.cfg
	s.mu.Unlock()
	s.awaitFirstVerdict(ctx, cfg)
	for _, ic := range cfg.VRRP.Instances {
		if err := s.startInstance(vrrpCtx, ic); err != nil {
			s.log.Error("VRRP instance cannot start", "instance", ic.Name, "err", err)
			shutdown()
			return err
		}
	}
	// Groups join running instances: none can become master before a master-down
	// interval, far longer than this takes.
	for _, gc := range cfg.VRRP.SyncGroups {
		if err := s.startGroup(vrrpCtx, gc); err != nil {
			s.log.Error("sync group cannot start", "group", gc.Name, "err", err)
			shutdown()
			return err
		}
	}
	srvErr := make(chan error, 1)
	if srv != nil {
		wg.Go(func() { srvErr <- srv.Serve(srvCtx) })
	}
	wg.Go(func() { s.opsLoop(srvCtx, vrrpCtx) })

	s.mu.Lock()
	maint := s.maintenance // a maintenance request may already be in
	s.mu.Unlock()
	s.notify("READY=1")
	s.log.Info("halod running", "config", cfg.Path(), "control", cfg.Control.Socket,
		"instances", len(cfg.VRRP.Instances), "maintenance", maint)

	var watchdog <-chan time.Time
	if s.deps.Watchdog > 0 {
		t := time.NewTicker(s.deps.Watchdog / 2)
		defer t.Stop()
		watchdog = t.C
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-healthChanged:
			healthChanged = s.applyHealth()
		case err := <-hapErr:
			// The manager returns early only when it cannot work at all (the haproxy
			// binary is missing, say); VRRP goes on with HAProxy judged unhealthy, so
			// tracked instances leave MASTER.
			s.log.Error("HAProxy supervision stopped", "err", err)
			s.healthMu.Lock()
			s.hapStopped = fmt.Sprintf("supervision stopped: %v", err)
			s.healthMu.Unlock()
			healthChanged = s.applyHealth()
			hapErr = nil
		case err := <-srvErr:
			runErr = err
			break loop
		case <-watchdog:
			s.notify("WATCHDOG=1")
		}
	}
	s.notify("STOPPING=1")
	s.log.Info("halod stopping: resigning VRRP instances, then stopping HAProxy")
	shutdown()
	return runErr
}

func (s *Supervisor) startInstance(ctx context.Context, ic vrrp.InstanceConfig) error {
	var opts vrrp.Options
	if s.deps.VRRPOptions != nil {
		opts = s.deps.VRRPOptions(ic)
	}
	if opts.Logger == nil {
		opts.Logger = s.log
	}
	if opts.Transport == nil && opts.Sockets == nil {
		opts.Sockets = s.sockets
	}
	vi, err := vrrp.NewInstance(ic, opts)
	if err != nil {
		return err
	}
	in := &instance{vi: vi, cfg: ic, done: make(chan struct{})}
	ictx, cancel := context.WithCancel(ctx)
	in.cancel = cancel
	// Registered and given HAProxy's health under healthMu, so a health change cannot
	// slip between the two.
	s.healthMu.Lock()
	s.mu.Lock()
	maint := s.maintenance
	s.instances = append(s.instances, in)
	s.byName[ic.Name] = in
	s.mu.Unlock()
	if maint {
		vi.SetMaintenance(true)
	}
	// Until HAProxy's first verdict (healthy is false before it), a tracked instance
	// counts it as failing: a node must not take the VIP before its HAProxy can serve.
	track(vi, s.currentHealth())
	s.healthMu.Unlock()
	go s.runInstance(ictx, in)
	return nil
}

// runInstance runs one instance, restarting it with backoff when Run fails (its interface
// has no address yet at boot, a socket error): one broken instance must not stay dead, nor
// take the daemon down with it.
func (s *Supervisor) runInstance(ctx context.Context, in *instance) {
	defer close(in.done)
	delay := instanceRestartMin
	for {
		started := time.Now()
		err := in.vi.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > instanceRestartMax {
			delay = instanceRestartMin
		}
		msg := "stopped"
		if err != nil {
			msg = err.Error()
		}
		in.mu.Lock()
		in.failure = fmt.Sprintf("instance failed: %s; restarting in %s", msg, delay)
		in.mu.Unlock()
		s.log.Error("VRRP instance failed, restarting", "instance", in.cfg.Name, "err", err, "restart_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		in.mu.Lock()
		in.failure = ""
		in.mu.Unlock()
		delay = min(2*delay, instanceRestartMax)
	}
}

func (s *Supervisor) startGroup(ctx context.Context, gc vrrp.SyncGroupConfig) error {
	s.mu.Lock()
	var members []*vrrp.Instance
	for _, name := range gc.Instances {
		if in := s.byName[name]; in != nil {
			members = append(members, in.vi)
		}
	}
	s.mu.Unlock()
	g, err := vrrp.NewGroup(gc, members, vrrp.GroupOptions{Logger: s.log})
	if err != nil {
		return err
	}
	gctx, cancel := context.WithCancel(ctx)
	gr := &group{g: g, cfg: gc, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(gr.done)
		if err := g.Run(gctx); err != nil {
			s.log.Error("sync group stopped", "group", gc.Name, "err", err)
		}
	}()
	s.mu.Lock()
	s.groups[gc.Name] = gr
	s.mu.Unlock()
	return nil
}

// stopGroup detaches a group from its members (which keep running) before a reload
// replaces it.
func (s *Supervisor) stopGroup(name string) {
	s.mu.Lock()
	gr := s.groups[name]
	delete(s.groups, name)
	s.mu.Unlock()
	if gr != nil {
		gr.g.Close()
		gr.cancel() // a closed group's Run returns once its queued hooks ran
		<-gr.done
	}
}

// stopInstances stops every instance and waits: each master sends priority 0 and hands
// over, keeping its VIPs until the new master speaks (at most about four advert
// intervals), so HAProxy, stopped after this, serves until then.
func (s *Supervisor) stopInstances() {
	s.mu.Lock()
	ins := s.instances
	groups := s.groups
	s.instances, s.byName, s.groups = nil, map[string]*instance{}, map[string]*group{}
	s.mu.Unlock()
	for _, in := range ins {
		in.cancel()
	}
	for _, in := range ins {
		<-in.done
	}
	for _, gr := range groups {
		<-gr.done // a group's Run returns once its members have stopped
	}
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

// Status returns the one snapshot, built now from the live parts.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	cfg := s.cfg
	ins := append([]*instance(nil), s.instances...)
	st := Status{
		Version:     s.deps.Version,
		ConfigFile:  cfg.Path(),
		ConfigValid: s.configValid,
		Maintenance: s.maintenance,
	}
	s.mu.Unlock()
	st.HAProxy = s.hap.Status()
	s.mu.Lock()
	groups := make([]*group, 0, len(s.groups))
	for _, gc := range cfg.VRRP.SyncGroups {
		if gr := s.groups[gc.Name]; gr != nil {
			groups = append(groups, gr)
		}
	}
	s.mu.Unlock()
	for _, in := range ins {
		is := instanceStatus(in.vi.Snapshot())
		in.mu.Lock()
		if in.failure != "" {
			is.Faults = append(is.Faults, in.failure)
		}
		in.mu.Unlock()
		st.Instances = append(st.Instances, is)
	}
	for _, gr := range groups {
		gs := gr.g.Snapshot()
		st.SyncGroups = append(st.SyncGroups, SyncGroupStatus{Name: gs.Name, Instances: gs.Members, State: gs.State.String(), Since: gs.Since})
	}
	return st
}

func instanceStatus(sn vrrp.Snapshot) InstanceStatus {
	is := InstanceStatus{
		Name: sn.Name, Interface: sn.Interface, VRID: sn.VRID, Version: sn.Version,
		State: sn.State.String(), Since: sn.Since,
		Priority: sn.Priority, EffectivePriority: sn.EffectivePriority,
		HoldsVIPs: sn.HoldsVIPs, Faults: sn.Faults, SyncGroup: sn.SyncGroup,
		AdvertsSent: sn.Counters.AdvertsSent, AdvertsReceived: sn.Counters.AdvertsReceived,
		InvalidByReason: sn.Counters.Invalid,
		HookRuns:        sn.Counters.HookRuns, HookFailures: sn.Counters.HookFailures + sn.Counters.HookTimeouts,
		VIPErrors: sn.Counters.VIPErrors, SendErrors: sn.Counters.SendErrors, VIPRestores: sn.Counters.VIPRestores,
	}
	for _, v := range sn.VIPs {
		is.VIPs = append(is.VIPs, v.String())
	}
	if sn.MasterSeen.IsValid() {
		is.MasterSeen = sn.MasterSeen.String()
	}
	for _, n := range sn.Counters.Invalid {
		is.InvalidPackets += n
	}
	for k, n := range sn.Counters.Transitions {
		is.Transitions += n
		is.TransitionCounts = append(is.TransitionCounts, TransitionCount{From: k.From.String(), To: k.To.String(), Count: n})
	}
	sort.Slice(is.TransitionCounts, func(i, j int) bool {
		a, b := is.TransitionCounts[i], is.TransitionCounts[j]
		return a.From < b.From || a.From == b.From && a.To < b.To
	})
	if sn.Maintenance {
		is.Faults = append(is.Faults, "maintenance")
	}
	return is
}

// applyVRRP starts, stops or restarts the instances whose config changed, and touches
// nothing else. keepalived's reload drops every VIP and can switch over (its issues #2159,
// #754); halo's does neither for an unchanged instance.
func (s *Supervisor) applyVRRP(ctx context.Context, old, cfg *Config) (string, error) {
	oldBy := map[string]vrrp.InstanceConfig{}
	for _, ic := range old.VRRP.Instances {
		oldBy[ic.Name] = ic
	}
	newBy := map[string]bool{}
	var added, removed, restarted, kept []string
	for _, ic := range cfg.VRRP.Instances {
		newBy[ic.Name] = true
		prev, ok := oldBy[ic.Name]
		switch {
		case !ok:
			added = append(added, ic.Name)
		case !reflect.DeepEqual(prev, ic):
			restarted = append(restarted, ic.Name)
		default:
			kept = append(kept, ic.Name)
		}
	}
	for _, ic := range old.VRRP.Instances {
		if !newBy[ic.Name] {
			removed = append(removed, ic.Name)
		}
	}
	// A group whose config changed, or one of whose members is replaced, is rebuilt; it is
	// detached before its members stop so that it does not move the ones that stay.
	touched := append(append(append([]string(nil), added...), removed...), restarted...)
	var regroup []vrrp.SyncGroupConfig
	for _, gc := range old.VRRP.SyncGroups {
		s.mu.Lock()
		_, running := s.groups[gc.Name]
		s.mu.Unlock()
		if !running {
			continue
		}
		keep := false
		for _, ng := range cfg.VRRP.SyncGroups {
			if ng.Name == gc.Name && reflect.DeepEqual(ng, gc) && !slices.ContainsFunc(gc.Instances, func(n string) bool { return slices.Contains(touched, n) }) {
				keep = true
			}
		}
		if !keep {
			s.stopGroup(gc.Name)
		}
	}
	for _, ng := range cfg.VRRP.SyncGroups {
		s.mu.Lock()
		_, running := s.groups[ng.Name]
		s.mu.Unlock()
		if !running {
			regroup = append(regroup, ng)
		}
	}
	s.stopNamed(append(append([]string(nil), removed...), restarted...))
	var errs []error
	for _, ic := range cfg.VRRP.Instances {
		if slices.Contains(added, ic.Name) || slices.Contains(restarted, ic.Name) {
			if err := s.startInstance(ctx, ic); err != nil {
				s.log.Error("VRRP instance cannot start", "instance", ic.Name, "err", err)
				errs = append(errs, fmt.Errorf("instance %s: %w", ic.Name, err))
			}
		}
	}
	for _, gc := range regroup {
		if err := s.startGroup(ctx, gc); err != nil {
			s.log.Error("sync group cannot start", "group", gc.Name, "err", err)
			errs = append(errs, fmt.Errorf("sync group %s: %w", gc.Name, err))
		}
	}
	s.log.Info("halo.yaml reloaded", "kept", kept, "added", added, "removed", removed, "restarted", restarted)
	return fmt.Sprintf("%d instances kept, %d added, %d removed, %d restarted", len(kept), len(added), len(removed), len(restarted)), errors.Join(errs...)
}

// stopNamed stops the named instances, all at once: each may wait out a handover, and
// they would otherwise wait one after another.
func (s *Supervisor) stopNamed(names []string) {
	var stopping []*instance
	s.mu.Lock()
	for _, name := range names {
		in := s.byName[name]
		if in == nil {
			continue
		}
		delete(s.byName, name)
		s.instances = slices.DeleteFunc(s.instances, func(x *instance) bool { return x == in })
		stopping = append(stopping, in)
	}
	s.mu.Unlock()
	for _, in := range stopping {
		in.cancel()
	}
	for _, in := range stopping {
		<-in.done
	}
}
