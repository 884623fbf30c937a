package vrrp

// control is what the supervisor (and the sync group) ask for; the Run loop applies it
// to the machine.
type control struct {
	// tracked is the latest state of each tracker (SetTracked), episodes counts how often
	// each began to fail, so that the loop sees a failure it slept through; weights, faults
	// and noPreempt are what the trackers' policies (and the links, and the sync group)
	// make of them.
	tracked     map[string]bool
	episodes    map[string]uint64
	weights     map[string]int
	faults      map[string]bool
	noPreempt   map[string]bool
	maintenance bool
	resigns     int    // Resign calls not yet applied
	endResign   bool   // an EndResign not yet applied (the later of the two wins)
	vipsLost    uint64 // reports that a VIP may have been removed behind our back

	// Set by the sync group: hold back from MASTER, follow to BACKUP, and the group's
	// merged weights (nil when in no group: weights apply).
	hold         bool
	syncBackups  int
	groupWeights map[string]int
}

func newControl() control {
	return control{tracked: map[string]bool{}, episodes: map[string]uint64{}, weights: map[string]int{},
		faults: map[string]bool{}, noPreempt: map[string]bool{}}
}

// effectiveWeights returns the weights that make the priority.
func (c *control) effectiveWeights() map[string]int {
	if c.groupWeights != nil {
		return c.groupWeights
	}
	return c.weights
}

func (in *Instance) poke() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// SetTracked reports the newest state of the named tracked condition: failing or not.
// What it does is the instance's own policy for that name (InstanceConfig.Trackers),
// applied on the instance's loop: a fault tracker puts it in FAULT while failing; a
// weighted one adds its weight to the priority, stops preemption and makes a master
// resign at once (priority 0, VIPs kept until the backup is heard) instead of waiting
// for a backup's master-down timer; a penalty (the degraded weight) only adds its weight.
// Only the latest value counts: any number of calls between two turns of the loop act as
// the last one, so a flapping condition can be reported as fast as it flaps. A name the instance does not track is ignored (false).
//
// In a sync group a weight applies to every member (see Group).
func (in *Instance) SetTracked(name string, failing bool) bool {
	t, ok := in.trackers[name]
	if !ok {
		return false
	}
	in.mu.Lock()
	was := in.ctl.tracked[name]
	in.ctl.tracked[name] = failing
	if failing && !was {
		in.ctl.episodes[name]++
	}
	switch {
	case t.Fault:
		setKey(in.ctl.faults, name, failing)
	default:
		if failing {
			in.ctl.weights[name] = t.Weight
		} else {
			delete(in.ctl.weights, name)
		}
		if !t.penalty {
			setKey(in.ctl.noPreempt, name, failing)
		}
	}
	g := in.group
	in.mu.Unlock()
	if g != nil {
		g.syncWeights()
	}
	in.poke()
	return true
}

func setKey(m map[string]bool, k string, on bool) {
	if on {
		m[k] = true
	} else {
		delete(m, k)
	}
}

// setHold, syncBackup and setGroupWeights are the sync group's controls; its fault goes
// through setFault, under a key of its own.
func (in *Instance) setHold(hold bool) {
	in.mu.Lock()
	in.ctl.hold = hold
	in.mu.Unlock()
	in.poke()
}

func (in *Instance) syncBackup() {
	in.mu.Lock()
	in.ctl.syncBackups++
	in.mu.Unlock()
	in.poke()
}

func (in *Instance) setGroupWeights(w map[string]int) {
	in.mu.Lock()
	in.ctl.groupWeights = w
	in.mu.Unlock()
	in.poke()
}

// detach leaves group g: its hold, fault and weights are lifted.
func (in *Instance) detach(g *Group) {
	in.mu.Lock()
	if in.group != g {
		in.mu.Unlock()
		return
	}
	in.group = nil
	in.snap.SyncGroup = ""
	in.ctl.hold = false
	in.ctl.groupWeights = nil
	delete(in.ctl.faults, g.faultKey)
	in.mu.Unlock()
	in.poke()
}

// vipRemoved is the owner's report that a VIP may have left its interface.
func (in *Instance) vipRemoved() {
	in.mu.Lock()
	in.ctl.vipsLost++
	in.mu.Unlock()
	in.poke()
}

// setFault sets or clears the named fault (the sync group's, under a key of its own).
// While any fault is set the instance is in FAULT: it holds no VIP (they go at once, with
// no handover) and, if it was master, it sent priority 0 on the way.
func (in *Instance) setFault(name string, fault bool) {
	in.mu.Lock()
	setKey(in.ctl.faults, name, fault)
	in.mu.Unlock()
	in.poke()
}

// Resign makes a master leave the role now: it sends priority 0, keeps its VIPs until the
// new master's advert arrives (at most Machine.HandoverTimeout), then removes them, and
// lets the new master keep the role until that one fails. On a backup it stops preemption
// in the same way.
func (in *Instance) Resign() {
	in.mu.Lock()
	in.ctl.resigns++
	in.ctl.endResign = false
	in.mu.Unlock()
	in.poke()
}

// EndResign undoes a Resign: the instance competes for MASTER again as its preempt
// setting says (a higher-priority node with preempt takes the role back within a
// master-down interval; with nopreempt it stays backup). A Resign is not kept across a
// restart of the instance.
func (in *Instance) EndResign() {
	in.mu.Lock()
	in.ctl.resigns = 0
	in.ctl.endResign = true
	in.mu.Unlock()
	in.poke()
}

// SetMaintenance keeps the instance out of MASTER (on: a master resigns and hands over as
// with Resign, a backup never takes over) or lets it compete again.
func (in *Instance) SetMaintenance(on bool) {
	in.mu.Lock()
	in.ctl.maintenance = on
	in.mu.Unlock()
	in.poke()
}
