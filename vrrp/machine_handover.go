package vrrp

import (
	"net/netip"
	"time"
)

// The graceful handover (see doc.go): leaving MASTER by plan keeps the VIPs until the new
// master is heard, then drains them; a resigned node yields to the master it resigned to.

// HandingOver reports whether the machine is not master but still holds the VIPs: it
// left MASTER gracefully (until the drain after the new master's first advert has ended,
// or HandoverTimeout has passed), or another master took the role from it (the drain,
// see Draining). The runner keeps the VIPs (and a stopping instance keeps running) until
// then.
func (m *Machine) HandingOver() bool { return !m.releaseAt.IsZero() }

// HandoverTimeout bounds a graceful handover: the longest master-down interval a backup
// of this virtual router can have (three of this node's advert intervals, which v3
// backups adopt, plus the skew time of priority 1). A backup that missed the priority-0
// advert still takes over within it, so the VIPs are never dark.
func (m *Machine) HandoverTimeout() time.Duration {
	skew := 255 * m.cfg.AdvertInterval / 256
	if m.cfg.Version == 2 {
		skew = 255 * time.Second / 256
	}
	return 3*m.cfg.AdvertInterval + skew
}

// leaveMaster stops being master with the resignation advert (priority 0, so the backup
// takes over after its skew time, RFC 5798 §6.4.3). On a fault the VIPs go at once. On a
// planned leave (resign, maintenance, shutdown) they stay until the drain after the new
// master is heard has ended, or HandoverTimeout has passed: the backup's gratuitous ARPs
// move the clients while this node still answers, so the VIPs are never dark (keepalived
// removes them at once).
func (m *Machine) leaveMaster(now time.Time, graceful bool, acts []Action) []Action {
	m.adverAt = time.Time{}
	if m.master == m.cfg.Primary {
		m.master, m.masterPriority = netip.Addr{}, 0
	}
	acts = append(acts, Action{Kind: ActSendAdvert, Priority: 0})
	if graceful {
		m.releaseAt = now.Add(m.HandoverTimeout())
		return acts
	}
	return append(acts, Action{Kind: ActRemoveVIPs})
}

// release ends a handover or a drain: the VIPs go.
func (m *Machine) release(acts []Action) []Action {
	if m.releaseAt.IsZero() {
		return acts
	}
	m.releaseAt, m.draining = time.Time{}, false
	return append(acts, Action{Kind: ActRemoveVIPs})
}

// maxDrain bounds drainTime.
const maxDrain = 250 * time.Millisecond

// drainTime is how long the VIPs stay once another node is master: the new master's
// gratuitous ARPs have moved the clients, but a request this node received just before
// would die with the address (its answer could no longer leave from the VIP). Half an
// advert interval, at most 250 ms: enough for a proxied request in flight, and the two
// holders overlap for the advert's one-way delay plus half an interval, under the
// one-interval-plus-skew bound a move is judged by. This node's configured interval, not
// one adopted from a master (v3): a master advertising a long one must not stretch it.
func (m *Machine) drainTime() time.Duration { return min(m.cfg.AdvertInterval/2, maxDrain) }

// drain starts the drain (see drainTime) of VIPs this node still holds while another
// node is master: a handover's, or a master's that a better one took over from. It never
// extends a release already due sooner (a handover stays within HandoverTimeout), nor
// restarts a drain under way (each advert of the new master would push it back).
func (m *Machine) drain(now time.Time) {
	if m.draining {
		return
	}
	at := now.Add(m.drainTime())
	if m.releaseAt.IsZero() || at.Before(m.releaseAt) {
		m.releaseAt = at
	}
	m.draining = true
}

// Draining reports whether the machine keeps the VIPs only for the drain after another
// node became master (see drainTime); HandingOver is true as well.
func (m *Machine) Draining() bool { return m.draining }

// trackYield follows the master a resigned node yields to: the first heard after the
// resignation, or a better one heard within an interval of it (two backups whose timers
// ran out together: the weaker claims the role for a moment and yields). The yield ends
// when another master speaks while that one has been silent for two of its intervals:
// it has gone, and a third node took over from it (the yield was to that one only).
func (m *Machine) trackYield(now time.Time, src netip.Addr, prio uint8) {
	if !m.yield {
		return
	}
	switch {
	case src == m.yieldTo:
		m.yieldPrio, m.yieldHeard = prio, now
	case !m.yieldTo.IsValid() || prio > m.yieldPrio && now.Sub(m.yieldSince) < m.masterAdverInterval:
		m.yieldTo, m.yieldPrio, m.yieldSince, m.yieldHeard = src, prio, now, now
	case now.Sub(m.yieldHeard) > 2*m.masterAdverInterval:
		m.yield = false
	}
}

// startYield begins a Resign's yield, to the master heard so far if any (a backup that
// resigns yields to the current master).
func (m *Machine) startYield(now time.Time) {
	m.yield = true
	m.yieldTo, m.yieldPrio, m.yieldSince, m.yieldHeard = netip.Addr{}, 0, time.Time{}, time.Time{}
	if m.state == StateBackup && m.master.IsValid() && m.master != m.cfg.Primary {
		m.yieldTo, m.yieldPrio, m.yieldSince, m.yieldHeard = m.master, m.masterPriority, now, now
	}
}
