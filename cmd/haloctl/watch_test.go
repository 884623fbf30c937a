package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/supervisor"
)

// fakeHalod serves a status that the test changes, with halod's long poll: a status
// request with Since waits until the generation moves.
type fakeHalod struct {
	mu      sync.Mutex
	st      supervisor.Status
	changed chan struct{}
}

func newFakeHalod(st supervisor.Status) *fakeHalod {
	st.Generation = 1
	return &fakeHalod{st: st, changed: make(chan struct{})}
}

// set changes the status and wakes the waiting polls.
func (f *fakeHalod) set(change func(*supervisor.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.st)
	f.st.Generation++
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeHalod) handle(ctx context.Context, req supervisor.Request) supervisor.Response {
	for {
		f.mu.Lock()
		st, ch := f.st, f.changed
		st.Instances = append([]supervisor.InstanceStatus(nil), st.Instances...)
		f.mu.Unlock()
		if req.Since == 0 || req.Since != st.Generation {
			return supervisor.Response{OK: true, Status: &st}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return supervisor.Response{Error: "gone"}
		}
	}
}

// serveAt serves h on sock until the returned stop is called (or the test ends).
func serveAt(t *testing.T, sock string, h supervisor.HandlerFunc) (stop func()) {
	t.Helper()
	srv, err := supervisor.NewControlServer(supervisor.ControlConfig{Socket: sock, Mode: "0600"}, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// syncBuffer is a bytes.Buffer the watch goroutine writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func awaitOutput(t *testing.T, out *syncBuffer, want ...string) {
	t.Helper()
	poll.Until(t, 10*time.Second, fmt.Sprintf("watch to print %q", want), func() error {
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				return fmt.Errorf("output so far:\n%s", out.String())
			}
		}
		return nil
	})
}

func baseStatus() supervisor.Status {
	return supervisor.Status{ConfigValid: true, Hostname: "lb1",
		HAProxy: supervisor.HAProxyStatus{Mode: "managed", Running: true, Healthy: true, PID: 10},
		Instances: []supervisor.InstanceStatus{{Name: "VI_1", State: "BACKUP", Priority: 101, EffectivePriority: 101,
			VIPs: []string{"192.0.2.100/24"}, MasterSeen: "192.0.2.12", MasterPriority: 100}}}
}

// TestWatch: watch prints the state, then one line per change, the latest of a burst
// always; it rides out a halod restart and ends with exit 0 on Ctrl-C.
func TestWatch(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "halo.sock")
	f := newFakeHalod(baseStatus())
	stop := serveAt(t, sock, f.handle)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-socket", sock, "watch"}, &out, &errOut, noEnv) }()
	awaitOutput(t, &out, "haproxy HEALTHY", "VI_1 BACKUP (prio 101, master 192.0.2.12 prio 100)")

	f.set(func(st *supervisor.Status) {
		st.Instances[0].State, st.Instances[0].HoldsVIPs = "MASTER", true
		st.Instances[0].MasterSeen, st.Instances[0].MasterPriority = "192.0.2.11", 101
	})
	awaitOutput(t, &out, "VI_1 BACKUP -> MASTER (prio 101, holds 192.0.2.100/24)", "VI_1 holds 192.0.2.100/24 now")

	// A burst: whatever is folded, the final verdict is printed last.
	for i := range 20 {
		f.set(func(st *supervisor.Status) {
			st.HAProxy.Healthy = i%2 == 1
			st.HAProxy.Reason = fmt.Sprintf("flap %d", i)
		})
	}
	awaitOutput(t, &out, "HEALTHY: flap 19")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasSuffix(last, "-> HEALTHY: flap 19") {
		t.Errorf("last line %q, want the final verdict", last)
	}

	// halod restarts: watch says so, waits, and shows what changed meanwhile.
	stop()
	awaitOutput(t, &out, "halod not reachable")
	f2 := newFakeHalod(baseStatus())
	serveAt(t, sock, f2.handle)
	awaitOutput(t, &out, "halod answers again", "VI_1 MASTER -> BACKUP")

	cancel() // Ctrl-C
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("watch ended with %d after Ctrl-C, want 0 (stderr %q)", code, errOut.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch still running 5 s after Ctrl-C")
	}
}

