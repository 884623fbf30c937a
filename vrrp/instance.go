package vrrp

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
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
	// Sockets, when set and Transport is not, gives the instance its transport on a raw
	// socket shared with the other instances of its interface and family (the daemon's
	// choice: see Sockets); nil: a socket of its own.
	Sockets *Sockets
	// Timers, when set, fires the instance's deadlines from one clock shared with the
	// other instances (the daemon's choice: see Timers); nil: Go timers.
	Timers *Timers
	// Owner holds the VIPs; nil: netlink and AF_PACKET (NewNetlinkOwner).
	Owner Owner
	// OnTransition, when set, is called for every state change, in order, on the
	// instance's loop: it must return at once (record and return). Nothing is queued, so
	// nothing is dropped.
	OnTransition func(Transition)
	// Links watches the instance's interface and its track_interfaces: while one is down
	// (or missing) the instance is in FAULT, with the fault "link:<name>". Nil: a netlink
	// subscription (NewNetlinkLinkWatcher) when Run opens its own raw transport, and no
	// link tracking when Transport is given (an injected transport has no kernel link
	// behind it): give a watcher then to track links.
	Links LinkWatcher
	// Hooks runs the notify hooks of InstanceConfig.Notify; nil: NewExecHookRunner.
	Hooks HookRunner
	// OnChange, when set, is called on the instance's loop after its Snapshot changed in
	// what a status shows (state, VIPs held, master and its priority, effective priority,
	// resignation, maintenance): a wake-up for watchers, which read the Snapshot then.
	// It must return at once.
	OnChange func()
}

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
	// VIPRestores counts the times a master found its VIPs removed behind its back and
	// put them back.
	VIPRestores uint64
	// Transitions counts state changes by from and to.
	Transitions map[StateChange]uint64
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
	// Peers are the routers heard within PeerTTL (at most MaxPeers), by address.
	Peers []Peer
	// Resigned says a Resign holds the instance back from a master it would preempt,
	// until that master fails or EndResign (see Machine.Resigned).
	Resigned bool
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
	// trackers are the policies of the conditions SetTracked reports, by name.
	trackers map[string]Track

	wake chan struct{} // poked by the control methods; capacity 1

	mu       sync.Mutex // guards everything below
	ctl      control
	snap     Snapshot
	running  bool
	counters Counters
	hooks    *hookQueue // the running Run's notify hooks; nil when none are configured
	group    *Group     // the sync group, set by NewGroup; nil when in none
	gidx     int        // the index in group

	peers map[netip.Addr]*Peer // the routers heard (peers.go)
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
		cfg:      cfg,
		opts:     opts,
		log:      log.With("instance", cfg.Name),
		wake:     make(chan struct{}, 1),
		ctl:      newControl(),
		trackers: cfg.Trackers(),
	}
	for _, v := range cfg.VIPs {
		in.vips = append(in.vips, v.Prefix.Addr())
		in.snap.VIPs = append(in.snap.VIPs, v.Prefix)
	}
	in.snap.Name, in.snap.Interface, in.snap.VRID, in.snap.Version = cfg.Name, cfg.Interface, cfg.VRID, cfg.Version
	in.snap.State = StateInit
	in.snap.Priority, in.snap.EffectivePriority = cfg.Priority, cfg.Priority
	in.counters = Counters{Invalid: newInvalidCounts(), Transitions: map[StateChange]uint64{}}
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

// Snapshot returns a copy of the instance's current state and counters.
func (in *Instance) Snapshot() Snapshot {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.snap
	s.VIPs = slices.Clone(s.VIPs)
	s.Faults = slices.Sorted(maps.Keys(in.ctl.faults))
	s.Weights = maps.Clone(in.ctl.effectiveWeights())
	s.Maintenance = in.ctl.maintenance
	s.Peers = in.peerList(time.Now())
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
