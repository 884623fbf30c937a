package bgp

import "time"

// Phase is what the speaker offers for every prefix; the node's health is one, so the
// prefixes move together.
type Phase int

// The phases, in the order a healthy node goes through them on a drain.
const (
	PhaseWithdrawn Phase = iota
	PhaseAnnounced
	PhaseDraining
)

func (p Phase) String() string {
	switch p {
	case PhaseAnnounced:
		return StateAnnounced
	case PhaseDraining:
		return StateDraining
	default:
		return StateWithdrawn
	}
}

// ParsePhase is String's inverse.
func ParsePhase(s string) (Phase, bool) {
	switch s {
	case StateAnnounced:
		return PhaseAnnounced, true
	case StateDraining:
		return PhaseDraining, true
	case StateWithdrawn:
		return PhaseWithdrawn, true
	}
	return PhaseWithdrawn, false
}

// decide is the whole policy: a node that is not healthy withdraws at once (a dead or hung
// HAProxy cannot serve the flows a drain would keep); a healthy node that drains keeps
// its prefixes with GRACEFUL_SHUTDOWN until drainStart+drain, then withdraws. A drain
// never announces what was not offered (cur withdrawn): a node that starts, or comes back
// healthy, in maintenance stays out. It also returns when to decide again (zero: only on
// a new input).
func decide(cur Phase, healthy, draining bool, drainStart, now time.Time, drain time.Duration) (Phase, time.Time) {
	switch {
	case !healthy:
		return PhaseWithdrawn, time.Time{}
	case !draining:
		return PhaseAnnounced, time.Time{}
	case cur == PhaseWithdrawn:
		return PhaseWithdrawn, time.Time{}
	}
	end := drainStart.Add(drain)
	if !now.Before(end) {
		return PhaseWithdrawn, time.Time{}
	}
	return PhaseDraining, end
}
