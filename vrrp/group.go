package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// GroupOptions are a sync group's dependencies.
type GroupOptions struct {
	// Logger receives the group's log lines, with the attribute sync_group=<name>. Nil:
	// discard.
	Logger *slog.Logger
	// Hooks runs the group's notify hooks; nil: NewExecHookRunner.
	Hooks HookRunner
}

// Group is a sync group (keepalived's vrrp_sync_group): instances that change state
// together, such as the WAN and the LAN side of a router, so that one node holds all of
// their VIPs or none.
//
//   - When a member leaves MASTER for BACKUP (a better master preempted it, it resigned,
//     maintenance), or a member that was ready to become master hears a better master,
//     every other master member follows to BACKUP: priority 0 and a handover, as Resign
//     does, so that the peer node's members take over in their skew time.
//   - While a member has a fault of its own (a tracked interface, HAProxy), every other
//     member is in FAULT too (fault "sync_group:<name>"): priority 0, VIPs released at
//     once. When no member has one left, all return to BACKUP.
//   - A member becomes master only when every other member is ready to (master, or a
//     backup whose master-down timer expired and that hears no better master); it waits
//     for them otherwise (Machine.SetHold), so the members become master together.
//   - A tracker's weight set on one member (SetTrackWeight) applies to every member, so
//     that a weighted tracker moves the whole group. When several members set the same
//     tracker name, the delta of largest magnitude wins (the lower one on a tie).
//
// Create a group with NewGroup before or after its members start; call Run to run the
// group's notify hooks.
type Group struct {
	cfg      SyncGroupConfig
	log      *slog.Logger
	members  []*Instance
	faultKey string
	hooks    *hookQueue

	cmu      sync.Mutex // guards counters.HookCounters; taken after mu
	mu       sync.Mutex // guards everything below; taken before any member's mu
	st       []memberStatus
	faulted  []bool // the group fault is set on member i
	held     []bool // member i is held back from MASTER
	weights  map[string]int
	state    State
	since    time.Time
	counters GroupCounters
	closed   bool
	changed  chan struct{} // poked when a member stops or the group closes; capacity 1
}

// memberStatus is what a member's loop reports to its group.
type memberStatus struct {
	running  bool
	state    State
	ready    bool // MASTER, or a backup waiting for the group (Machine.Waiting)
	ownFault bool // a fault other than the group's
}

// GroupCounters are a group's event counts.
type GroupCounters struct {
	// Transitions counts the group's state changes by from and to.
	Transitions map[StateChange]uint64
	// HookCounters count the group's notify hooks.
	HookCounters
}

// GroupSnapshot is a sync group's state at one moment.
type GroupSnapshot struct {
	Name string
	// Members are the member instances' names, in the configured order.
	Members []string
	// State is the group's: FAULT if a member is in FAULT, MASTER if every running member
	// is, INIT when none runs, BACKUP otherwise. Since is when it entered it.
	State    State
	Since    time.Time
	Counters GroupCounters
}

// ErrGrouped is returned by NewGroup for an instance that already is in a group.
var ErrGrouped = errors.New("vrrp: instance already in a sync group")

// NewGroup joins members (the instances cfg.Instances names, in any order) into a sync
// group. It may be called before or after the members start; a member already running
// is held back from becoming master until the group has heard from every member. Close
// undoes it.
func NewGroup(cfg SyncGroupConfig, members []*Instance, opts GroupOptions) (*Group, error) {
	if cfg.Name == "" {
		return nil, errors.New("vrrp: sync group: a name is required")
	}
	if len(members) < 2 {
		return nil, fmt.Errorf("vrrp: sync group %s: at least two instances are required", cfg.Name)
	}
	var names []string
	for _, in := range members {
		if slices.Contains(names, in.Name()) {
			return nil, fmt.Errorf("vrrp: sync group %s: instance %s given twice", cfg.Name, in.Name())
		}
		names = append(names, in.Name())
	}
	if len(cfg.Instances) > 0 {
		want, got := slices.Sorted(slices.Values(cfg.Instances)), slices.Sorted(slices.Values(names))
		if !slices.Equal(want, got) {
			return nil, fmt.Errorf("vrrp: sync group %s: configured with %v, given %v", cfg.Name, cfg.Instances, names)
		}
	}
	cfg.Instances = names
	if cfg.Notify.Timeout == 0 {
		cfg.Notify.Timeout = DefaultNotifyTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Group{
		cfg:      cfg,
		log:      log.With("sync_group", cfg.Name),
		members:  slices.Clone(members),
		faultKey: "sync_group:" + cfg.Name,
		st:       make([]memberStatus, len(members)),
		faulted:  make([]bool, len(members)),
		held:     make([]bool, len(members)),
		weights:  map[string]int{},
		counters: GroupCounters{Transitions: map[StateChange]uint64{}},
		changed:  make(chan struct{}, 1),
	}
	g.hooks = newHookQueue(opts.Hooks, g.log, func(f func(*HookCounters)) {
		g.cmu.Lock()
		f(&g.counters.HookCounters)
		g.cmu.Unlock()
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, in := range members {
		in.mu.Lock()
		if in.group != nil {
			other := in.group.cfg.Name
			in.mu.Unlock()
			for _, prev := range members[:i] {
				prev.detach(g)
			}
			return nil, fmt.Errorf("%w: %s is in %s", ErrGrouped, in.Name(), other)
		}
		in.group, in.gidx = g, i
		in.snap.SyncGroup = cfg.Name
		in.ctl.hold = true // until every member has reported
		in.mu.Unlock()
		g.held[i] = true
	}
	g.syncWeightsLocked()
	for _, in := range members {
		in.poke() // a running member reports to its new group
	}
	return g, nil
}

// Name returns the group's name.
func (g *Group) Name() string { return g.cfg.Name }

// Members returns the member instances.
func (g *Group) Members() []*Instance { return slices.Clone(g.members) }

// Snapshot returns the group's current state and counters.
func (g *Group) Snapshot() GroupSnapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cmu.Lock()
	c := g.counters
	g.cmu.Unlock()
	c.Transitions = maps.Clone(c.Transitions)
	return GroupSnapshot{Name: g.cfg.Name, Members: slices.Clone(g.cfg.Instances), State: g.state, Since: g.since, Counters: c}
}

// Run runs the group's notify hooks, one at a time in order, until ctx ends; then it
// waits until every member has stopped (their Run returned: with the handover, at most
// Machine.HandoverTimeout after they were told to stop) or the group is closed, runs what
// is still queued (the stop hook included) and returns. The coordination of the members
// does not need Run; the group's hooks do.
func (g *Group) Run(ctx context.Context) error {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		// Hooks outlive ctx, as the members' do; each is bounded by its timeout.
		g.hooks.work(context.WithoutCancel(ctx), done)
	}()
	<-ctx.Done()
	for !g.settled() {
		<-g.changed
	}
	close(done)
	<-finished
	return nil
}

// settled reports whether no member runs any more, or the group is closed.
func (g *Group) settled() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return true
	}
	for _, s := range g.st {
		if s.running {
			return false
		}
	}
	return true
}

