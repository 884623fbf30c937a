package vrrp

import (
	"net/netip"
	"time"
)

// The inputs from outside the protocol: priority, fault, maintenance, sync groups,
// resignation and shutdown.

// SetPriority changes the effective priority (a tracker's weight moved it). It takes effect
// in the next advert and the next timer computation, as in keepalived; the owner's 255 is
// never changed by the runner.
func (m *Machine) SetPriority(now time.Time, p uint8) []Action {
	if p == 0 {
		p = 1
	}
	m.priority = p
	if m.state == StateMaster {
		m.masterPriority = p
	}
	return nil
}

// SetFault enters FAULT (from any started state) or leaves it. A master resigns with
// priority 0 on the way in and removes its VIPs at once, as does a node handing over or
// draining: a faulty node must not answer on them.
func (m *Machine) SetFault(now time.Time, fault bool) []Action {
	if m.fault == fault {
		return nil
	}
	m.fault = fault
	var acts []Action
	if fault {
		acts = m.release(acts)
	}
	switch {
	case fault && m.state != StateInit && m.state != StateFault:
		if m.state == StateMaster {
			acts = m.leaveMaster(now, false, acts)
		}
		m.state = StateFault
		m.adverAt, m.masterDownAt = time.Time{}, time.Time{}
		m.waiting = false
		return acts
	case !fault && m.state == StateFault:
		return m.initialize(now, nil)
	}
	return acts
}

// SetMaintenance keeps the node out of MASTER (on) or lets it compete again (off). A
// master resigns with priority 0, so that the backup takes over after its skew time, and
// hands over (see HandingOver).
func (m *Machine) SetMaintenance(now time.Time, on bool) []Action {
	if m.maintenance == on {
		return nil
	}
	m.maintenance = on
	switch {
	case on && m.state == StateMaster:
		acts := m.leaveMaster(now, true, nil)
		m.becomeBackup(now)
		return acts
	case on && m.waiting:
		m.becomeBackup(now) // no longer ready
	}
	return nil
}

// SetHold is the sync group's gate: while held, a backup whose Master_Down_Timer expires
// does not become master but waits (Waiting); when the hold is lifted a waiting machine
// becomes master at once. The group lifts it when every other member is ready, so the
// members become master together (keepalived's vrrp_sync_can_goto_master). A hold does
// not move a master: the group uses SyncBackup for that.
func (m *Machine) SetHold(now time.Time, hold bool) []Action {
	m.hold = hold
	if !hold && m.waiting && m.state == StateBackup {
		return m.becomeMaster(now, nil)
	}
	return nil
}

// SyncBackup makes a master follow another member of its sync group to BACKUP: priority
// 0 and a handover, as Resign, but without yielding: the group decides when it competes
// again.
func (m *Machine) SyncBackup(now time.Time) []Action {
	if m.state != StateMaster {
		return nil
	}
	acts := m.leaveMaster(now, true, nil)
	m.becomeBackup(now)
	return acts
}

// SetNoPreempt forbids (on) or allows again preempting a lower-priority master. The
// machine still takes over when no master is heard or when the master resigns: it only
// gives up the optional move. Turning it off also ends a Resign's yield, so that a node
// that stepped down for a condition that has cleared returns to its place.
func (m *Machine) SetNoPreempt(on bool) {
	m.noPreempt = on
	if !on {
		m.yield = false
	}
}

// Resign hands the role over: a master sends priority 0, becomes backup and hands over
// (see HandingOver); until it is master again it lets the new master keep the role even
// with a lower priority (as if preempt were off), so that resigning does not bounce back
// three intervals later. A backup only stops preempting.
func (m *Machine) Resign(now time.Time) []Action {
	switch m.state {
	case StateMaster:
		m.startYield(now)
		acts := m.leaveMaster(now, true, nil)
		m.becomeBackup(now)
		return acts
	case StateBackup:
		m.startYield(now)
	}
	return nil
}

