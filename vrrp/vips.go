package vrrp

import (
	"time"
)

// VIP repair backs off from repairMin to repairMax between attempts: a removal that
// failed (a full file table, say) is tried until it succeeds, and so is a restore.
const (
	repairMin = 100 * time.Millisecond
	repairMax = 5 * time.Second
)

// addVIPs puts the VIPs on. holds stays true on failure, so that whatever was added is
// removed later; the snapshot says only what certainly is on the interface, and the
// rest is retried.
func (l *loop) addVIPs(now time.Time) {
	l.holds, l.removeFailed = true, false
	l.vipErr = l.owner.AddVIPs()
	if l.vipErr != nil {
		l.in.log.Error("adding VIPs", "err", l.vipErr)
		l.countVIPError()
		l.scheduleRepair(now)
		return
	}
	l.repairDone()
}

// removeVIPs takes the VIPs off. A failure is counted, logged once and retried until it
// succeeds: a node that is not master must not keep answering on them.
func (l *loop) removeVIPs(now time.Time) {
	err := l.owner.RemoveVIPs()
	l.holds, l.vipErr = false, nil
	l.garpAt = time.Time{}
	l.in.mu.Lock()
	l.in.snap.HoldsVIPs = false
	l.in.mu.Unlock()
	l.publish()
	if err != nil {
		if !l.removeFailed {
			l.in.log.Error("removing VIPs; retrying until they are gone", "err", err)
		}
		l.countVIPError()
		l.removeFailed = true
		l.scheduleRepair(now)
		return
	}
	if l.removeFailed {
		l.in.log.Info("VIPs removed after an earlier failure")
	}
	l.removeFailed = false
	l.repairDone()
}

// repairVIPs brings the interface in line with the role: a master whose VIPs went
// missing (removed behind its back, or an add that failed) puts them back and announces
// them again; any other state finishes a removal that failed.
func (l *loop) repairVIPs(now time.Time) {
	in := l.in
	if l.m.State() != StateMaster || !l.holds {
		if l.removeFailed {
			l.removeVIPs(now)
		}
		return
	}
	missing, err := l.owner.Missing()
	if err != nil {
		in.log.Warn("checking VIPs", "err", err)
		l.scheduleRepair(now)
		return
	}
	if len(missing) == 0 && l.vipErr == nil {
		return
	}
	if l.vipErr = l.owner.AddVIPs(); l.vipErr != nil {
		in.log.Error("restoring VIPs", "missing", missing, "err", l.vipErr)
		l.countVIPError()
		l.scheduleRepair(now)
	} else {
		in.log.Warn("VIPs were removed behind halo's back: restored and announced", "vips", missing)
		in.mu.Lock()
		in.counters.VIPRestores++
		in.mu.Unlock()
		l.repairDone()
		l.garpFirst = true
		l.garpBurst(now)
	}
	in.mu.Lock()
	in.snap.HoldsVIPs = l.holds && l.vipErr == nil
	in.mu.Unlock()
	l.publish()
}

func (l *loop) scheduleRepair(now time.Time) {
	l.repairDelay = min(max(2*l.repairDelay, repairMin), repairMax)
	l.repairAt = now.Add(l.repairDelay)
}

func (l *loop) repairDone() {
	l.repairAt, l.repairDelay = time.Time{}, 0
}

func (l *loop) countVIPError() {
	l.in.mu.Lock()
	l.in.counters.VIPErrors++
	l.in.mu.Unlock()
}
