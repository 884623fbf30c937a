package haproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/internal/tick"
)

// promptSocket is an HAProxy stats socket in memory that speaks the interactive mode as
// HAProxy 2.6 does: `prompt` answers "\n> ", and then every command of a line is
// followed by its own "> " (captured with socat). A line without `prompt` first gets
// one answer and the connection closes, as the blocking check expects.
type promptSocket struct {
	path string
	ln   net.Listener
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  int      // connections accepted
	closed int      // connections the client closed
	lines  []string // every command line received
	// stopBefore: the connections accepted before this one (numbered from 1) reach a
	// process that reloaded: show info says Stopping: 1 there.
	stopBefore int
	// paused: the lines received wait until it is closed (a SIGSTOPped HAProxy answers
	// them once it runs again).
	paused chan struct{}
	// lose: the lines of kept (interactive) sessions are never answered; new
	// connections are.
	lose bool
}

func newPromptSocket(t *testing.T) *promptSocket {
	t.Helper()
	f := &promptSocket{path: filepath.Join(t.TempDir(), "s.sock")}
	ln, err := net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			n := f.conns
			f.mu.Unlock()
			f.wg.Go(func() { f.serve(c, n) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		f.wg.Wait()
	})
	return f
}

func (f *promptSocket) serve(c net.Conn, n int) {
	defer c.Close()
	r := bufio.NewReader(c)
	interactive := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			f.mu.Lock()
			f.closed++
			f.mu.Unlock()
			return
		}
		line = strings.TrimSpace(line)
		f.mu.Lock()
		f.lines = append(f.lines, line)
		paused, stopping, lose := f.paused, n < f.stopBefore, f.lose && interactive
		f.mu.Unlock()
		if line == "prompt" {
			interactive = true
			_, _ = c.Write([]byte("\n> "))
			continue
		}
		if paused != nil {
			<-paused
		}
		if lose {
			continue
		}
		var out strings.Builder
		for _, cmd := range strings.Split(line, ";") {
			switch {
			case cmd == "show info" && stopping:
				out.WriteString(strings.Replace(infoOK, "Stopping: 0", "Stopping: 1", 1) + "\n")
			case cmd == "show info":
				out.WriteString(infoOK + "\n")
			case cmd == "show stat app -1 -1":
				out.WriteString(statApp + "\n")
			case cmd == "show stat main -1 -1":
				out.WriteString(statMain + "\n")
			default:
				out.WriteString("Unknown command.\n\n")
			}
			if interactive {
				out.WriteString("> ")
			}
		}
		if _, err := c.Write([]byte(out.String())); err != nil || !interactive {
			return
		}
	}
}

func (f *promptSocket) set(fn func(f *promptSocket)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *promptSocket) counts() (conns, closed, lines int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns, f.closed, len(f.lines)
}

