package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
)

// The cases of the other labs: 100 ms adverts, three nodes, IPv6, unicast.

// caseCPUSaturated: the backup's node busy with bounded busy loops, one per CPU and then
// four per CPU, at 100 ms adverts. The backup must not take over; if it does, the error
// names the load.
func caseCPUSaturated(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	t0 := time.Now()
	for _, loops := range []int{runtime.NumCPU(), 4 * runtime.NumCPU()} {
		before := m.allTransitions(t)
		const d = 5 * time.Second
		ctx, cancel := context.WithTimeout(m.ctx, d+10*time.Second)
		done := make(chan string, 1)
		go func() {
			out, err := lb2.Node.Exec(ctx, filepath.Join(m.c.Bin, "labtool"), "burn", "-loops", strconv.Itoa(loops), "-duration", d.String())
			if err != nil {
				done <- err.Error()
				return
			}
			done <- strings.TrimSpace(string(out))
		}()
		var moved string
		var res string
	sample:
		for {
			select {
			case res = <-done:
				break sample
			default:
			}
			if moved == "" {
				if got, err := m.vipHolders(t); err == nil && !slices.Equal(got, []string{lb1.Name}) {
					moved = fmt.Sprintf("VIP held by %v at +%s", got, time.Since(t0).Round(time.Millisecond))
				}
			}
			time.Sleep(20 * time.Millisecond) // sampling a negative condition: nothing to await
		}
		cancel()
		tr := m.transitions(t, lb2) - before[1]
		t.Logf("load %d busy loops on %d CPUs (%s) on the backup: backup state changes %d", loops, runtime.NumCPU(), res, tr)
		if tr != 0 || moved != "" {
			t.Errorf("false takeover under %d busy loops on %d CPUs at %s adverts: backup made %d state changes; %s",
				loops, runtime.NumCPU(), m.adv, tr, moved)
		}
		if got := m.transitions(t, lb1) - before[0]; got != 0 {
			t.Errorf("master made %d state changes under %d busy loops on the backup", got, loops)
		}
	}
	return t0
}

// caseThreeMasterDies: the master of three powers off; the highest backup (lb2) wins and
// lb3 stays BACKUP throughout. lb1 comes back and preempts after preempt_delay.
func caseThreeMasterDies(t *testing.T, m *mlab) time.Time {
	lb1, lb2, lb3 := m.c.LBs[0], m.c.LBs[1], m.c.LBs[2]
	tr3 := m.transitions(t, lb3)
	t.Cleanup(func() { m.powerOn(t, lb1) })
	t0 := m.powerOff(t, lb1)
	m.settled(t, lb2, false)
	if st := vi1(m.status(t, lb3)); st.State != "BACKUP" || st.Transitions != tr3 {
		t.Errorf("lb3 %s with %d state changes during the takeover, want BACKUP throughout", st.State, st.Transitions-tr3)
	}
	m.powerOn(t, lb1)
	m.settled(t, lb1, false)
	if got := m.transitions(t, lb3); got != tr3 {
		t.Errorf("lb3 made %d state changes", got-tr3)
	}
	return t0
}

// caseThreeBackupDies: a backup powers off: nothing moves, no request fails.
func caseThreeBackupDies(t *testing.T, m *mlab) time.Time {
	lb3 := m.c.LBs[2]
	before := m.allTransitions(t)
	t.Cleanup(func() { m.powerOn(t, lb3) })
	t0 := m.powerOff(t, lb3)
	m.settled(t, m.c.LBs[0], false)
	m.powerOn(t, lb3)
	m.waitState(t, lb3, "BACKUP", 30*time.Second)
	for i, lb := range m.c.LBs[:2] {
		if got := m.transitions(t, lb); got != before[i] {
			t.Errorf("%s made %d state changes while lb3 was off", lb.Name, got-before[i])
		}
	}
	return t0
}

// casePreemptDelay: lb1 in maintenance, lb2 takes over; maintenance off: lb1, BACKUP, waits
// preempt_delay before it preempts lb2.
func casePreemptDelay(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	t.Cleanup(func() { _, _ = lb1.Ctl(m.ctx, "maintenance", "off") })
	t0 := time.Now()
	m.ctl(t, lb1, "maintenance", "on")
	m.settled(t, lb2, false)
	m.ctl(t, lb1, "maintenance", "off")
	off := time.Now()
	m.waitState(t, lb1, "BACKUP", 5*time.Second)
	m.waitState(t, lb1, "MASTER", preemptDelay+15*time.Second)
	d := time.Since(off)
	t.Logf("lb1 preempted lb2 %s after maintenance off (preempt_delay %s)", d.Round(time.Millisecond), preemptDelay)
	// A correctness bound, not a speed one: preempting before the delay ignores it.
	if d < preemptDelay*3/4 {
		t.Errorf("lb1 preempted after %s, before preempt_delay %s", d, preemptDelay)
	}
	return t0
}

// caseLinkCutTakeover: the master's cable cut at the switch; the backup takes over (over
// IPv6, or with unicast adverts, depending on the lab); the cable back, lb1 preempts.
func caseLinkCutTakeover(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	if st := vi1(m.status(t, lb2)); st.AdvertsReceived == 0 {
		t.Errorf("lb2 received no advert from lb1 before the fault")
	}
	t.Cleanup(func() { _ = m.c.Lab.LinkUp(lb1.Node, 0) })
	t0 := time.Now()
	if err := m.c.Lab.LinkDown(lb1.Node, 0); err != nil {
		t.Fatal(err)
	}
	m.settled(t, lb2, false)
	if err := m.c.Lab.LinkUp(lb1.Node, 0); err != nil {
		t.Fatal(err)
	}
	m.settled(t, lb1, false)
	return t0
}

// caseSocketsDirFull: lb1's sockets and state live on a tmpfs that fills up. halod keeps
// serving: status answers, a maintenance flag that cannot be saved is an error but acts
// for this run, a SIGHUP reload goes through the master socket, and nothing else moves.
func caseSocketsDirFull(t *testing.T, m *mlab) time.Time {
	lb1, lb2 := m.c.LBs[0], m.c.LBs[1]
	filler := filepath.Join(lb1.Dir, "filler")
	t.Cleanup(func() { _ = os.Remove(filler) })
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var werr error
	for range 1 << 10 { // 4 MiB at most: the tmpfs is far smaller
		if _, werr = f.Write(buf); werr != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("the tmpfs did not fill up: %v", werr)
	}
	t0 := time.Now()
	if st := m.status(t, lb1); st.Instances[0].State != "MASTER" {
		t.Fatalf("status with a full sockets directory: %+v", st.Instances[0])
	}
	t.Cleanup(func() { _, _ = lb1.Ctl(m.ctx, "maintenance", "off") })
	resp, err := lb1.Ctl(m.ctx, "maintenance", "on")
	if err != nil || resp.OK || !strings.Contains(resp.Error, "persist") {
		t.Errorf("maintenance on with a full disk: %+v, %v; want an error saying it is not persisted", resp, err)
	}
	m.settled(t, lb2, false) // on for this run all the same
	m.ctl(t, lb1, "maintenance", "off")
	m.settled(t, lb1, false)
	before := m.allTransitions(t)
	if err := lb1.Halod.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the SIGHUP reload done", func() error {
		r := m.status(t, lb1).HAProxy.LastReload
		if r == nil || r.At.Before(t0) || !r.OK {
			return fmt.Errorf("last reload %+v", r)
		}
		return nil
	})
	m.nothingMoved(t, before)
	return t0
}
