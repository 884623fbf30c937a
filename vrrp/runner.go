package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options are an instance's dependencies.
type Options struct {
	// Logger receives the instance's log lines; it is given the attribute instance=<name>.
	// Nil: discard.
	Logger *slog.Logger
	// Transport carries adverts; nil: raw sockets on the instance's interface, opened by
	// Run. Run closes it when it returns.
	Transport Transport
	// Owner holds the VIPs; nil: netlink and AF_PACKET (NewNetlinkOwner).
	Owner Owner
	// OnTransition is called for every state change, in order, from a goroutine of its
	// own: a slow callback delays later callbacks, never the state machine. Up to
	// maxPendingTransitions wait; beyond that the oldest are dropped and counted.
	OnTransition func(Transition)
	// Links watches the instance's interface and its track_interfaces: while one is down
	// (or missing) the instance is in FAULT, with the fault "link:<name>". Nil: a netlink
	// subscription (NewNetlinkLinkWatcher) when Run opens its own raw transport, and no
	// link tracking when Transport is given (an injected transport has no kernel link
	// behind it): give a watcher then to track links.
	Links LinkWatcher
	// Hooks runs the notify hooks of InstanceConfig.Notify; nil: NewExecHookRunner.
	Hooks HookRunner
}

// maxPendingTransitions bounds the transitions queued for a stalled OnTransition callback.
const maxPendingTransitions = 1024

// Transition is one state change of an instance.
type Transition struct {
	Instance string
	From, To State
	At       time.Time
	// Reason is why, in lower_snake words: "start", "master_down", "priority_0",
	// "preempted", "fault", "fault_cleared", "resign", "maintenance", "shutdown",
	// "sync_group" (its sync group made it follow another member).
	Reason string
}

// StateChange keys the transition counters.
type StateChange struct{ From, To State }

// Counters are an instance's event counts since it was created.
type Counters struct {
	// AdvertsSent and AdvertsReceived count adverts of this virtual router (received:
	// valid ones only), PriorityZero* the resignations among them.
	AdvertsSent, AdvertsReceived           uint64
	PriorityZeroSent, PriorityZeroReceived uint64
	// Invalid counts dropped packets by reason: "ttl", "too_short", "checksum",
	// "version", "type", "length", "interval", "address_family", "vrid", "auth",
	// "peer".
	Invalid map[string]uint64
	// OtherVRID counts packets of other virtual routers, ignored.
	OtherVRID uint64
	// AddressMismatch counts accepted adverts whose address list differs from ours
	// (RFC 5798 §7.1 says log, not drop; keepalived does the same).
	AddressMismatch uint64
	// SendErrors and VIPErrors count failed sends and failed VIP operations.
	SendErrors, VIPErrors uint64
	// Transitions counts state changes by from and to.
	Transitions map[StateChange]uint64
	// DroppedTransitions counts transitions the OnTransition queue had no room for.
	DroppedTransitions uint64
	// HookCounters count the instance's notify hooks (its group's are the group's).
	HookCounters
}

// Snapshot is an instance's state at one moment, for the status and metrics.
type Snapshot struct {
	Name      string
	Interface string
	VRID      int
	Version   int
	State     State
	// Since is when the instance entered State.
	Since time.Time
	// Priority is the configured priority, EffectivePriority the one advertised.
	Priority, EffectivePriority int
	// VIPs are the configured virtual addresses; HoldsVIPs says they are on the interface.
	VIPs      []netip.Prefix
	HoldsVIPs bool
	// Source is the primary address adverts go out from.
	Source netip.Addr
	// MasterSeen is the current master: this node's address while MASTER, the sender of
	// the last accepted advert in BACKUP; zero when none is known.
	MasterSeen     netip.Addr
	MasterPriority int
	// Faults are the names of the faults set, sorted; Weights the trackers' deltas.
	Faults      []string
	Weights     map[string]int
	Maintenance bool
	// SyncGroup is the name of the instance's sync group; empty when it is in none.
	SyncGroup string
	Counters  Counters
}

