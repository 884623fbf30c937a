package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/supervisor"
)

// mlab is one running lab of the matrix: a cluster, its halods and a client polling the
// VIP for the whole run.
type mlab struct {
	// ctx is the lab's: alive until the lab is removed, also in the cleanups of its cases
	// (a case's own t.Context is cancelled before its cleanups run).
	ctx  context.Context
	name string
	c    *Cluster
	p    *Poller
	adv  time.Duration
	// quiet is when the request started that steady last saw answered by lb1 in the
	// initial state; accounted indexes the first of p's events no case or boundary has
	// judged yet (-1 before the first case: the lab's start-up is nobody's outage).
	quiet     time.Time
	accounted int
	// end, endMaster and endMarks are the last case's end state, for afterCase (zero
	// once judged).
	end       time.Time
	endMaster *LB
	endMarks  map[string]nodeMark
}

func newMLab(t *testing.T, bin string, ml matrixLab) *mlab {
	t.Helper()
	opt := ml.opt
	opt.Bin = bin
	c := New(t, t.TempDir(), opt)
	m := &mlab{ctx: t.Context(), name: ml.name, c: c, adv: c.opt.AdvertInterval, accounted: -1}
	if ml.before != nil {
		ml.before(t, m)
	}
	ctx, cancel := context.WithTimeout(m.ctx, time.Minute)
	defer cancel()
	for _, lb := range c.LBs {
		if err := c.StartHalod(ctx, lb); err != nil {
			t.Fatal(err)
		}
	}
	p, err := c.StartPoller(10*time.Millisecond, 200*time.Millisecond, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	m.p = p
	return m
}

// run runs one case: initial state, fault, end state, outage against the bound.
func (m *mlab) run(t *testing.T, mc matrixCase) {
	m.steady(t)
	if m.accounted >= 0 {
		evs, _ := unaccounted(m.p.Events(), m.accounted, m.quiet)
		if f := failed(evs, m.quiet); f != "" {
			t.Errorf("client requests failed before the fault, in the initial state: %s", f)
		}
	}
	t0 := mc.run(t, m)
	master := m.settled(t, nil, mc.http5xx)
	end := time.Now()
	evs := m.p.Events()
	m.end, m.endMaster, m.endMarks, m.accounted = end, master, m.marks(t), len(evs)
	out := outage(evs, t0, end, mc.http5xx)
	t.Logf("matrix: %s/%s outage=%dms bound=%dms", m.name, mc.name, out.Milliseconds(), mc.bound.Milliseconds())
	if out > mc.bound {
		t.Errorf("client-visible outage %s over the bound %s; the client's answers since the fault: %s", out, mc.bound, answers(m.p.Events(), t0))
	}
	t.Logf("end state: %s MASTER alone, holding %s, client served", master.Name, m.c.VIP)
}

// steady waits for the lab's initial state: lb1 MASTER alone holding the VIP, every other
// node BACKUP, every HAProxy healthy and every configuration valid, and then for a request
// that started after all that held to be answered by lb1 (whatever was in flight before
// has then ended, and the client's path leads to lb1). A halod a failed case left dead is
// started again first.
func (m *mlab) steady(t *testing.T) {
	t.Helper()
	for _, lb := range m.c.LBs {
		if lb.Halod != nil && !running(lb.Halod.Done()) {
			ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
			err := m.c.StartHalod(ctx, lb)
			cancel()
			if err != nil {
				t.Fatalf("restarting halod a failed case left dead on %s: %v", lb.Name, err)
			}
		}
	}
	lb1 := m.c.LBs[0]
	var since time.Time // when the nodes were last found in the initial state
	poll.Until(t, 60*time.Second, "the initial state (lb1 MASTER alone, the others BACKUP, all healthy, a fresh request answered by lb1)", func() error {
		if err := m.initial(t, lb1); err != nil {
			since = time.Time{}
			return err
		}
		if since.IsZero() {
			since = time.Now()
		}
		return m.freshAnswer(lb1.Name, since)
	})
	ev, _ := m.p.Latest()
	m.quiet = time.Unix(0, ev.At)
}

// initial fails unless the nodes are in the lab's initial state (the client aside).
func (m *mlab) initial(t *testing.T, lb1 *LB) error {
	for _, lb := range m.c.LBs {
		st, err := lb.Status(m.ctx)
		if err != nil {
			return fmt.Errorf("%s: %v", lb.Name, err)
		}
		want := "BACKUP"
		if lb == lb1 {
			want = "MASTER"
		}
		in := vi1(st)
		switch {
		case in.State != want:
			return fmt.Errorf("%s is %s, want %s", lb.Name, in.State, want)
		case !st.HAProxy.Healthy || st.HAProxy.Degraded:
			return fmt.Errorf("%s: HAProxy not healthy: %s", lb.Name, st.HAProxy.Reason)
		case !st.ConfigValid:
			return fmt.Errorf("%s: configuration not valid", lb.Name)
		case st.Maintenance:
			return fmt.Errorf("%s in maintenance", lb.Name)
		case lb == lb1 && !in.HoldsVIPs:
			return fmt.Errorf("lb1 MASTER without its VIPs")
		case lb != lb1 && in.HoldsVIPs:
			return fmt.Errorf("%s BACKUP still holding its VIPs (a handover's drain)", lb.Name)
		}
	}
	return m.holders(t, lb1)
}

// settled waits for the end state of a case, exactly one MASTER among the running halods,
// holding the VIP (want, if not nil), the VIP on no other node and the client served by the master, and then checks
// that the VIP stays on the master alone for one advert interval (at least 500 ms). It
// returns the master.
func (m *mlab) settled(t *testing.T, want *LB, http5xx bool) *LB {
	t.Helper()
	var master *LB
	poll.Until(t, 30*time.Second, "one MASTER holding the VIP alone, the client served", func() error {
		var masters []string
		master = nil
		for _, lb := range m.c.LBs {
			if !running(lb.Halod.Done()) {
				continue // powered off: its VIP is checked below
			}
			st, err := lb.Status(m.ctx)
			if err != nil {
				return fmt.Errorf("%s: %v", lb.Name, err)
			}
			if in := vi1(st); in.State == "MASTER" {
				masters = append(masters, lb.Name)
				master = lb
				if !in.HoldsVIPs {
					return fmt.Errorf("%s MASTER without its VIPs", lb.Name)
				}
			}
		}
		if len(masters) != 1 {
			return fmt.Errorf("masters %v", masters)
		}
		if want != nil && master != want {
			return fmt.Errorf("master %s, want %s", master.Name, want.Name)
		}
		if err := m.holders(t, master); err != nil {
			return err
		}
		return m.servedBy(master.Name, http5xx)
	})
	hold := max(m.adv, 500*time.Millisecond)
	for deadline := time.Now().Add(hold); time.Now().Before(deadline); {
		if err := m.holders(t, master); err != nil {
			t.Fatalf("after the end state: %v", err)
		}
		time.Sleep(poll.Interval) // sampling a negative condition: nothing to await
	}
	return master
}

// holders fails unless the VIP is on want's node alone.
func (m *mlab) holders(t *testing.T, want *LB) error {
	got, err := m.vipHolders(t)
	if err != nil {
		return err
	}
	if !slices.Equal(got, []string{want.Name}) {
		return fmt.Errorf("VIP %s held by %v, want %s alone", m.c.VIP, got, want.Name)
	}
	return nil
}

// vipHolders lists the load balancers whose namespace carries the VIP.
func (m *mlab) vipHolders(t *testing.T) ([]string, error) {
	var got []string
	for _, lb := range m.c.LBs {
		ok, err := lb.Node.HasAddr(m.ctx, m.c.VIP)
		if err != nil {
			return nil, err
		}
		if ok {
			got = append(got, lb.Name)
		}
	}
	return got, nil
}

// servedBy fails unless the client's latest answer came from lb (any answer from HAProxy,
// 5xx included, with http5xx).
func (m *mlab) servedBy(lb string, http5xx bool) error {
	ev, ok := m.p.Last()
	switch {
	case !ok:
		return errors.New("client: no answer yet")
	case http5xx && strings.HasPrefix(ev.Err, "HTTP 5"):
		return nil
	case !ev.OK || ev.LB != lb:
		return fmt.Errorf("client: last answer ok=%v from %q (%s), want %s", ev.OK, ev.LB, ev.Err, lb)
	}
	return nil
}

// outage adds up the stretches in [t0, end] where the client got no answer: from the
// start of a failed request to the start of the next answered one (answers are 200s, and
// HTTP errors from HAProxy too with http5xx). Stretches that began before t0 count from t0.
func outage(evs []PollEvent, t0, end time.Time, http5xx bool) time.Duration {
	answered := func(ev PollEvent) bool { return ev.OK || http5xx && strings.HasPrefix(ev.Err, "HTTP 5") }
	var total time.Duration
	var from int64
	dark := false
	for _, ev := range evs {
		if ev.Err == "done" || ev.At > end.UnixNano() {
			break
		}
		switch {
		case !answered(ev) && !dark:
			dark, from = true, max(ev.At, t0.UnixNano())
		case answered(ev) && dark:
			dark = false
			if ev.At > t0.UnixNano() {
				total += time.Duration(ev.At - from)
			}
		}
	}
	if dark {
		total += time.Duration(end.UnixNano() - from)
	}
	return total
}

// answers lists the client's changes of answer since t0, for messages.
func answers(evs []PollEvent, t0 time.Time) string {
	var out []string
	for _, ev := range evs {
		if ev.At >= t0.UnixNano() && ev.Err != "done" {
			what := ev.Err
			if ev.OK {
				what = "ok from " + ev.LB
			}
			out = append(out, fmt.Sprintf("+%dms %s (failures %d)", time.Duration(ev.At-t0.UnixNano()).Milliseconds(), what, ev.Failures))
		}
	}
	if len(out) == 0 {
		return "no change"
	}
	return strings.Join(out, ", ")
}

func vi1(st supervisor.Status) supervisor.InstanceStatus {
	for _, in := range st.Instances {
		if in.Name == "VI_1" {
			return in
		}
	}
	return supervisor.InstanceStatus{}
}

// status returns lb's snapshot, failing the test when halod does not answer.
func (m *mlab) status(t *testing.T, lb *LB) supervisor.Status {
	t.Helper()
	st, err := lb.Status(m.ctx)
	if err != nil {
		t.Fatalf("%s: %v", lb.Name, err)
	}
	return st
}

// waitState waits until lb reports state for VI_1.
func (m *mlab) waitState(t *testing.T, lb *LB, state string, timeout time.Duration) time.Duration {
	t.Helper()
	return poll.Until(t, timeout, lb.Name+" "+state, func() error {
		if got := lb.State(m.ctx, "VI_1"); got != state {
			return fmt.Errorf("%s is %q", lb.Name, got)
		}
		return nil
	})
}

// waitServed waits until the client is answered by lb.
func (m *mlab) waitServed(t *testing.T, lb *LB, timeout time.Duration) {
	t.Helper()
	poll.Until(t, timeout, "the client served by "+lb.Name, func() error { return m.servedBy(lb.Name, false) })
}

// exec runs a command in lb's namespace, failing the test on error.
func (m *mlab) exec(t *testing.T, lb *LB, name string, args ...string) {
	t.Helper()
	if out, err := lb.Node.Exec(m.ctx, name, args...); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// hold lets a fault last d. It is part of the fault (a process stopped for 5 s, a daemon
// restarted after 1 s), not a wait for a condition.
func hold(d time.Duration) { time.Sleep(d) }

// transitions returns how many state changes lb's VI_1 has made.
func (m *mlab) transitions(t *testing.T, lb *LB) uint64 {
	t.Helper()
	return vi1(m.status(t, lb)).Transitions
}

// haproxyPIDs returns lb's HAProxy master and workers.
func (m *mlab) haproxyPIDs(t *testing.T, lb *LB) []int {
	t.Helper()
	master, workers, err := lb.HAProxyPIDs(m.ctx)
	if err != nil {
		t.Fatalf("%s: %v", lb.Name, err)
	}
	if len(workers) == 0 {
		t.Fatalf("%s: HAProxy master %d has no worker", lb.Name, master)
	}
	return append([]int{master}, workers...)
}

// signal sends sig to processes recorded by the test (ESRCH is not an error: a process
// halod already replaced).
func signal(t *testing.T, pids []int, sig syscall.Signal) {
	t.Helper()
	for _, p := range pids {
		if err := syscall.Kill(p, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("kill %d %s: %v", p, sig, err)
		}
	}
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// cpuTime returns the CPU time pid has used (user + system).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// running reports whether done is still open.
func running(done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// startHalod starts halod on lb again (after a kill or a power-off).
func (m *mlab) startHalod(t *testing.T, lb *LB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
	defer cancel()
	if err := m.c.StartHalod(ctx, lb); err != nil {
		t.Fatal(err)
	}
}