// TestWatchJSON: --json prints one object per line.
func TestWatchJSON(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "halo.sock")
	f := newFakeHalod(baseStatus())
	serveAt(t, sock, f.handle)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-socket", sock, "watch", "--json"}, &out, io.Discard, noEnv) }()
	awaitOutput(t, &out, `"subject":"VI_1"`)
	f.set(func(st *supervisor.Status) { st.Maintenance = true })
	awaitOutput(t, &out, `"kind":"maintenance","from":"off","to":"on"`)
	cancel()
	<-done
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil || e["time"] == nil || e["message"] == "" {
			t.Errorf("line %q: %v", line, err)
		}
	}
}

// TestChanges: what counts as a change, and what does not.
func TestChanges(t *testing.T) {
	prev := baseStatus()
	same := baseStatus()
	same.Instances[0].AdvertsReceived = 1000 // counters move all the time: not a change
	same.Generation = 7
	if evs := changes(&prev, &same); len(evs) != 0 {
		t.Errorf("counters only: %v", evs)
	}
	cur := baseStatus()
	cur.Instances[0].Resigned = true
	cur.Instances[0].MasterSeen, cur.Instances[0].MasterPriority = "192.0.2.13", 90
	cur.Instances[0].EffectivePriority = 51
	cur.Instances = append(cur.Instances, supervisor.InstanceStatus{Name: "VI_2", State: "BACKUP"})
	cur.HAProxy.Degraded, cur.HAProxy.Healthy, cur.HAProxy.Reason = true, false, "backend app: 0/2 servers UP"
	cur.HAProxy.LastReload = &supervisor.Reload{At: time.Unix(1, 0), OK: true, Result: "ok", Seconds: 0.012}
	cur.ConfigValid = false
	var got []string
	for _, e := range changes(&prev, &cur) {
		got = append(got, e.Message)
	}
	want := []string{
		"haproxy HEALTHY -> DEGRADED: backend app: 0/2 servers UP",
		"haproxy reload ok in 12 ms",
		"halo.yaml on disk refused at the last reload (haloctl validate says why)",
		"VI_1 master 192.0.2.13 prio 90",
		"VI_1 priority 101 -> 51 (base 101)",
		"VI_1 RESIGNED: stays BACKUP until its master fails or `haloctl resume VI_1`",
		"VI_2 added: BACKUP (prio 0)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A master that resigns: its state line says it, not a "no master heard" of its own.
	m, r := baseStatus(), baseStatus()
	m.Instances[0].State, m.Instances[0].MasterSeen, m.Instances[0].MasterPriority = "MASTER", "192.0.2.11", 101
	r.Instances[0].MasterSeen, r.Instances[0].MasterPriority = "", 0
	if evs := changes(&m, &r); len(evs) != 1 || evs[0].Message != "VI_1 MASTER -> BACKUP (prio 101)" {
		t.Errorf("a master resigning: %v", evs)
	}
	back := changes(&cur, &prev)
	if len(back) == 0 || back[len(back)-1].Message != "VI_2 removed" {
		t.Errorf("removal not reported last: %v", back)
	}
}

// TestWatchOldHalod: a halod without the long poll (no generation, answers at once) is
// asked once a second, not in a busy loop.
func TestWatchOldHalod(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "halo.sock")
	var calls atomic.Int64
	serveAt(t, sock, func(ctx context.Context, req supervisor.Request) supervisor.Response {
		calls.Add(1)
		st := baseStatus()
		return supervisor.Response{OK: true, Status: &st}
	})
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-socket", sock, "watch"}, &out, io.Discard, noEnv) }()
	awaitOutput(t, &out, "VI_1 BACKUP")
	poll.Until(t, 10*time.Second, "a second poll", func() error {
		if calls.Load() < 2 {
			return fmt.Errorf("%d calls", calls.Load())
		}
		return nil
	})
	// A busy loop would have asked thousands of times by the time the second ask is seen.
	if n := calls.Load(); n > 5 {
		t.Errorf("%d polls in about a second: a busy loop", n)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d", code)
	}
}