// Instance is one VRRP instance: it joins the codec, the state machine, a transport and a
// VIP owner. Create it with NewInstance, run it with Run; the control methods may be
// called from any goroutine, before or during Run.
type Instance struct {
	cfg  InstanceConfig
	opts Options
	log  *slog.Logger
	vips []netip.Addr

	wake chan struct{} // poked by the control methods; capacity 1

	mu       sync.Mutex // guards everything below
	ctl      control
	snap     Snapshot
	running  bool
	pending  []Transition
	notify   chan struct{} // poked when pending grows; capacity 1
	counters Counters
	hooks    *hookQueue // the running Run's notify hooks; nil when none are configured
	group    *Group     // the sync group, set by NewGroup; nil when in none
	gidx     int        // the index in group
}

// control is what the supervisor (and the sync group) ask for; the Run loop applies it
// to the machine.
type control struct {
	weights     map[string]int
	faults      map[string]bool
	maintenance bool
	resigns     int             // Resign calls not yet applied
	noPreempt   map[string]bool // SetNoPreempt holders

	// Set by the sync group: hold back from MASTER, follow to BACKUP, and the group's
	// merged weights (nil when in no group: weights apply).
	hold         bool
	syncBackups  int
	groupWeights map[string]int
}

// effectiveWeights returns the weights that make the priority.
func (c *control) effectiveWeights() map[string]int {
	if c.groupWeights != nil {
		return c.groupWeights
	}
	return c.weights
}

// NewInstance checks cfg (defaults applied) and returns an instance that has not started.
func NewInstance(cfg InstanceConfig, opts Options) (*Instance, error) {
	c := Config{Instances: []InstanceConfig{cfg}}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("vrrp: instance %q: %w", cfg.Name, err)
	}
	cfg = c.Instances[0]
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Instance{
		cfg:    cfg,
		opts:   opts,
		log:    log.With("instance", cfg.Name),
		wake:   make(chan struct{}, 1),
		notify: make(chan struct{}, 1),
		ctl:    control{weights: map[string]int{}, faults: map[string]bool{}},
	}
	for _, v := range cfg.VIPs {
		in.vips = append(in.vips, v.Prefix.Addr())
		in.snap.VIPs = append(in.snap.VIPs, v.Prefix)
	}
	in.snap.Name, in.snap.Interface, in.snap.VRID, in.snap.Version = cfg.Name, cfg.Interface, cfg.VRID, cfg.Version
	in.snap.State = StateInit
	in.snap.Priority, in.snap.EffectivePriority = cfg.Priority, cfg.Priority
	in.counters = Counters{Invalid: map[string]uint64{}, Transitions: map[StateChange]uint64{}}
	return in, nil
}

// vipStrings returns the configured VIPs as the status shows them.
func (in *Instance) vipStrings() []string {
	out := make([]string, len(in.cfg.VIPs))
	for i, v := range in.cfg.VIPs {
		out[i] = v.Prefix.String()
	}
	return out
}

// Name returns the instance's name.
func (in *Instance) Name() string { return in.cfg.Name }

// Config returns the instance's configuration, defaults applied.
func (in *Instance) Config() InstanceConfig { return in.cfg }

func (in *Instance) poke() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// SetTrackWeight sets the priority delta of the named tracker (a keepalived weighted
// track: applied while the tracked condition fails); 0 removes it. The effective priority
// is the configured one plus every delta, kept within 1..254; an address owner's 255 is
// never changed.
//
// In a sync group the weight applies to every member (see Group).
func (in *Instance) SetTrackWeight(name string, delta int) {
	in.mu.Lock()
	if delta == 0 {
		delete(in.ctl.weights, name)
	} else {
		in.ctl.weights[name] = delta
	}
	g := in.group
	in.mu.Unlock()
	if g != nil {
		g.syncWeights()
	}
	in.poke()
}

// setHold, syncBackup and setGroupWeights are the sync group's controls; its fault goes
// through SetFault, under a key of its own.
func (in *Instance) setHold(hold bool) {
	in.mu.Lock()
	in.ctl.hold = hold
	in.mu.Unlock()
	in.poke()
}

func (in *Instance) syncBackup() {
	in.mu.Lock()
	in.ctl.syncBackups++
	in.mu.Unlock()
	in.poke()
}

func (in *Instance) setGroupWeights(w map[string]int) {
	in.mu.Lock()
	in.ctl.groupWeights = w
	in.mu.Unlock()
	in.poke()
}

