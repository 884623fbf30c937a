package cluster

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The boundary between two cases of a lab. A case's window runs from its fault to its
// settled end state; what happens between two windows (the previous case's cleanups, a
// request still in flight at its end, a VIP still draining, a client's ARP entry naming the
// old holder) belongs to no case. It must neither be charged to the next case nor pass
// unseen: the next case starts only once a request that began after the lab was back in
// its initial state has been answered by lb1 (the poller runs one request at a time, so
// nothing older is still in flight), and anything that moved meanwhile fails the lab,
// naming the case it followed.

// nodeMark is what one node showed at a case's end: its halod and VI_1's counters.
type nodeMark struct {
	pid         int
	transitions uint64
	restores    uint64
}

// marks records every running halod's VI_1 counters.
func (m *mlab) marks(t *testing.T) map[string]nodeMark {
	t.Helper()
	out := map[string]nodeMark{}
	for _, lb := range m.c.LBs {
		if lb.Halod == nil || !running(lb.Halod.Done()) {
			continue
		}
		in := vi1(m.status(t, lb))
		out[lb.Name] = nodeMark{pid: lb.Halod.PID, transitions: in.Transitions, restores: in.VIPRestores}
	}
	return out
}

// freshAnswer fails unless the client's latest completed request started after since and
// was answered by lb.
func (m *mlab) freshAnswer(lb string, since time.Time) error {
	ev, ok := m.p.Latest()
	switch {
	case !ok:
		return errors.New("client: no request completed yet")
	case ev.At <= since.UnixNano():
		return fmt.Errorf("client: no request started since the initial state held (%s ago) has completed yet",
			time.Since(since).Round(time.Millisecond))
	case !ev.OK || ev.LB != lb:
		return fmt.Errorf("client: latest request ok=%v from %q (%s), want an answer from %s", ev.OK, ev.LB, ev.Err, lb)
	}
	return nil
}

// unaccounted returns the events from index from on that started at or before until (the
// rest belong to what comes next), and the index of the first event after them.
func unaccounted(evs []PollEvent, from int, until time.Time) ([]PollEvent, int) {
	i := min(from, len(evs))
	for i < len(evs) && evs[i].At <= until.UnixNano() && evs[i].Err != "done" {
		i++
	}
	return evs[min(from, i):i], i
}

// failed describes the failed requests among evs ("" when none).
func failed(evs []PollEvent, ref time.Time) string {
	var out []string
	for _, ev := range evs {
		if !ev.OK {
			out = append(out, fmt.Sprintf("%s at %+dms (failures %d)", ev.Err,
				time.Duration(ev.At-ref.UnixNano()).Milliseconds(), ev.Failures))
		}
	}
	return strings.Join(out, ", ")
}

// afterCase runs in the lab's test once a case and its cleanups are done. It waits for the
// lab's initial state and a fresh answer, then fails the lab when anything moved after the
// case's end: a client request that failed (one in flight at the end, or broken by a
// cleanup), a halod restarted, a state change, a master that found its VIP removed. That
// holds when the case ended in the initial state already (lb1 master); when it ended with
// another master, lb1 preempting it back is the lab's way home, part of no case: what it
// moved is logged only. So is what a case that failed (and said so) left behind.
func (m *mlab) afterCase(t *testing.T, name string, passed bool) {
	t.Helper()
	if m.end.IsZero() {
		if !passed {
			m.accounted = -1 // its failures are its own, not the next case's
		}
		return // skipped, or stopped before its end state: the next case's steady copes
	}
	end, marks, master := m.end, m.endMarks, m.endMaster
	m.end, m.endMarks, m.endMaster = time.Time{}, nil, nil
	m.steady(t)
	var leaks []string
	evs, next := unaccounted(m.p.Events(), m.accounted, m.quiet)
	m.accounted = next
	if f := failed(evs, end); f != "" {
		leaks = append(leaks, "client requests failed: "+f)
	}
	now := m.marks(t)
	for _, lb := range m.c.LBs {
		a, had := marks[lb.Name]
		b, has := now[lb.Name]
		if had != has || a.pid != b.pid {
			leaks = append(leaks, fmt.Sprintf("%s's halod changed (pid %d, now %d)", lb.Name, a.pid, b.pid))
			continue // a new halod counts from zero
		}
		if b.transitions != a.transitions {
			leaks = append(leaks, fmt.Sprintf("%s made %d state changes", lb.Name, b.transitions-a.transitions))
		}
		if b.restores != a.restores {
			leaks = append(leaks, fmt.Sprintf("%s found its VIP removed behind its back %d times", lb.Name, b.restores-a.restores))
		}
	}
	if len(leaks) == 0 {
		return
	}
	msg := fmt.Sprintf("between the end of %s and the next case's start (%s later), outside any case's outage window: %s",
		name, m.quiet.Sub(end).Round(time.Millisecond), strings.Join(leaks, "; "))
	switch {
	case !passed:
		t.Log(msg)
	case master != m.c.LBs[0]:
		t.Logf("%s (%s ended with %s master: lb1 took the VIP back meanwhile)", msg, name, master.Name)
	default:
		t.Error(msg)
	}
}
