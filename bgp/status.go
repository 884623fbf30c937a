package bgp

import "time"

// Prefix states, as status and metrics show them.
const (
	// StateAnnounced: offered to every established neighbour with its own attributes.
	StateAnnounced = "announced"
	// StateDraining: still offered, with GRACEFUL_SHUTDOWN, until the drain time is up.
	StateDraining = "draining"
	// StateWithdrawn: not offered.
	StateWithdrawn = "withdrawn"
)

// BFD states of a neighbour; "off" when BFD is not configured for it.
const (
	BFDOff       = "off"
	BFDUp        = "up"
	BFDDown      = "down"
	BFDInit      = "init"
	BFDAdminDown = "admin_down"
)

// Status is the speaker's part of halo's status snapshot.
type Status struct {
	ASN      uint32
	RouterID string
	// Running is false before the engine started, while it restarts, and after it stopped.
	Running bool
	// Healthy, Degraded and Draining are the inputs last given (SetHealthy,
	// SetDegraded, SetDraining).
	Healthy, Degraded, Draining bool
	// Error is the last failure to start or to update the routes, "" when none.
	Error     string
	Neighbors []NeighborStatus
	Prefixes  []PrefixStatus
	// Announces counts changes into announced, Withdrawals into withdrawn (after having
	// been offered), Drains into draining.
	Announces, Withdrawals, Drains uint64
	// EngineFailures counts the engine's ends that nobody asked for (halo-bgp crashed, was
	// killed or hung) and its failed starts: each one is followed by a restart.
	EngineFailures uint64
}

// NeighborStatus is one BGP session.
type NeighborStatus struct {
	Address string
	ASN     uint32
	// State is the BGP FSM state: IDLE, CONNECT, ACTIVE, OPENSENT, OPENCONFIRM,
	// ESTABLISHED.
	State string
	// Since is when the session was established (zero unless ESTABLISHED).
	Since time.Time
	// BFD is the BFD session state: off, down, init, up, admin_down.
	BFD string
	// Received and Advertised count the session's prefixes.
	Received, Advertised uint64
	// Flaps counts the session's drops from ESTABLISHED.
	Flaps uint64
}

// PrefixStatus is one service prefix.
type PrefixStatus struct {
	Prefix string
	// State is announced, draining or withdrawn.
	State string
	Since time.Time
	// Bound: the address is on the service interface.
	Bound bool
}