// detach leaves group g: its hold, fault and weights are lifted.
func (in *Instance) detach(g *Group) {
	in.mu.Lock()
	if in.group != g {
		in.mu.Unlock()
		return
	}
	in.group = nil
	in.snap.SyncGroup = ""
	in.ctl.hold = false
	in.ctl.groupWeights = nil
	delete(in.ctl.faults, g.faultKey)
	in.mu.Unlock()
	in.poke()
}

// SetFault sets or clears the named fault. While any fault is set the instance is in
// FAULT: it holds no VIP (they go at once, with no handover) and, if it was master, it
// sent priority 0 on the way.
func (in *Instance) SetFault(name string, fault bool) {
	in.mu.Lock()
	if fault {
		in.ctl.faults[name] = true
	} else {
		delete(in.ctl.faults, name)
	}
	in.mu.Unlock()
	in.poke()
}

// SetNoPreempt sets or clears the named reason not to preempt: while any is set the
// instance does not take MASTER from a lower-priority master (it still takes over when no
// master is heard, or when the master resigns). Clearing the last one also ends a Resign's
// yield. The supervisor sets it while HAProxy is unhealthy under a weighted track, so that
// a node whose HAProxy fails never becomes master by preemption.
func (in *Instance) SetNoPreempt(name string, on bool) {
	in.mu.Lock()
	if in.ctl.noPreempt == nil {
		in.ctl.noPreempt = map[string]bool{}
	}
	if on {
		in.ctl.noPreempt[name] = true
	} else {
		delete(in.ctl.noPreempt, name)
	}
	in.mu.Unlock()
	in.poke()
}

// Resign makes a master leave the role now: it sends priority 0, keeps its VIPs until the
// new master's advert arrives (at most Machine.HandoverTimeout), then removes them, and
// lets the new master keep the role until that one fails. On a backup it stops preemption
// in the same way.
func (in *Instance) Resign() {
	in.mu.Lock()
	in.ctl.resigns++
	in.mu.Unlock()
	in.poke()
}

// SetMaintenance keeps the instance out of MASTER (on: a master resigns and hands over as
// with Resign, a backup never takes over) or lets it compete again.
func (in *Instance) SetMaintenance(on bool) {
	in.mu.Lock()
	in.ctl.maintenance = on
	in.mu.Unlock()
	in.poke()
}

// Snapshot returns a copy of the instance's current state and counters.
func (in *Instance) Snapshot() Snapshot {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.snap
	s.VIPs = slices.Clone(s.VIPs)
	s.Faults = slices.Sorted(maps.Keys(in.ctl.faults))
	s.Weights = maps.Clone(in.ctl.effectiveWeights())
	s.Maintenance = in.ctl.maintenance
	s.Counters = in.counters
	s.Counters.Invalid = maps.Clone(in.counters.Invalid)
	s.Counters.Transitions = maps.Clone(in.counters.Transitions)
	return s
}

// effectivePriority applies the trackers' weights as keepalived does.
func (in *Instance) effectivePriority(weights map[string]int) uint8 {
	if in.cfg.Priority >= 255 {
		return 255
	}
	p := in.cfg.Priority
	for _, w := range weights {
		p += w
	}
	return uint8(min(max(p, 1), 254))
}

// received is a validated advert handed from the reader to the loop.
type received struct {
	src netip.Addr
	adv Advert
}