// EndYield undoes a Resign: the machine competes again as its configuration says. With
// preempt on, a lower-priority master is preempted once the Master_Down_Timer runs out
// (after the preempt delay, counted from the next advert of that master); with preempt
// off it stays backup. Nothing is sent: the takeover, if any, comes from the timer.
func (m *Machine) EndYield(now time.Time) []Action {
	if !m.yield {
		return nil
	}
	m.yield = false
	if m.cfg.PreemptDelay > 0 {
		m.preemptAt = time.Time{}
	}
	return nil
}

// Resigned reports whether a Resign holds this machine back: it lets the current master
// keep the role although it would preempt it. Without preempt the yield changes nothing,
// and while an outside condition forbids preemption (SetNoPreempt) the yield is that
// condition's and ends with it: neither is reported.
func (m *Machine) Resigned() bool { return m.yield && m.cfg.Preempt && !m.noPreempt }

// Shutdown stops the instance (RFC 5798 §6.4.3 Shutdown event): a master sends priority 0
// and hands over (see HandingOver: the runner keeps running until the handover ends). The
// machine returns to INIT and may be started again.
func (m *Machine) Shutdown(now time.Time) []Action {
	var acts []Action
	if m.state == StateMaster {
		acts = m.leaveMaster(now, true, acts)
	}
	m.state = StateInit
	m.adverAt, m.masterDownAt = time.Time{}, time.Time{}
	m.waiting = false
	return acts
}

// maxAnswered bounds the sources remembered in Machine.answered: a flood from spoofed
// sources beyond it is not answered out of turn at all (the regular adverts still go out).
const maxAnswered = 256

// mayAnswer reports whether an out-of-turn answer to src is allowed now, and records it.
func (m *Machine) mayAnswer(now time.Time, src netip.Addr) bool {
	if last, ok := m.answered[src]; ok && now.Sub(last) < m.cfg.AdvertInterval {
		return false
	}
	if m.answered == nil {
		m.answered = map[netip.Addr]time.Time{}
	}
	if len(m.answered) >= maxAnswered {
		for a, t := range m.answered {
			if now.Sub(t) >= m.cfg.AdvertInterval {
				delete(m.answered, a)
			}
		}
		if len(m.answered) >= maxAnswered {
			return false
		}
	}
	m.answered[src] = now
	return true
}

// Resume starts a machine that finds its VIPs still on the interface, left by a run of
// this node that crashed or was restarted while master: it takes MASTER back at once
// (advert, announcement) instead of dropping the VIPs and waiting a master-down interval
// while nobody holds them. A better master, if one took over meanwhile, is heard within
// one advert interval and wins as usual. With no preemption or a preempt delay (which a
// master that took over meanwhile must be able to count on) it first listens for one
// advert interval and the skew time, keeping the VIPs: no master heard, it takes MASTER
// back with them; a master heard, it lets them go after the drain (see drainTime) and
// stays BACKUP. Held back (fault, maintenance, a sync group), it starts as Start does.
func (m *Machine) Resume(now time.Time) []Action {
	if m.state != StateInit {
		return nil
	}
	if m.fault || m.maintenance || m.hold {
		return m.Start(now)
	}
	m.masterAdverInterval = m.cfg.AdvertInterval
	if m.cfg.Preempt && m.cfg.PreemptDelay == 0 {
		return m.becomeMaster(now, nil)
	}
	if m.cfg.PreemptDelay > 0 {
		m.preemptAt = now.Add(m.cfg.PreemptDelay)
	}
	m.becomeBackup(now)
	// A graceful handover in reverse: the VIPs stay until a master is heard (Advert
	// starts the drain) or this node becomes master at the deadline (and keeps them).
	m.masterDownAt = now.Add(m.cfg.AdvertInterval + m.SkewTime())
	m.releaseAt = m.masterDownAt
	return nil
}
