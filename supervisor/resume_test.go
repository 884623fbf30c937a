package supervisor

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/internal/vrrptest"
)

// TestResignIsShownAndResumed: `resign` on the preempting higher-priority node is sticky
// (it stays BACKUP under the weaker master); the status shows it, with the master, its
// priority and the peers heard, and counts the node as not as configured; `resume` gives
// the role back.
func TestResignIsShownAndResumed(t *testing.T) {
	// 100 ms adverts: a backup takes over when it hears no master for 3 of them, and a
	// loaded machine can stall the in-memory link for 60 ms (the 20 ms of other tests).
	link := vrrptest.NewLink()
	healthy := HAProxyHealth{Healthy: true, Serving: true, Known: true}
	a := startNodeWith(t, link, "a", "192.0.2.11", 101, "100ms", "{fault: true}", "", healthy, false)
	b := startNodeAdvert(t, link, "b", "192.0.2.12", 100, "100ms", "{fault: true}", "", healthy)
	waitState(t, a, "VI_1", "MASTER")
	waitState(t, b, "VI_1", "BACKUP")
	sock := filepath.Join(a.dir, "halo.sock")
	call := func(cmd string, args ...string) Response {
		t.Helper()
		resp, err := Call(t.Context(), sock, Request{Cmd: cmd, Args: args})
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		return resp
	}
	if r := call("resign", "VI_1"); !r.OK || !strings.Contains(r.Message, "haloctl resume VI_1") {
		t.Fatalf("resign: %+v", r)
	}
	waitState(t, b, "VI_1", "MASTER")
	// 15 advert intervals: a, priority 101 with preempt, would have taken the role back
	// after 3 of them without the resignation.
	stays(t, a, "VI_1", "BACKUP", 1500*time.Millisecond)
	st := call("status").Status
	in := st.Instances[0]
	if !in.Resigned || st.Healthy() {
		t.Errorf("status after resign: resigned %v, healthy %v; want resigned, not healthy", in.Resigned, st.Healthy())
	}
	if in.MasterSeen != "192.0.2.12" || in.MasterPriority != 100 {
		t.Errorf("master %q priority %d, want 192.0.2.12 at 100", in.MasterSeen, in.MasterPriority)
	}
	if len(in.Peers) != 1 || in.Peers[0].Address != "192.0.2.12" || in.Peers[0].Priority != 100 || in.Peers[0].AgeSeconds > 2 {
		t.Errorf("peers %+v, want 192.0.2.12 at 100 heard within a second", in.Peers)
	}
	if st.Hostname == "" {
		t.Error("status has no hostname")
	}
	var b2 strings.Builder
	st.WriteTable(&b2, time.Now())
	for _, want := range []string{"RESIGNED", "haloctl resume VI_1", "master 192.0.2.12 prio 100", "heard 192.0.2.12 prio 100"} {
		if !strings.Contains(b2.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b2.String())
		}
	}
	if f := strings.Fields(b2.String()); len(f) < 2 || f[0] != "node" || f[1] != st.Hostname {
		t.Errorf("the table does not begin with the hostname:\n%s", b2.String())
	}

	if r := call("resume", "VI_9"); r.OK || !strings.Contains(r.Error, `no instance named "VI_9"`) {
		t.Errorf("resume of an unknown instance: %+v", r)
	}
	if r := call("resume", "VI_1"); !r.OK || !strings.Contains(r.Message, "competes for MASTER again") {
		t.Fatalf("resume: %+v", r)
	}
	waitState(t, a, "VI_1", "MASTER")
	waitState(t, b, "VI_1", "BACKUP")
	poll.Until(t, 5*time.Second, "status healthy again", func() error {
		if st := call("status").Status; st.Instances[0].Resigned || !st.Healthy() {
			return fmt.Errorf("resigned %v healthy %v", st.Instances[0].Resigned, st.Healthy())
		}
		return nil
	})
	if r := call("resume", "VI_1"); !r.OK || !strings.Contains(r.Message, "was not resigned") {
		t.Errorf("second resume: %+v", r)
	}
}

// TestStatusLongPoll: a status request with Since waits for the next change and answers
// with it; a stale Since is answered at once.
func TestStatusLongPoll(t *testing.T) {
	link := vrrptest.NewLink()
	a := startNodeWith(t, link, "a", "192.0.2.11", 101, "20ms", "{fault: true}", "", HAProxyHealth{Healthy: true, Serving: true, Known: true}, false)
	waitState(t, a, "VI_1", "MASTER")
	sock := filepath.Join(a.dir, "halo.sock")
	first, err := Call(t.Context(), sock, Request{Cmd: "status"})
	if err != nil || first.Status.Generation == 0 {
		t.Fatalf("status: %+v %v", first, err)
	}
	gen := first.Status.Generation
	type answer struct {
		r   Response
		err error
	}
	got := make(chan answer, 1)
	go func() {
		r, err := Call(t.Context(), sock, Request{Cmd: "status", Since: gen})
		got <- answer{r, err}
	}()
	// Nothing changes on a lone master: the poll must still be waiting a while later.
	select {
	case a := <-got:
		t.Fatalf("long poll answered with nothing changed: %+v %v", a.r.Status, a.err)
	case <-time.After(300 * time.Millisecond):
	}
	if r, err := Call(t.Context(), sock, Request{Cmd: "maintenance", Args: []string{"on"}}); err != nil || !r.OK {
		t.Fatalf("maintenance on: %+v %v", r, err)
	}
	select {
	case a := <-got:
		if a.err != nil || !a.r.OK || a.r.Status.Generation <= gen || !a.r.Status.Maintenance {
			t.Errorf("long poll answer: %+v %v; want a newer generation showing maintenance", a.r.Status, a.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll not answered 5 s after a change")
	}
	start := time.Now()
	if r, err := Call(t.Context(), sock, Request{Cmd: "status", Since: gen}); err != nil || r.Status.Generation == gen {
		t.Errorf("stale since: %+v %v", r, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a stale since took %s to answer", d)
	}
}