// Run speaks VRRP until ctx ends, then shuts down gracefully: a master sends priority 0
// and keeps its VIPs until it hears the new master's advert or Machine.HandoverTimeout
// (about four advert intervals) has passed, then removes them; so Run returns at most that
// long after ctx ends. It returns nil after a graceful shutdown, or the error that stopped
// it (the transport could not be opened, or failed for good).
func (in *Instance) Run(ctx context.Context) error {
	in.mu.Lock()
	if in.running {
		in.mu.Unlock()
		return fmt.Errorf("vrrp: instance %s is already running", in.cfg.Name)
	}
	in.running = true
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		in.running = false
		in.mu.Unlock()
	}()

	tr := in.opts.Transport
	if tr == nil {
		var err error
		tr, err = ListenTransport(ctx, in.transportConfig())
		if err != nil {
			return err
		}
	}
	owner := in.opts.Owner
	if owner == nil {
		owner = NewNetlinkOwner(in.cfg.Interface, in.cfg.VIPs)
	}
	defer owner.Close()

	// A crashed earlier run may have left the VIPs behind; a backup must not hold them.
	if err := owner.RemoveVIPs(); err != nil {
		in.log.Warn("removing stale VIPs", "err", err)
	}

	var wg sync.WaitGroup
	deliverDone := make(chan struct{})
	if in.opts.OnTransition != nil {
		wg.Go(func() { in.deliver(deliverDone) })
	}
	if !in.cfg.Notify.empty() {
		q := newHookQueue(in.opts.Hooks, in.log, func(f func(*HookCounters)) {
			in.mu.Lock()
			f(&in.counters.HookCounters)
			in.mu.Unlock()
		})
		in.mu.Lock()
		in.hooks = q
		in.mu.Unlock()
		// Hooks outlive ctx, so that the stop hook runs; each is bounded by its timeout.
		hookCtx := context.WithoutCancel(ctx)
		wg.Go(func() { q.work(hookCtx, deliverDone) })
	}

	// The link watcher, like the reader, outlives ctx: a link lost during a shutdown
	// handover still releases the VIPs at once.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	links := in.opts.Links
	if links == nil && in.opts.Transport == nil {
		links = NewNetlinkLinkWatcher(in.log)
	}
	if links != nil {
		in.watchLinks(ctx, watchCtx, links, &wg)
	}

	l := &loop{in: in, tr: tr, owner: owner, rx: make(chan received, 16), rxErr: make(chan error, 1)}
	l.src = tr.Source()
	in.mu.Lock()
	in.snap.Source = l.src
	in.mu.Unlock()
	// The reader outlives ctx: a stopping master still listens for the new master's
	// advert while it hands over.
	readerStop, readerDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(readerDone)
		l.read(readerStop)
	}()
	err := l.run(ctx)
	l.stopped = true
	l.report(time.Now()) // the sync group learns that this member has stopped
	close(readerStop)
	tr.Close()
	<-readerDone
	stopWatch()
	// The delivery and hook goroutines drain what is queued, the shutdown transition and
	// the stop hook included.
	close(deliverDone)
	wg.Wait()
	in.mu.Lock()
	in.hooks = nil
	for name := range in.ctl.faults {
		if strings.HasPrefix(name, linkFaultPrefix) {
			delete(in.ctl.faults, name) // the next Run reads the links afresh
		}
	}
	in.mu.Unlock()
	return err
}

