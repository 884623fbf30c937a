package vrrp

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"time"
)

// loop is the state of one Run: only its goroutine touches the machine.
type loop struct {
	in    *Instance
	tr    Transport
	owner Owner
	src   netip.Addr
	m     *Machine
	rx    chan received
	rxErr chan error
	// recv checks what the reader hears, on the reader's goroutine: the instance's own
	// reader, or a shared socket's (packetFeed), whose goroutine hands each packet to
	// hear directly. heard holds the refreshes the reader took (see heard).
	recv       *receiver
	heard      heard
	feedClosed <-chan struct{}
	feedErr    func() error

	applied   control // the control state last applied to the machine
	stopped   bool    // Run is returning: reported to the sync group as not running
	reported  memberStatus
	reportTo  *Group // the group reported to last
	holds     bool
	vipErr    error     // the last AddVIPs failure, nil when every VIP went on
	garpAt    time.Time // next announcement burst; zero: none
	garpFirst bool      // the next burst is the delayed second one
	// repairAt is when a failed VIP operation is tried again (zero: none pending);
	// removeFailed says a removal is what failed.
	repairAt     time.Time
	repairDelay  time.Duration
	removeFailed bool
	buf          []byte

	sendFailing bool // the last send failed; its error was logged

	shown shown // what the snapshot showed when OnChange was last called
	// drainMaster and drainPriority are the master whose advert started the drain, for
	// the line logged when the VIPs go.
	drainMaster   netip.Addr
	drainPriority uint8
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
	// A VIP left on the interface by an earlier run (halod crashed or was restarted while
	// master) means this node was master: it resumes the role rather than darkening the
	// VIP for a master-down interval; a better master, if one took over, wins within an
	// advert interval. Anything else left behind goes: a backup must not hold a VIP.
	if missing, err := l.owner.Missing(); err == nil && len(missing) == 0 && len(in.cfg.VIPs) > 0 {
		in.log.Info("VIPs still on the interface from an earlier run: resuming as master")
		l.holds = true
		l.step(now, "resume", l.m.Resume(now))
		if l.m.State() != StateMaster && !l.m.HandingOver() {
			l.removeVIPs(now)
		}
	} else {
		l.removeVIPs(now)
		l.step(now, "start", l.m.Start(now))
	}

	ts := in.opts.Timers
	timer, garp, repair := newDeadline(ts), newDeadline(ts), newDeadline(ts)
	defer timer.stop()
	defer garp.stop()
	defer repair.stop()
	done := ctx.Done()
	stopping := false
	for {
		if stopping && !l.m.HandingOver() {
			if l.holds {
				l.removeVIPs(time.Now())
			}
			return nil
		}
		timer.arm(l.m.Deadline())
		garp.arm(l.garpAt)
		repair.arm(l.repairAt)
		l.listen()
		// Each case starts with catchUp: a refresh the reader took came first.
		select {
		case <-done:
			l.catchUp()
			now := time.Now()
			l.step(now, "shutdown", l.m.Shutdown(now))
			switch {
			case l.m.Draining():
				in.log.Info("stopping: another node is master, keeping the VIPs until the drain ends",
					"master", l.drainMaster, "drain", l.m.drainTime())
			case l.m.HandingOver():
				in.log.Info("stopping: priority 0 sent, keeping the VIPs until the new master is heard",
					"at_most", l.m.HandoverTimeout())
			}
			done, stopping = nil, true
		case err := <-l.rxErr:
			l.catchUp()
			now := time.Now()
			l.step(now, "shutdown", l.m.Shutdown(now))
			l.removeVIPs(now)
			return err
		case r := <-l.rx:
			l.catchUp()
			l.advert(r)
		case <-l.feedClosed:
			l.catchUp()
			if err := l.feedErr(); err != nil {
				now := time.Now()
				l.step(now, "shutdown", l.m.Shutdown(now))
				l.removeVIPs(now)
				return fmt.Errorf("vrrp: instance %s: receive: %w", in.cfg.Name, err)
			}
			l.feedClosed = nil // closed by Run after the loop: nothing more
		case <-timer.c():
			l.catchUp()
			timer.fired()
			now := time.Now()
			handing, draining := l.m.HandingOver(), l.m.Draining()
			l.step(now, "master_down", l.m.Timeout(now))
			if handing && !l.m.HandingOver() {
				switch {
				case l.m.State() == StateMaster:
					in.log.Info("handover ended: no new master took over, master again")
				case draining:
					in.log.Info("handover done: the new master is heard, VIPs released",
						"master", l.drainMaster, "master_priority", l.drainPriority, "drain", l.m.drainTime())
				default:
					in.log.Warn("handover ended: no new master heard in time, VIPs released", "after", l.m.HandoverTimeout())
				}
			}
		case <-garp.c():
			l.catchUp()
			garp.fired()
			l.garpBurst(time.Now())
		case <-repair.c():
			l.catchUp()
			repair.fired()
			l.repairAt = time.Time{}
			l.repairVIPs(time.Now())
		case <-in.wake:
			l.catchUp()
			l.applyControl(time.Now())
		}
	}
}

