package bgp

import "time"

// phase is what the speaker offers for every prefix; the node's health is one, so the
// prefixes move together.
type phase int

const (
	phaseWithdrawn phase = iota
	phaseAnnounced
	phaseDraining
)

func (p phase) String() string {
	switch p {
	case phaseAnnounced:
		return StateAnnounced
	case phaseDraining:
		return StateDraining
	default:
		return StateWithdrawn
	}
}

// decide is the whole policy: a node that is not healthy withdraws at once (a dead or hung
// HAProxy cannot serve the flows a drain would keep); a healthy node that drains keeps
// its prefixes with GRACEFUL_SHUTDOWN until drainStart+drain, then withdraws. A drain
// never announces what was not offered (cur withdrawn): a node that starts, or comes back
// healthy, in maintenance stays out. It also returns when to decide again (zero: only on
// a new input).
func decide(cur phase, healthy, draining bool, drainStart, now time.Time, drain time.Duration) (phase, time.Time) {
	switch {
	case !healthy:
		return phaseWithdrawn, time.Time{}
	case !draining:
		return phaseAnnounced, time.Time{}
	case cur == phaseWithdrawn:
		return phaseWithdrawn, time.Time{}
	}
	end := drainStart.Add(drain)
	if !now.Before(end) {
		return phaseWithdrawn, time.Time{}
	}
	return phaseDraining, end
}
