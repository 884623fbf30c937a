package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/halo-lb/halo/bgp"
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
	// BGPOptions returns the BGP speaker's options; nil: the real netlink binder.
	BGPOptions func() bgp.Options
}

// Supervisor owns the daemon's state: one Run loop; other goroutines talk to it through
// channels and read the snapshot through Status.
type Supervisor struct {
	deps Deps
	log  *slog.Logger
	hap  HAProxy

	ready   atomic.Bool   // Run got as far as READY=1
	reqs    chan request  // state-changing control requests, served one at a time by opsLoop
	sockets *vrrp.Sockets // the raw VRRP sockets the instances share
	timers  *vrrp.Timers  // the clock their deadlines share
	changes *changeFeed   // the status's generation, for watchers (watch.go)
	host    string        // the node's hostname, shown in the status

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
	bgp         *bgpRun // nil without a bgp section
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
		byName: map[string]*instance{}, groups: map[string]*group{}, sockets: vrrp.NewSockets(), timers: vrrp.NewTimers(), changes: newChangeFeed()}
	s.host, _ = os.Hostname()
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

// Started reports whether Run got as far as serving (READY=1): a Run that failed before
// never took over the node, and the VIPs a crashed predecessor left are not its to keep.
func (s *Supervisor) Started() bool { return s.ready.Load() }

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
		s.drainBGP(true) // the drain runs while the VRRP masters hand over
		stopVRRP()
		s.stopInstances()
		s.timers.Close()
		s.stopBGP()
		stopHAProxy()
		wg.Wait()
		if srv != nil {
			srv.Close()
		}
	}
	s.mu.Lock()
	bootCfg := s.cfg
	s.mu.Unlock()
	if err := s.startBGP(vrrpCtx, bootCfg); err != nil {
		s.log.Error("BGP cannot start", "err", err)
		shutdown()
		return err
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
	s.ready.Store(true)
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

// Status returns the one snapshot, built now from the live parts.
func (s *Supervisor) Status() Status {
	// The generation is read first: a change while the snapshot is built moves it on,
	// and the next long poll returns at once with that change.
	gen, _ := s.changes.current()
	s.mu.Lock()
	cfg := s.cfg
	ins := append([]*instance(nil), s.instances...)
	st := Status{
		Generation:  gen,
		Hostname:    s.host,
		Version:     s.deps.Version,
		ConfigFile:  cfg.Path(),
		ConfigValid: s.configValid,
		Maintenance: s.maintenance,
		Cluster:     cfg.Cluster,
	}
	s.mu.Unlock()
	st.HAProxy = s.hap.Status()
	st.BGP = s.bgpStatus()
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
	is.Resigned, is.Maintenance, is.Peers = sn.Resigned, sn.Maintenance, peerStatus(sn.Peers, time.Now())
	if sn.MasterSeen.IsValid() {
		is.MasterSeen = sn.MasterSeen.String()
		is.MasterPriority = sn.MasterPriority
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
