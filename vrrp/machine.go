package vrrp

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/halo-lb/halo/internal/tick"
)

// State is the state of a VRRP instance (RFC 5798 §6.4, plus FAULT as keepalived has it).
type State int

// The states, named as keepalived logs them.
const (
	StateInit   State = iota // Initialize: not started, or stopped
	StateBackup              // watching a master, ready to take over
	StateMaster              // forwarding for the virtual router: holds the VIPs
	StateFault               // a tracked condition failed: never master, holds nothing
)

func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// MarshalText renders the state as keepalived names it, for the status JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ActionKind says what the runner must do for the machine.
type ActionKind int

// Actions. The machine never performs I/O itself: it returns these, in the order to run them.
const (
	// ActSendAdvert sends an advert carrying Action.Priority (0 when resigning).
	ActSendAdvert ActionKind = iota + 1
	// ActAddVIPs adds the virtual addresses to the interface.
	ActAddVIPs
	// ActRemoveVIPs removes them.
	ActRemoveVIPs
	// ActAnnounce starts (or restarts) the gratuitous ARP / unsolicited NA schedule.
	ActAnnounce
)

func (k ActionKind) String() string {
	switch k {
	case ActSendAdvert:
		return "send_advert"
	case ActAddVIPs:
		return "add_vips"
	case ActRemoveVIPs:
		return "remove_vips"
	case ActAnnounce:
		return "announce"
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// Action is one thing for the runner to do.
type Action struct {
	Kind ActionKind
	// Priority is the priority to advertise, for ActSendAdvert.
	Priority uint8
}

func (a Action) String() string {
	if a.Kind == ActSendAdvert {
		return fmt.Sprintf("%s(%d)", a.Kind, a.Priority)
	}
	return a.Kind.String()
}

// MachineConfig is what the state machine needs to know of its instance.
type MachineConfig struct {
	// Version is 2 or 3; only v3 backups adopt the master's advertised interval
	// (RFC 5798 §6.4.2), and the skew time is computed differently (§6.1, RFC 3768 §6.1).
	Version int
	// Priority is the initial effective priority, 1..255; 255 makes this node the address
	// owner, master at once on start (RFC 5798 §6.4.1).
	Priority uint8
	// AdvertInterval is this node's Advertisement_Interval.
	AdvertInterval time.Duration
	// Preempt lets a higher-priority backup take over from a lower-priority master.
	Preempt bool
	// PreemptDelay holds preemption back for this long after start and after a
	// lower-priority master is first seen (keepalived's preempt_delay).
	PreemptDelay time.Duration
	// Primary is this node's primary address, compared with the sender's on equal priority.
	Primary netip.Addr
}

// Machine is the RFC 5798 §6 state machine of one instance, plus FAULT. It is pure: every
// method takes the current time and returns the actions to perform, and Deadline says when
// Timeout must be called next. It is not safe for concurrent use; the runner owns it.
type Machine struct {
	cfg      MachineConfig
	state    State
	priority uint8

	masterAdverInterval time.Duration // Master_Adver_Interval (RFC 5798 §6.1)
	adverAt             time.Time     // Adver_Timer; zero when not armed
	masterDownAt        time.Time     // Master_Down_Timer; zero when not armed
	preemptAt           time.Time     // lower-priority masters are tolerated until then

	fault       bool // a tracked condition failed
	maintenance bool // kept out of MASTER by the operator
	yield       bool // resigned: let the current master keep the role while it lives
	hold        bool // a sync group keeps the machine from becoming master for now
	noPreempt   bool // an outside condition forbids preempting for now (see SetNoPreempt)
	waiting     bool // the Master_Down_Timer expired while held: ready, waiting for the group

	master         netip.Addr // the master last heard (ourselves while MASTER)
	masterPriority uint8

	// yieldTo is the master a resigned node yields to (see trackYield), yieldPrio its
	// priority, yieldSince when it was first heard and yieldHeard when it last spoke.
	yieldTo                netip.Addr
	yieldPrio              uint8
	yieldSince, yieldHeard time.Time

	// releaseAt is set while this node holds VIPs that are, or soon will be, another
	// node's: a graceful handover (resign, maintenance, shutdown: until a new master is
	// heard, at most HandoverTimeout) or a drain (see drainTime). The VIPs go then.
	releaseAt time.Time
	// draining: another node is master (heard during a handover, or it took the role
	// from this one), and releaseAt is the end of the drain.
	draining bool

	// answered is when a master last answered each source out of turn, so that a flood
	// of adverts is answered at most once per advert interval per source: never a
	// reflector.
	answered map[netip.Addr]time.Time
}

// NewMachine returns a machine in INIT; call Start to begin.
func NewMachine(cfg MachineConfig) *Machine {
	return &Machine{cfg: cfg, priority: cfg.Priority, masterAdverInterval: cfg.AdvertInterval}
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Priority returns the effective priority.
func (m *Machine) Priority() uint8 { return m.priority }

// Master returns the address and priority of the master last heard, or this node's
// primary address while it is master; the zero Addr when none has been heard.
func (m *Machine) Master() (netip.Addr, uint8) { return m.master, m.masterPriority }

// MasterAdverInterval returns the interval the master advertises, as adopted in v3.
func (m *Machine) MasterAdverInterval() time.Duration { return m.masterAdverInterval }

// Refresh describes the one advert that would change nothing but the Master_Down_Timer:
// in a steady BACKUP (not waiting, yielding or handing over), an advert from the master
// it follows with the priority and interval last heard, when that priority is not below
// this node's (a lower one may be preempted). ok is false when no advert is a mere
// refresh. The loop lets its reader take such adverts without waking it (see heard).
func (m *Machine) Refresh() (src netip.Addr, prio uint8, interval time.Duration, ok bool) {
	if m.state != StateBackup || m.waiting || m.yield || m.HandingOver() || m.masterDownAt.IsZero() ||
		!m.master.IsValid() || m.masterPriority == 0 || m.masterPriority < m.priority {
		return netip.Addr{}, 0, 0, false
	}
	return m.master, m.masterPriority, m.masterAdverInterval, true
}

// Deadline returns when Timeout must next be called; the zero time when no timer runs.
func (m *Machine) Deadline() time.Time {
	var d time.Time
	switch m.state {
	case StateMaster:
		d = m.adverAt
	case StateBackup:
		d = m.masterDownAt
	}
	if !m.releaseAt.IsZero() && (d.IsZero() || m.releaseAt.Before(d)) {
		d = m.releaseAt
	}
	return d
}

// Waiting reports whether the machine is a backup ready to become master (its
// Master_Down_Timer expired, no better master is heard) that its sync group holds back
// until every member is ready (SetHold).
func (m *Machine) Waiting() bool { return m.waiting }

// SkewTime is RFC 5798 §6.1's Skew_Time for this node's priority: in v3 a share of the
// master's interval, in v2 a share of a second (RFC 3768 §6.1).
func (m *Machine) SkewTime() time.Duration {
	share := time.Duration(256 - int(m.priority))
	if m.cfg.Version == 2 {
		return share * time.Second / 256
	}
	return share * m.masterAdverInterval / 256
}

// MasterDownInterval is RFC 5798 §6.1's Master_Down_Interval: three intervals plus skew.
func (m *Machine) MasterDownInterval() time.Duration {
	return 3*m.masterAdverInterval + m.SkewTime()
}

// Start leaves INIT (RFC 5798 §6.4.1), or enters FAULT when a fault is already set.
func (m *Machine) Start(now time.Time) []Action {
	if m.state != StateInit {
		return nil
	}
	if m.cfg.PreemptDelay > 0 {
		m.preemptAt = now.Add(m.cfg.PreemptDelay)
	}
	if m.fault {
		m.state = StateFault
		return nil
	}
	return m.initialize(now, nil)
}

// initialize runs the Initialize state's startup event: the owner becomes master at once,
// every other node waits a master-down interval as backup.
func (m *Machine) initialize(now time.Time, acts []Action) []Action {
	m.masterAdverInterval = m.cfg.AdvertInterval
	if m.priority == 255 && !m.maintenance && !m.hold {
		return m.becomeMaster(now, acts)
	}
	m.becomeBackup(now)
	return acts
}

func (m *Machine) becomeMaster(now time.Time, acts []Action) []Action {
	m.state = StateMaster
	m.masterDownAt = time.Time{}
	m.waiting = false
	m.releaseAt, m.draining = time.Time{}, false // master again before the handover ended: the VIPs stay
	m.adverAt = now.Add(m.cfg.AdvertInterval)
	m.preemptAt = time.Time{}
	m.yield = false
	m.master, m.masterPriority = m.cfg.Primary, m.priority
	// The VIPs and their announcement come before the advert: the old master starts
	// releasing the VIPs (see drainTime) when it hears the advert, and by then this node
	// answers on them and the clients' ARP caches name it, so no request meets an
	// address nobody holds.
	return append(acts, Action{Kind: ActAddVIPs}, Action{Kind: ActAnnounce}, Action{Kind: ActSendAdvert, Priority: m.priority})
}

func (m *Machine) becomeBackup(now time.Time) {
	m.state = StateBackup
	m.waiting = false
	m.adverAt = time.Time{}
	m.masterDownAt = now.Add(m.MasterDownInterval())
}

// Timeout handles the expiry of the Adver_Timer (MASTER), the Master_Down_Timer (BACKUP)
// and the end of a handover. Calling it early does nothing.
func (m *Machine) Timeout(now time.Time) []Action {
	var acts []Action
	switch m.state {
	case StateMaster:
		if !m.adverAt.IsZero() && !now.Before(m.adverAt) {
			// On the process's grid (see tick): the instances of one interval send
			// together, one wake-up here and on every backup.
			m.adverAt = tick.Next(now, m.cfg.AdvertInterval)
			acts = append(acts, Action{Kind: ActSendAdvert, Priority: m.priority})
		}
	case StateBackup:
		if m.masterDownAt.IsZero() || now.Before(m.masterDownAt) {
			break
		}
		if m.maintenance {
			// Kept out of MASTER: keep watching, as a backup that never wins.
			m.masterDownAt = now.Add(m.MasterDownInterval())
			break
		}
		if m.hold {
			// Ready, but the sync group waits for its other members: no timer runs
			// until a better master is heard or the group lets go (SetHold).
			m.masterDownAt = time.Time{}
			m.waiting = true
			break
		}
		// Master again (no one took over): the handover ends with the VIPs kept.
		acts = m.becomeMaster(now, acts)
	}
	if !m.releaseAt.IsZero() && !now.Before(m.releaseAt) {
		// No new master was heard within the bound: let the VIPs go.
		acts = m.release(acts)
	}
	return acts
}

// Advert handles an advert for this virtual router from src, already checked by the
// receiver (TTL, version, authentication, interval in v2). RFC 5798 §6.4.2 and §6.4.3.
func (m *Machine) Advert(now time.Time, src netip.Addr, a *Advert) []Action {
	var acts []Action
	if a.Priority != 0 && src != m.cfg.Primary && m.HandingOver() {
		// A master speaks while this node is handing over: the new master has taken the
		// role (its gratuitous ARPs went out before its first advert); the VIPs go after
		// the drain, once what this node already received is answered.
		m.drain(now)
	}
	switch m.state {
	case StateBackup:
		if a.Priority == 0 {
			// The master resigned: take over after the skew time, not three intervals
			// (a waiting machine is past that already).
			if !m.waiting {
				m.masterDownAt = now.Add(m.SkewTime())
			}
			if m.yield && m.yieldTo == src {
				m.yield = false // the master this node yielded to is leaving
			}
			if m.master == src {
				m.master, m.masterPriority = netip.Addr{}, 0
			}
			return acts
		}
		m.trackYield(now, src, a.Priority)
		if a.Priority < m.priority && m.preemptNow(now) {
			// A lower-priority master and preemption allowed: let the Master_Down_Timer
			// run out and take over.
			return acts
		}
		if m.cfg.Version == 3 {
			m.masterAdverInterval = a.Interval
		}
		m.masterDownAt = now.Add(m.MasterDownInterval())
		m.waiting = false // a master this node accepts: no longer ready
		m.master, m.masterPriority = src, a.Priority
		return acts
	case StateMaster:
		if a.Priority == 0 {
			if !m.mayAnswer(now, src) {
				return nil
			}
			m.adverAt = now.Add(m.cfg.AdvertInterval)
			return []Action{{Kind: ActSendAdvert, Priority: m.priority}}
		}
		if a.Priority > m.priority || (a.Priority == m.priority && src.Compare(m.cfg.Primary) > 0) {
			acts := m.leaveMasterForBackup(now, src, a)
			return acts
		}
		// Another master of lower priority (a healed partition): answer at once so it
		// yields in one round trip (keepalived's vrrp_higher_prio_send_advert), and
		// re-announce the VIPs, which it may have claimed in the meantime
		// (keepalived's garp_lower_prio_repeat). Once per advert interval per source: a
		// flood of such adverts must not make this node a reflector.
		if !m.mayAnswer(now, src) {
			return nil
		}
		m.adverAt = now.Add(m.cfg.AdvertInterval)
		return []Action{{Kind: ActSendAdvert, Priority: m.priority}, {Kind: ActAnnounce}}
	case StateFault:
		if a.Priority != 0 {
			m.master, m.masterPriority = src, a.Priority
		}
	}
	return acts
}

// leaveMasterForBackup yields to a better master (RFC 5798 §6.4.3): no priority-0 advert,
// since the new master is already advertising. The VIPs stay for the drain (RFC 5798
// removes them at once; see drainTime).
func (m *Machine) leaveMasterForBackup(now time.Time, src netip.Addr, a *Advert) []Action {
	m.adverAt = time.Time{}
	if m.cfg.Version == 3 {
		m.masterAdverInterval = a.Interval
	}
	m.state = StateBackup
	m.masterDownAt = now.Add(m.MasterDownInterval())
	m.master, m.masterPriority = src, a.Priority
	m.drain(now) // its gratuitous ARPs went out before its advert: see drainTime
	return nil
}

// preemptNow reports whether a backup may now preempt a lower-priority master, starting
// the preempt delay when such a master is first seen.
func (m *Machine) preemptNow(now time.Time) bool {
	if !m.cfg.Preempt || m.yield || m.noPreempt {
		return false
	}
	if m.cfg.PreemptDelay <= 0 {
		return true
	}
	if m.preemptAt.IsZero() {
		m.preemptAt = now.Add(m.cfg.PreemptDelay)
	}
	return !now.Before(m.preemptAt)
}