// advert hands a received advert to the machine.
func (l *loop) advert(r received) {
	in := l.in
	now := time.Now()
	in.mu.Lock()
	in.counters.AdvertsReceived++
	if r.adv.Priority == 0 {
		in.counters.PriorityZeroReceived++
	}
	in.notePeer(now, r.src, &r.adv)
	in.mu.Unlock()
	reason := "preempted"
	if r.adv.Priority == 0 {
		reason = "priority_0"
	}
	draining := l.m.Draining()
	l.step(now, reason, l.m.Advert(now, r.src, &r.adv))
	if !draining && l.m.Draining() {
		// The VIPs go when the drain ends (the timer), logged then.
		l.drainMaster, l.drainPriority = r.src, r.adv.Priority
		in.log.Info("another node is master: keeping the VIPs for the drain",
			"master", r.src, "master_priority", r.adv.Priority, "drain", l.m.drainTime())
	}
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
		endResign:   in.ctl.endResign,
		noPreempt:   maps.Clone(in.ctl.noPreempt),
		tracked:     maps.Clone(in.ctl.tracked),
		vipsLost:    in.ctl.vipsLost,
		episodes:    maps.Clone(in.ctl.episodes),
		hold:        in.ctl.hold,
		syncBackups: in.ctl.syncBackups,
	}
	in.ctl.resigns, in.ctl.syncBackups, in.ctl.endResign = 0, 0, false
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
	if c.vipsLost != l.applied.vipsLost {
		l.repairVIPs(now)
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
	if c.endResign {
		in.log.Info("resignation ended: competing again", "preempt", in.cfg.PreemptEnabled(), "was_resigned", l.m.Resigned())
		l.step(now, "resume", l.m.EndYield(now))
	}
	for name, failing := range c.tracked {
		// A master whose weighted tracker began to fail since the last turn hands over
		// now; decided here, against the machine's own state, so no caller's stale view
		// can make or miss the move.
		if t := in.trackers[name]; failing && !t.Fault && !t.penalty && c.episodes[name] != l.applied.episodes[name] && l.m.State() == StateMaster {
			in.log.Info("tracked condition failing: resigning", "tracker", name)
			l.step(now, "resign", l.m.Resign(now))
			break
		}
	}
	if c.hold != l.applied.hold {
		l.step(now, "sync_group", l.m.SetHold(now, c.hold))
	}
	if c.syncBackups > 0 && l.m.State() == StateMaster {
		in.log.Info("following the sync group to BACKUP")
		l.step(now, "sync_group", l.m.SyncBackup(now))
	}
	c.resigns, c.syncBackups, c.endResign = 0, 0, false
	l.applied = c
	l.publish()
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
			l.addVIPs(now)
		case ActRemoveVIPs:
			l.removeVIPs(now)
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
		trans *Transition
	)
	in.mu.Lock()
	from := in.snap.State
	changed := st != from
	if changed {
		in.snap.State, in.snap.Since = st, now
		in.counters.Transitions[StateChange{from, st}]++
		if in.opts.OnTransition != nil {
			trans = &Transition{Instance: in.cfg.Name, From: from, To: st, At: now, Reason: reason}
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
	in.snap.Resigned = l.m.Resigned()
	shown := l.shownNow()
	in.mu.Unlock()
	l.changed(shown)
	if hooks != nil {
		hooks.push(hook) // never waits for a hook
	}
	if trans != nil {
		in.opts.OnTransition(*trans)
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