func pipelineManager(t *testing.T, path string) *Manager {
	t.Helper()
	cfg := Config{Mode: External, StatsSocket: path,
		// Pipelined, as with the defaults. The fake answers from this process: a blocking
		// check's answer waits until the runtime polls the network, up to 10 ms with
		// GOMAXPROCS > 1 (halod runs with 1).
		Check: CheckConfig{Interval: 60 * time.Millisecond, Timeout: 30 * time.Millisecond, Fall: 3, Rise: 2,
			Frontends: []string{"main"}, Backends: map[string]int{"app": 1}}}
	m, err := New(cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runManager(t *testing.T, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// TestPipelinedChecksKeepOneConnection: once HAProxy answered a blocking check, the
// checks go through one kept connection in interactive mode, each read a check after it
// was sent, and the verdict is judged from them as before.
func TestPipelinedChecksKeepOneConnection(t *testing.T) {
	f := newPromptSocket(t)
	m := pipelineManager(t, f.path)
	runManager(t, m)
	poll.Until(t, 5*time.Second, "20 checks passed", func() error {
		if n := m.Counters().Checks[KindOK]; n < 20 {
			return fmt.Errorf("%d passed", n)
		}
		return nil
	})
	conns, _, lines := f.counts()
	// One blocking check, then one connection for the rest (a blocking check returns
	// every timedEvery, 10 s: not within this test).
	if conns != 2 {
		t.Errorf("%d connections for %d command lines, want 2", conns, lines)
	}
	f.mu.Lock()
	first, second, third := f.lines[0], f.lines[1], f.lines[2]
	f.mu.Unlock()
	want := newCheckPlan(m.cfg.Check, false).pipeCmd
	if first != want || second != "prompt" || third != want {
		t.Errorf("lines %q, %q, %q; want the check, prompt, the check", first, second, third)
	}
	if s := m.Snapshot(); !s.Healthy || s.LastCheck.Duration <= 0 || !s.LastCheck.Pipelined {
		t.Errorf("snapshot healthy %v, last check %+v", s.Healthy, s.LastCheck)
	}
	// Only the blocking check measured HAProxy's answer time.
	if c := m.Counters().CheckDuration; c.Count != 1 {
		t.Errorf("check duration histogram counted %d checks, want 1", c.Count)
	}
}

// TestPipelinedHangIsCaughtInTime: a HAProxy that stops answering in the middle of
// pipelined checks is unhealthy within interval + fall × fast_interval, as with blocking
// checks: a probe left unanswered stands for the checks that would have timed out.
func TestPipelinedHangIsCaughtInTime(t *testing.T) {
	f := newPromptSocket(t)
	m := pipelineManager(t, f.path)
	runManager(t, m)
	poll.Until(t, 5*time.Second, "healthy and pipelined", pipelined(m))
	f.set(func(f *promptSocket) { f.paused = make(chan struct{}) })
	hung := time.Now()
	took := poll.Until(t, 5*time.Second, "unhealthy", func() error {
		if m.Snapshot().Healthy {
			return errors.New("still healthy")
		}
		return nil
	})
	ck := m.cfg.Check
	bound := ck.Interval + time.Duration(ck.Fall)*ck.FastInterval
	t.Logf("hang -> unhealthy in %s (bound %s)", took, bound)
	if took > 3*bound { // generous: the race detector on a loaded runner
		t.Errorf("unhealthy %s after the hang, bound %s", time.Since(hung), bound)
	}
	if s := m.Snapshot(); s.Reason != "stats socket: timeout after 30ms" {
		t.Errorf("reason %q", s.Reason)
	}
	if n := m.Counters().Checks[KindTimeout]; n < uint64(ck.Fall) {
		t.Errorf("%d timeouts counted, want at least fall = %d", n, ck.Fall)
	}
	f.set(func(f *promptSocket) { close(f.paused); f.paused = nil })
	poll.Until(t, 5*time.Second, "healthy again", healthy(m))
}

// TestPipelineLostAnswer: a kept session whose probe is never answered while HAProxy
// answers new connections (HAProxy has no such defect known; a session is not trusted to
// be forever) costs the timeouts of the wait, then a blocking check settles it: the
// verdict holds and the checks go back to a kept session.
func TestPipelineLostAnswer(t *testing.T) {
	f := newPromptSocket(t)
	m := pipelineManager(t, f.path)
	runManager(t, m)
	poll.Until(t, 5*time.Second, "healthy and pipelined", pipelined(m))
	since := m.Snapshot().Since
	f.set(func(f *promptSocket) { f.lose = true })
	poll.Until(t, 5*time.Second, "a timeout", func() error {
		if m.Counters().Checks[KindTimeout] == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	f.set(func(f *promptSocket) { f.lose = false })
	ok := m.Counters().Checks[KindOK]
	poll.Until(t, 5*time.Second, "pipelined passes again", func() error {
		if s := m.Snapshot(); m.Counters().Checks[KindOK] < ok+5 || !s.LastCheck.Pipelined {
			return errors.New("not yet")
		}
		return nil
	})
	if s := m.Snapshot(); !s.Healthy || !s.Since.Equal(since) {
		t.Errorf("verdict healthy %v since %s (was since %s): %q", s.Healthy, s.Since, since, s.Reason)
	}
}

// TestPipelineLetsAStoppingHAProxyGo: a kept session to an HAProxy that reloaded keeps
// the old process alive (it waits for its CLI sessions), so a check that finds it
// stopping closes the session and asks whoever listens now; no failure is counted.
func TestPipelineLetsAStoppingHAProxyGo(t *testing.T) {
	f := newPromptSocket(t)
	m := pipelineManager(t, f.path)
	runManager(t, m)
	poll.Until(t, 5*time.Second, "healthy and pipelined", pipelined(m))
	conns, _, _ := f.counts()
	f.set(func(f *promptSocket) { f.stopBefore = f.conns + 1 })
	poll.Until(t, 5*time.Second, "the kept session closed and a new one", func() error {
		if c, closed, _ := f.counts(); closed < 1 || c < conns+2 {
			return fmt.Errorf("%d closed, %d new", closed, c-conns)
		}
		return nil
	})
	if c := m.Counters().Checks; c[KindOK] == 0 || len(c) != 1 {
		t.Errorf("checks %v: a stopping process answering the kept session counted as a failure", c)
	}
}

// TestPipelineSurvivesAClosedSession: HAProxy closing the kept session (a master CLI
// reload, stats timeout) costs no failure: the check asks again the blocking way.
func TestPipelineSurvivesAClosedSession(t *testing.T) {
	f := newPromptSocket(t)
	m := pipelineManager(t, f.path)
	runManager(t, m)
	poll.Until(t, 5*time.Second, "healthy and pipelined", pipelined(m))
	for range 3 {
		m.pipe.drop()
		conns, _, _ := f.counts()
		poll.Until(t, 5*time.Second, "a new session", func() error {
			if c, _, _ := f.counts(); c < conns+2 {
				return errors.New("not yet")
			}
			return nil
		})
	}
	c := m.Counters().Checks
	if c[KindOK] == 0 || len(c) != 1 {
		t.Errorf("checks %v, want only passes", c)
	}
}

// pipelined is a poll condition: HAProxy healthy, judged by a pipelined check.
func pipelined(m *Manager) func() error {
	return func() error {
		if s := m.Snapshot(); !s.Healthy || !s.LastCheck.Pipelined {
			return fmt.Errorf("healthy %v, pipelined %v", s.Healthy, s.LastCheck.Pipelined)
		}
		return nil
	}
}

func TestPipelineSegments(t *testing.T) {
	for _, tc := range []struct {
		prompt, buf string
		want        []string
	}{
		{"> ", "\n> info\n\n> stat\n\n> ", []string{"\n", "info\n\n", "stat\n\n", ""}},
		{"> ", "info\n\n> stat\n\n", []string{"info\n\n", "stat\n\n"}},
		{"> ", "a > b\n\n> ", []string{"a > b\n\n", ""}}, // only a prompt that begins a line
		{"master> ", "master> info\n\nmaster> ", []string{"", "info\n\n", ""}},
		{"> ", "", []string{""}},
	} {
		pl := &pipeline{prompt: tc.prompt, buf: []byte(tc.buf)}
		if got := pl.segments(); !slices.Equal(got, tc.want) {
			t.Errorf("segments(%q) = %q, want %q", tc.buf, got, tc.want)
		}
	}
}

func TestPipelineTimeouts(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		waited time.Duration
		want   int
	}{{99 * ms, 0}, {100 * ms, 1}, {199 * ms, 1}, {200 * ms, 2}, {300 * ms, 3}, {1000 * ms, 10}} {
		if got := timeouts(tc.waited, 100*ms, 100*ms); got != tc.want {
			t.Errorf("timeouts(%s) = %d, want %d", tc.waited, got, tc.want)
		}
	}
}

// TestPipelinedOverdueStandsForTheMissedChecks: with the default timings, a probe still
// unanswered at its look, an interval after it was sent, stands for two timeouts, and the
// blocking check that follows at once makes the third: fall is reached 300 ms after the
// probe, as blocking checks every fast_interval would have (interval + fall ×
// fast_interval from the hang); without the credit it would take a fast interval more.
func TestPipelinedOverdueStandsForTheMissedChecks(t *testing.T) {
	f := newPromptSocket(t)
	f.set(func(f *promptSocket) { f.paused = make(chan struct{}) })
	t.Cleanup(func() { f.set(func(f *promptSocket) { close(f.paused) }) })
	cfg := Config{Mode: External, StatsSocket: f.path, Check: CheckConfig{Frontends: []string{"main"}}}
	m, err := New(cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ck := m.cfg.Check
	if ck.Interval != 200*time.Millisecond || ck.Timeout != 100*time.Millisecond || ck.FastInterval != ck.Timeout || ck.Fall != 3 || !m.pipelining {
		t.Fatalf("defaults changed: %+v, pipelining %v", ck, m.pipelining)
	}
	sent := time.Now()
	if err := m.pipe.start(sent); err != nil {
		t.Fatal(err)
	}
	defer m.pipe.close()
	if rs := m.checkOnce(t.Context(), sent.Add(ck.Timeout/2), nil); len(rs) != 0 {
		t.Errorf("a probe not yet overdue gave %+v", rs)
	}
	rs := m.checkOnce(t.Context(), sent.Add(ck.Interval), nil)
	if len(rs) != 2 || rs[0].Kind != KindTimeout || rs[0].Repeat != 2 || !rs[0].Pipelined || rs[1].Kind != KindTimeout || rs[1].Pipelined {
		t.Fatalf("overdue look gave %+v", rs)
	}
	if m.pipe.pending() {
		t.Error("the overdue session is still kept")
	}
	failed := 0
	for _, r := range rs {
		for range max(r.Repeat, 1) {
			m.record(r)
			failed++
		}
	}
	if s := m.Snapshot(); failed != ck.Fall || s.Healthy {
		t.Errorf("%d failures recorded, healthy %v", failed, s.Healthy)
	}
}

func TestCanPipeline(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		ck   CheckConfig
		want bool
	}{
		{CheckConfig{Interval: 200 * ms, Timeout: 100 * ms, FastInterval: 100 * ms, Fall: 3}, true},
		{CheckConfig{Interval: 300 * ms, Timeout: 100 * ms, FastInterval: 100 * ms, Fall: 3}, true},
		{CheckConfig{Interval: 301 * ms, Timeout: 100 * ms, FastInterval: 100 * ms, Fall: 3}, false},
		{CheckConfig{Interval: 2 * time.Second, Timeout: 100 * ms, FastInterval: 100 * ms, Fall: 3}, false},
		{CheckConfig{Interval: 200 * ms, Timeout: 100 * ms, FastInterval: 100 * ms, Fall: 1}, false},
	} {
		if got := canPipeline(tc.ck); got != tc.want {
			t.Errorf("canPipeline(%+v) = %v, want %v", tc.ck, got, tc.want)
		}
	}
}

// TestPipelineDoesNotHoldAReloadedWorker: HAProxy 2.6 lets a soft-stopped worker exit only
// once its CLI sessions close, so the check's kept session must not hold the worker of an
// external HAProxy that someone else reloads. The lab's hard-stop-after is 10 s: held, the
// old worker would outlive the bound below.
func TestPipelineDoesNotHoldAReloadedWorker(t *testing.T) {
	l := newLab(t)
	startExternal(t, l)
	cfg := l.cfg
	cfg.Mode = External
	r := start(t, cfg)
	poll.Until(t, 10*time.Second, "healthy, pipelined", pipelined(r.m))
	old := r.m.Snapshot().WorkerPID
	// Not Manager.Reload, which drops the session itself: an operator's reload.
	if _, err := masterCommand(t.Context(), 5*time.Second, cfg.MasterSocket, "reload"); err != nil {
		t.Fatal(err)
	}
	took := poll.Until(t, 8*time.Second, "the old worker gone", func() error {
		if err := syscall.Kill(old, 0); err == nil {
			return fmt.Errorf("worker %d still runs", old)
		}
		return nil
	})
	t.Logf("old worker gone %s after the reload", took)
	poll.Until(t, 5*time.Second, "healthy on the new worker", func() error {
		if s := r.m.Snapshot(); !s.Healthy || s.WorkerPID == old {
			return fmt.Errorf("healthy %v, worker %d", s.Healthy, s.WorkerPID)
		}
		return nil
	})
	if n := r.m.Counters().Checks[KindStopping]; n > 1 {
		t.Errorf("%d checks counted the stopping worker: the kept session should close at once", n)
	}
}

// TestPaceCountsTheWaitFromTheDueTime: whatever the wake-up latencies, a probe sent by
// one check (its wait counted from that check's due time) is looked at by the next with
// at least an interval waited, so the look credits every timeout its wait stands for.
func TestPaceCountsTheWaitFromTheDueTime(t *testing.T) {
	interval, timeout, fast := 200*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	r := rand.New(rand.NewPCG(3, 4))
	// On the grid, as every check after the first is (the first after a start is due at
	// once, and its probe's look comes early: that look credits less, the next the rest).
	p := pace{due: tick.Next(time.Date(2026, 12, 2, 9, 0, 0, 123456789, time.UTC), interval)}
	began := p.due
	for i := range 1000 {
		sent := p.due // what checkLoop gives pipeline.start
		p.next(began, interval)
		began = p.due.Add(time.Duration(r.IntN(3000)) * time.Microsecond) // the next wake-up, late by up to 3 ms
		if waited := began.Sub(sent); waited < interval {
			t.Fatalf("check %d: looked %v after the probe's due time, want at least %v", i, waited, interval)
		}
		if n := timeouts(began.Sub(sent), timeout, fast); n != 2 {
			t.Fatalf("check %d: an unanswered probe stands for %d timeouts, want 2", i, n)
		}
	}
}
