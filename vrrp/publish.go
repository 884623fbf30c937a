package vrrp

import "net/netip"

// shown is what a status shows of an instance; a change of it wakes the watchers
// (Options.OnChange). Counters and peers' ages move all the time and are left out.
type shown struct {
	state          State
	holds          bool
	master         netip.Addr
	masterPriority int
	priority       int
	resigned       bool
	maintenance    bool
	faults         int
}

// shownNow returns what the snapshot shows now; in.mu is held.
func (l *loop) shownNow() shown {
	in := l.in
	return shown{state: in.snap.State, holds: in.snap.HoldsVIPs, master: in.snap.MasterSeen,
		masterPriority: in.snap.MasterPriority, priority: in.snap.EffectivePriority,
		resigned: in.snap.Resigned, maintenance: in.ctl.maintenance, faults: len(in.ctl.faults)}
}

// publish brings the snapshot's resignation up to date after controls that change it
// without a step (SetNoPreempt), and wakes the watchers when what is shown changed.
func (l *loop) publish() {
	in := l.in
	in.mu.Lock()
	in.snap.Resigned = l.m.Resigned()
	sh := l.shownNow()
	in.mu.Unlock()
	l.changed(sh)
}

// changed calls OnChange when sh differs from what was shown last.
func (l *loop) changed(sh shown) {
	if sh == l.shown {
		return
	}
	l.shown = sh
	if f := l.in.opts.OnChange; f != nil {
		f()
	}
}