// trackedLinks returns the interfaces whose loss puts the instance in FAULT: its own and
// its track_interfaces.
func (in *Instance) trackedLinks() []string {
	names := []string{in.cfg.Interface}
	for _, n := range in.cfg.TrackInterfaces {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// watchLinks starts the link watcher in wg and waits (at most linkSettle, or until ctx
// ends) for the first report of every tracked link, so that the machine starts in FAULT
// when one is down. A link down sets the fault "link:<name>", up clears it.
func (in *Instance) watchLinks(ctx, watchCtx context.Context, links LinkWatcher, wg *sync.WaitGroup) {
	names := in.trackedLinks()
	settled := make(chan struct{})
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	report := func(ls LinkState) {
		if !slices.Contains(names, ls.Name) {
			return
		}
		key := linkFaultPrefix + ls.Name
		in.mu.Lock()
		was := in.ctl.faults[key]
		if ls.Up {
			delete(in.ctl.faults, key)
		} else {
			in.ctl.faults[key] = true
		}
		in.mu.Unlock()
		mu.Lock()
		first := !seen[ls.Name]
		seen[ls.Name] = true
		if first && len(seen) == len(names) {
			close(settled)
		}
		mu.Unlock()
		switch {
		case was == !ls.Up && !first:
			return
		case ls.Up && was:
			in.log.Info("tracked interface up", "link", ls.Name)
		case !ls.Up && !was:
			in.log.Warn("tracked interface down", "link", ls.Name)
		}
		in.poke()
	}
	wg.Go(func() {
		if err := links.Watch(watchCtx, names, report); err != nil && watchCtx.Err() == nil {
			in.log.Error("link tracking stopped: link changes are no longer seen", "err", err)
		}
	})
	t := time.NewTimer(linkSettle)
	defer t.Stop()
	select {
	case <-settled:
	case <-t.C:
		in.log.Warn("tracked interfaces not reported in time; starting anyway", "links", names, "after", linkSettle)
	case <-ctx.Done():
	}
}

func (in *Instance) transportConfig() TransportConfig {
	tc := TransportConfig{Interface: in.cfg.Interface, IPv6: in.cfg.IPv6(), VRID: uint8(in.cfg.VRID)}
	for _, v := range in.cfg.VIPs {
		tc.VIPs = append(tc.VIPs, v.Prefix)
	}
	if u := in.cfg.Unicast; u != nil {
		if u.Source != "" {
			tc.Source, _ = netip.ParseAddr(u.Source) // checked by Validate
		}
		for _, p := range u.Peers {
			a, _ := netip.ParseAddr(p)
			tc.Peers = append(tc.Peers, a)
		}
	}
	return tc
}

// deliver calls OnTransition for queued transitions, in order, until done is closed and
// the queue is empty.
func (in *Instance) deliver(done <-chan struct{}) {
	for {
		in.mu.Lock()
		batch := in.pending
		in.pending = nil
		in.mu.Unlock()
		for _, t := range batch {
			in.opts.OnTransition(t)
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-in.notify:
		case <-done:
			in.mu.Lock()
			empty := len(in.pending) == 0
			in.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// loop is the state of one Run: only its goroutine touches the machine.
type loop struct {
	in    *Instance
	tr    Transport
	owner Owner
	src   netip.Addr
	m     *Machine
	rx    chan received
	rxErr chan error

	applied   control // the control state last applied to the machine
	stopped   bool    // Run is returning: reported to the sync group as not running
	reported  memberStatus
	reportTo  *Group // the group reported to last
	holds     bool
	vipErr    error     // the last AddVIPs failure, nil when every VIP went on
	garpAt    time.Time // next announcement burst; zero: none
	garpFirst bool      // the next burst is the delayed second one
	buf       []byte

	sendFailing bool // the last send failed; its error was logged
}

func (l *loop) run(ctx context.Context) error {
	in := l.in
	cfg := in.cfg
	l.m = NewMachine(MachineConfig{
		Version:        cfg.Version,
		Priority:       in.effectivePriority(nil),
		AdvertInterval: cfg.AdvertInterval,
		Preempt:        cfg.PreemptEnabled(),
		PreemptDelay:   cfg.PreemptDelay,
		Primary:        l.src,
	})
	l.applied = control{weights: map[string]int{}, faults: map[string]bool{}}
	now := time.Now()
	l.applyControl(now)
	l.step(now, "start", l.m.Start(now))

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	garp := time.NewTimer(time.Hour)
	defer garp.Stop()
	done := ctx.Done()
	stopping := false
	for {
		if stopping && !l.m.HandingOver() {
			if l.holds {
				l.removeVIPs()
			}
			return nil
		}
		arm(timer, l.m.Deadline())
		arm(garp, l.garpAt)
		select {
		case <-done:
			now := time.Now()
			l.step(now, "shutdown", l.m.Shutdown(now))
			if l.m.HandingOver() {
				in.log.Info("stopping: priority 0 sent, keeping the VIPs until the new master is heard",
					"at_most", l.m.HandoverTimeout())
			}
			done, stopping = nil, true
		case err := <-l.rxErr:
			now := time.Now()
			l.step(now, "shutdown", l.m.Shutdown(now))
			l.removeVIPs()
			return err
		case r := <-l.rx:
			now := time.Now()
			in.mu.Lock()
			in.counters.AdvertsReceived++
			if r.adv.Priority == 0 {
				in.counters.PriorityZeroReceived++
			}
			in.mu.Unlock()
			reason := "preempted"
			if r.adv.Priority == 0 {
				reason = "priority_0"
			}
			handing := l.m.HandingOver()
			l.step(now, reason, l.m.Advert(now, r.src, &r.adv))
			if handing && !l.m.HandingOver() {
				in.log.Info("handover done: the new master is heard, VIPs released", "master", r.src, "master_priority", r.adv.Priority)
			}
		case <-timer.C:
			now := time.Now()
			handing := l.m.HandingOver()
			l.step(now, "master_down", l.m.Timeout(now))
			if handing && !l.m.HandingOver() {
				if l.m.State() == StateMaster {
					in.log.Info("handover ended: no new master took over, master again")
				} else {
					in.log.Warn("handover ended: no new master heard in time, VIPs released", "after", l.m.HandoverTimeout())
				}
			}
		case <-garp.C:
			l.garpBurst(time.Now())
		case <-in.wake:
			l.applyControl(time.Now())
		}
	}
}

// arm sets t to fire at when, or effectively never when when is zero.
func arm(t *time.Timer, when time.Time) {
	d := time.Hour
	if !when.IsZero() {
		d = max(time.Until(when), 0)
	}
	t.Reset(d)
}

// applyControl brings the machine in line with what the supervisor asked for.
func (l *loop) applyControl(now time.Time) {
	in := l.in
	in.mu.Lock()
	c := control{
		weights:     maps.Clone(in.ctl.effectiveWeights()),
		faults:      maps.Clone(in.ctl.faults),
		maintenance: in.ctl.maintenance,
		resigns:     in.ctl.resigns,
		noPreempt:   maps.Clone(in.ctl.noPreempt),
		hold:        in.ctl.hold,
		syncBackups: in.ctl.syncBackups,
	}
	in.ctl.resigns, in.ctl.syncBackups = 0, 0
	groupFault := ""
	if in.group != nil {
		groupFault = in.group.faultKey
	}
	in.mu.Unlock()

	if !maps.Equal(c.weights, l.applied.weights) {
		p := in.effectivePriority(c.weights)
		if p != l.m.Priority() {
			in.log.Info("priority changed", "from", l.m.Priority(), "to", p, "weights", c.weights)
		}
		l.step(now, "priority", l.m.SetPriority(now, p))
	}
	if (len(c.faults) > 0) != (len(l.applied.faults) > 0) {
		reason := "fault"
		switch {
		case len(c.faults) == 0:
			reason = "fault_cleared"
		case len(c.faults) == 1 && c.faults[groupFault]:
			reason = "sync_group"
		}
		l.step(now, reason, l.m.SetFault(now, len(c.faults) > 0))
	}
	if c.maintenance != l.applied.maintenance {
		in.log.Info("maintenance", "on", c.maintenance)
		l.step(now, "maintenance", l.m.SetMaintenance(now, c.maintenance))
	}
	if (len(c.noPreempt) > 0) != (len(l.applied.noPreempt) > 0) {
		l.m.SetNoPreempt(len(c.noPreempt) > 0)
	}
	if c.resigns > 0 {
		in.log.Info("resigning")
		l.step(now, "resign", l.m.Resign(now))
	}
	if c.hold != l.applied.hold {
		l.step(now, "sync_group", l.m.SetHold(now, c.hold))
	}
	if c.syncBackups > 0 && l.m.State() == StateMaster {
		in.log.Info("following the sync group to BACKUP")
		l.step(now, "sync_group", l.m.SyncBackup(now))
	}
	c.resigns, c.syncBackups = 0, 0
	l.applied = c
	l.report(now)
}

// report tells the sync group the member's status when it changed (or the group did).
func (l *loop) report(now time.Time) {
	in := l.in
	in.mu.Lock()
	g, idx := in.group, in.gidx
	own := false
	for name := range in.ctl.faults {
		if g == nil || name != g.faultKey {
			own = true
			break
		}
	}
	in.mu.Unlock()
	if g == nil {
		l.reportTo = nil
		return
	}
	st := l.m.State()
	// A stopped member holds the others back from MASTER (it is not ready) but does not
	// fault them.
	ms := memberStatus{running: !l.stopped, state: st, ready: st == StateMaster || l.m.Waiting(), ownFault: own && !l.stopped}
	if g == l.reportTo && ms == l.reported {
		return
	}
	l.reportTo, l.reported = g, ms
	g.update(idx, ms, now)
}

// step performs the machine's actions and records a state change.
func (l *loop) step(now time.Time, reason string, acts []Action) {
	in := l.in
	for _, a := range acts {
		switch a.Kind {
		case ActSendAdvert:
			l.send(a.Priority)
		case ActAddVIPs:
			// holds stays true on failure, so that whatever was added is removed later;
			// the snapshot says only what certainly is on the interface.
			l.vipErr = l.owner.AddVIPs()
			if l.vipErr != nil {
				in.log.Error("adding VIPs", "err", l.vipErr)
				in.mu.Lock()
				in.counters.VIPErrors++
				in.mu.Unlock()
			}
			l.holds = true
		case ActRemoveVIPs:
			l.removeVIPs()
		case ActAnnounce:
			l.garpFirst = true
			l.garpBurst(now)
		}
	}
	st := l.m.State()
	master, mprio := l.m.Master()
	var (
		hooks *hookQueue
		hook  Hook
	)
	in.mu.Lock()
	from := in.snap.State
	changed := st != from
	if changed {
		in.snap.State, in.snap.Since = st, now
		in.counters.Transitions[StateChange{from, st}]++
		t := Transition{Instance: in.cfg.Name, From: from, To: st, At: now, Reason: reason}
		if in.opts.OnTransition != nil {
			if len(in.pending) >= maxPendingTransitions {
				in.pending = in.pending[1:]
				in.counters.DroppedTransitions++
			}
			in.pending = append(in.pending, t)
			select {
			case in.notify <- struct{}{}:
			default:
			}
		}
		if argv := in.cfg.Notify.hookFor(from, st); len(argv) > 0 && in.hooks != nil {
			hooks = in.hooks
			hook = Hook{Argv: argv, Timeout: in.cfg.Notify.Timeout,
				Env: hookEnv(in.cfg.Name, in.snap.SyncGroup, from, st, in.vipStrings(), reason)}
		}
	}
	in.snap.EffectivePriority = int(l.m.Priority())
	in.snap.HoldsVIPs = l.holds && l.vipErr == nil
	in.snap.MasterSeen, in.snap.MasterPriority = master, int(mprio)
	in.mu.Unlock()
	if hooks != nil {
		hooks.push(hook) // never waits for a hook
	}
	l.report(now)
	if changed {
		// The line operators grep keepalived's logs for.
		in.log.Info(fmt.Sprintf("VRRP_Instance(%s) Entering %s STATE", in.cfg.Name, st),
			"from", from.String(), "reason", reason, "priority", l.m.Priority())
		if st != StateMaster {
			l.garpAt = time.Time{}
		}
	}
}

func (l *loop) removeVIPs() {
	err := l.owner.RemoveVIPs()
	l.in.mu.Lock()
	if err != nil {
		l.in.counters.VIPErrors++
	}
	l.in.snap.HoldsVIPs = false
	l.in.mu.Unlock()
	if err != nil {
		l.in.log.Error("removing VIPs", "err", err)
	}
	l.holds, l.vipErr = false, nil
	l.garpAt = time.Time{}
}

// garpBurst sends one burst of announcements and schedules the next: a second burst
// after the GARP delay, then one every refresh interval (keepalived's
// vrrp_garp_master_delay, _repeat and garp_master_refresh).
func (l *loop) garpBurst(now time.Time) {
	if l.m.State() != StateMaster || !l.holds {
		l.garpAt = time.Time{}
		return
	}
	g := l.in.cfg.GARP
	var err error
	for range g.Repeat {
		if err = l.owner.Announce(); err != nil {
			break
		}
	}
	if err != nil {
		l.in.log.Warn("announcing VIPs", "err", err)
	}
	switch {
	case l.garpFirst && g.GARPDelay() > 0:
		l.garpAt = now.Add(g.GARPDelay())
	case g.Refresh > 0:
		l.garpAt = now.Add(g.Refresh)
	default:
		l.garpAt = time.Time{}
	}
	l.garpFirst = false
}

// send builds and sends an advert with priority p to every destination.
func (l *loop) send(p uint8) {
	in := l.in
	a := Advert{Version: in.cfg.Version, VRID: uint8(in.cfg.VRID), Priority: p,
		Interval: in.cfg.AdvertInterval, Addresses: in.vips}
	if in.cfg.Version == 2 && in.cfg.AuthPass != "" {
		a.SetPassword(in.cfg.AuthPass)
	}
	var sent, failed uint64
	for _, dst := range l.tr.Destinations() {
		var err error
		l.buf, err = a.AppendMarshal(l.buf[:0], l.src, dst)
		if err == nil {
			err = l.tr.WriteTo(l.buf, dst)
		}
		if err != nil {
			failed++
			// Logged when sends start failing and when they recover, not at every
			// interval: a link that is down would flood the log ten times a second.
			if !l.sendFailing {
				in.log.Warn("sending advert", "dst", dst, "err", err)
			}
			l.sendFailing = true
			continue
		}
		sent++
	}
	if failed == 0 && l.sendFailing {
		l.sendFailing = false
		in.log.Info("sending adverts again")
	}
	in.mu.Lock()
	in.counters.AdvertsSent += sent
	if p == 0 {
		in.counters.PriorityZeroSent += sent
	}
	in.counters.SendErrors += failed
	in.mu.Unlock()
}

// read receives packets, drops what RFC 5798 §7.1 says to drop, counting why, and hands
// the rest to the loop.
func (l *loop) read(stop <-chan struct{}) {
	in := l.in
	buf := make([]byte, 8192)
	peers := map[netip.Addr]bool{}
	if in.cfg.Unicast != nil {
		for _, p := range l.tr.Destinations() {
			peers[p] = true
		}
	}
	var adv Advert
	for {
		pk, err := l.tr.ReadPacket(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || closed(stop) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case l.rxErr <- fmt.Errorf("vrrp: instance %s: receive: %w", in.cfg.Name, err):
			default:
			}
			return
		}
		if vrid, ok := PeekVRID(pk.Data); ok && int(vrid) != in.cfg.VRID {
			in.mu.Lock()
			in.counters.OtherVRID++
			in.mu.Unlock()
			continue
		}
		if pk.Src == l.src {
			continue // our own advert, looped back
		}
		if reason := l.check(pk, peers, &adv); reason != "" {
			in.mu.Lock()
			in.counters.Invalid[reason]++
			in.mu.Unlock()
			in.log.Debug("dropped advert", "src", pk.Src, "reason", reason)
			continue
		}
		r := received{src: pk.Src, adv: adv}
		r.adv.Addresses = slices.Clone(adv.Addresses)
		if !sameAddrs(r.adv.Addresses, in.vips) {
			in.mu.Lock()
			in.counters.AddressMismatch++
			in.mu.Unlock()
		}
		select {
		case l.rx <- r:
		case <-stop:
			return
		}
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// check validates a packet per RFC 5798 §7.1 and RFC 3768 §7.1, returning the reason to
// drop it or "" to accept it (parsed into adv).
func (l *loop) check(pk Packet, peers map[netip.Addr]bool, adv *Advert) string {
	cfg := &l.in.cfg
	if len(peers) > 0 {
		if !peers[pk.Src] {
			return "peer"
		}
	} else if pk.TTL >= 0 && pk.TTL != TTL {
		// The TTL check is what keeps adverts from off-link senders out; keepalived
		// applies it to multicast only, since unicast peers may be routed.
		return "ttl"
	}
	dst := pk.Dst
	if !dst.IsValid() {
		dst = MulticastGroup(cfg.IPv6())
	}
	if err := adv.Unmarshal(pk.Data, pk.Src, dst); err != nil {
		return invalidReason(err)
	}
	if adv.Version != cfg.Version {
		return "version"
	}
	if adv.Version == 2 {
		want := AuthNone
		if cfg.AuthPass != "" {
			want = AuthSimple
		}
		if adv.AuthType != want || (want == AuthSimple && adv.Password() != truncPass(cfg.AuthPass)) {
			return "auth"
		}
		if adv.Interval != cfg.AdvertInterval {
			// RFC 3768 §7.1: v2 intervals must match; v3 adopts the master's instead.
			return "interval"
		}
	}
	return ""
}

func truncPass(s string) string {
	if len(s) > authDataLen {
		return s[:authDataLen]
	}
	return s
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// invalidReason maps a codec error to its counter label.
func invalidReason(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{ErrTooShort, "too_short"}, {ErrChecksum, "checksum"}, {ErrVersion, "version"},
		{ErrType, "type"}, {ErrLength, "length"}, {ErrInterval, "interval"},
		{ErrAddressFamily, "address_family"}, {ErrVRID, "vrid"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "other"
}