// Close detaches the members: the group no longer moves them, its fault and hold are
// lifted and each member's weights are its own again. Another group may then take them
// (a configuration reload that changes the group). A Run in progress returns once its
// queued hooks have run.
func (g *Group) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	g.mu.Unlock()
	for _, in := range g.members {
		in.detach(g)
	}
	g.poke()
}

func (g *Group) poke() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// update takes a member's new status, called from the member's loop (never with the
// member's mu held), and moves the other members as the group's rules say.
func (g *Group) update(i int, st memberStatus, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	old := g.st[i]
	g.st[i] = st
	if old.running && !st.running {
		g.poke()
	}
	// A member yields to a better master: the others follow to BACKUP.
	fellBack := st.state == StateBackup &&
		(old.state == StateMaster || old.state == StateBackup && old.ready && !st.ready)
	if fellBack {
		var moved []string
		for j, in := range g.members {
			if j != i && g.st[j].state == StateMaster {
				in.syncBackup()
				moved = append(moved, in.Name())
			}
		}
		if len(moved) > 0 {
			g.log.Info(fmt.Sprintf("VRRP_Group(%s) Syncing instances to BACKUP state", g.cfg.Name),
				"after", g.members[i].Name(), "instances", moved)
		}
	}
	for j, in := range g.members {
		fault, hold := false, false
		for k := range g.members {
			if k == j {
				continue
			}
			fault = fault || g.st[k].ownFault
			hold = hold || !g.st[k].ready
		}
		if fault != g.faulted[j] {
			g.faulted[j] = fault
			if fault {
				g.log.Info(fmt.Sprintf("VRRP_Group(%s) Syncing instances to FAULT state", g.cfg.Name), "instance", in.Name())
			}
			in.setFault(g.faultKey, fault)
		}
		if hold != g.held[j] {
			g.held[j] = hold
			in.setHold(hold)
		}
	}
	g.setStateLocked(now)
}

// setStateLocked recomputes the group's state and queues its hook on a change.
func (g *Group) setStateLocked(now time.Time) {
	running, fault, allMaster := 0, false, true
	for _, s := range g.st {
		if s.state == StateInit {
			continue
		}
		running++
		fault = fault || s.state == StateFault
		allMaster = allMaster && s.state == StateMaster
	}
	st := StateBackup
	switch {
	case running == 0:
		st = StateInit
	case fault:
		st = StateFault
	case allMaster:
		st = StateMaster
	}
	from := g.state
	if st == from {
		return
	}
	g.state, g.since = st, now
	g.counters.Transitions[StateChange{from, st}]++
	g.log.Info(fmt.Sprintf("VRRP_Group(%s) Entering %s STATE", g.cfg.Name, st), "from", from.String())
	if argv := g.cfg.Notify.hookFor(from, st); len(argv) > 0 {
		var vips []string
		for _, in := range g.members {
			vips = append(vips, in.vipStrings()...)
		}
		env := hookEnv("", g.cfg.Name, from, st, vips, "sync_group")
		env = append(env, "HALO_INSTANCES="+strings.Join(g.cfg.Instances, " "))
		g.hooks.push(Hook{Argv: argv, Env: env, Timeout: g.cfg.Notify.Timeout}) // never waits
	}
}

// syncWeights recomputes the group's weights after a member's changed.
func (g *Group) syncWeights() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.syncWeightsLocked()
	}
}

// syncWeightsLocked merges the members' own tracker weights and gives every member the
// result: for each tracker name the delta of largest magnitude, the lower on a tie.
func (g *Group) syncWeightsLocked() {
	merged := map[string]int{}
	for _, in := range g.members {
		in.mu.Lock()
		for name, d := range in.ctl.weights {
			cur, ok := merged[name]
			if !ok || abs(d) > abs(cur) || abs(d) == abs(cur) && d < cur {
				merged[name] = d
			}
		}
		in.mu.Unlock()
	}
	if maps.Equal(merged, g.weights) {
		return
	}
	g.weights = merged
	for _, in := range g.members {
		in.setGroupWeights(maps.Clone(merged))
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
