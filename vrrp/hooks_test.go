package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/halo-lb/halo/internal/poll"
)

// fakeHooks is a HookRunner on synctest's clock: a hook "runs" for the time its program
// name is given in took (capped by its timeout), and fails when it is in fail.
type fakeHooks struct {
	mu      sync.Mutex
	took    map[string]time.Duration
	fail    map[string]bool
	started []hookRun
	ended   int
}

type hookRun struct {
	At   time.Time
	Argv []string
	Env  map[string]string
}

func newFakeHooks() *fakeHooks {
	return &fakeHooks{took: map[string]time.Duration{}, fail: map[string]bool{}}
}

func (f *fakeHooks) RunHook(ctx context.Context, h Hook) error {
	env := map[string]string{}
	for _, kv := range h.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	f.mu.Lock()
	f.started = append(f.started, hookRun{At: time.Now(), Argv: h.Argv, Env: env})
	d, fail := f.took[h.Argv[0]], f.fail[h.Argv[0]]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.ended++
		f.mu.Unlock()
	}()
	if d > h.Timeout {
		time.Sleep(h.Timeout)
		return fmt.Errorf("%w: %s", ErrHookTimeout, h.Argv[0])
	}
	time.Sleep(d)
	if fail {
		return errors.New("exit status 1")
	}
	return nil
}

func (f *fakeHooks) runs() []hookRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.started)
}

// names returns "program OLD->NEW" of each hook started.
func (f *fakeHooks) names() []string {
	var out []string
	for _, r := range f.runs() {
		out = append(out, fmt.Sprintf("%s %s->%s", r.Argv[0], r.Env["HALO_OLD_STATE"], r.Env["HALO_NEW_STATE"]))
	}
	return out
}

func notifyAll(timeout time.Duration) func(*InstanceConfig) {
	return func(c *InstanceConfig) {
		c.Notify = Notify{Master: []string{"master", "arg 1"}, Backup: []string{"backup"},
			Fault: []string{"fault"}, Stop: []string{"stop"}, Timeout: timeout}
	}
}

func TestInstanceNotifyHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		hooks := newFakeHooks()
		a := startNodeWith(t, n, "192.0.2.11", testConfig("A", 150, notifyAll(time.Second)),
			func(o *Options) { o.Hooks = hooks })
		advance(mdi150 + time.Millisecond)
		a.in.setFault("x", true)
		synctest.Wait()
		a.in.setFault("x", false)
		advance(mdi150 + time.Millisecond)
		a.stop(t)
		want := []string{"backup INIT->BACKUP", "master BACKUP->MASTER", "fault MASTER->FAULT",
			"backup FAULT->BACKUP", "master BACKUP->MASTER", "stop MASTER->INIT"}
		if diff := cmp.Diff(want, hooks.names()); diff != "" {
			t.Errorf("hooks run (-want +got):\n%s", diff)
		}
		r := hooks.runs()[1]
		wantEnv := map[string]string{"HALO_INSTANCE": "A", "HALO_GROUP": "", "HALO_OLD_STATE": "BACKUP",
			"HALO_NEW_STATE": "MASTER", "HALO_VIPS": "192.0.2.100/24", "HALO_REASON": "master_down"}
		if diff := cmp.Diff(wantEnv, r.Env); diff != "" {
			t.Errorf("master hook env (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"master", "arg 1"}, r.Argv); diff != "" {
			t.Errorf("master hook argv (-want +got):\n%s", diff)
		}
		if c := a.in.Snapshot().Counters.HookCounters; c != (HookCounters{HookRuns: 6}) {
			t.Errorf("counters %+v", c)
		}
	})
}

// TestInstanceSlowHookDoesNotDelayFailover: a master hook that hangs past its timeout
// neither delays the state machine nor reorders the hooks queued behind it.
func TestInstanceSlowHookDoesNotDelayFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		hooks := newFakeHooks()
		hooks.took["master"] = time.Hour
		hooks.fail["fault"] = true
		a := startNodeWith(t, n, "192.0.2.11", testConfig("A", 150, notifyAll(10*time.Second)),
			func(o *Options) { o.Hooks = hooks })
		b := startNode(t, n, "192.0.2.12", testConfig("B", 100))
		advance(mdi150 + time.Millisecond)
		wantStates(t, "start", map[*node]State{a: StateMaster, b: StateBackup})
		mastered := a.transitions()[1].At // when the master hook started

		// The master hook hangs; a fault one second later acts at once all the same.
		advance(time.Second)
		a.in.setFault("haproxy", true)
		synctest.Wait()
		wantStates(t, "fault, hook hanging", map[*node]State{a: StateFault})
		wantHolder(t, "fault, hook hanging", n)
		advance(skew100)
		wantStates(t, "fault, hook hanging", map[*node]State{b: StateMaster})
		wantHolder(t, "fault, hook hanging", n, "B")
		if got := hooks.names(); len(got) != 2 {
			t.Fatalf("hooks started %v: the fault hook must wait for the master hook", got)
		}

		// The master hook is killed at its timeout; the fault hook runs next, and fails.
		advance(time.Until(mastered.Add(10 * time.Second)))
		runs := hooks.runs()
		if len(runs) != 3 || runs[2].Argv[0] != "fault" || !runs[2].At.Equal(mastered.Add(10*time.Second)) {
			t.Fatalf("hooks %v, the fault hook at %v", hooks.names(), runs[len(runs)-1].At.Sub(mastered))
		}
		c := a.in.Snapshot().Counters.HookCounters
		if c != (HookCounters{HookRuns: 3, HookTimeouts: 1, HookFailures: 1}) {
			t.Errorf("counters %+v", c)
		}
		if log := a.log.String(); !strings.Contains(log, "notify hook timed out") || !strings.Contains(log, "notify hook failed") {
			t.Errorf("log lacks the hook lines:\n%s", log)
		}
	})
}

// TestHookQueueDropsOldest: a queue behind a hung hook keeps the newest maxPendingHooks.
func TestHookQueueDropsOldest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hooks := newFakeHooks()
		hooks.took["slow"] = time.Minute
		var (
			mu sync.Mutex
			c  HookCounters
		)
		q := newHookQueue(hooks, discardLogger(), func(f func(*HookCounters)) { mu.Lock(); f(&c); mu.Unlock() })
		done := make(chan struct{})
		finished := make(chan struct{})
		go func() { q.work(t.Context(), done); close(finished) }()
		q.push(Hook{Argv: []string{"slow"}, Timeout: time.Hour})
		synctest.Wait()
		for i := range maxPendingHooks + 3 {
			q.push(Hook{Argv: []string{strconv.Itoa(i)}, Timeout: time.Hour})
		}
		close(done)
		<-finished
		got := hooks.runs()
		if len(got) != 1+maxPendingHooks || got[1].Argv[0] != "3" || got[len(got)-1].Argv[0] != strconv.Itoa(maxPendingHooks+2) {
			t.Errorf("%d hooks ran, first after the slow one %v", len(got), got[1].Argv)
		}
		if c.HookDropped != 3 || c.HookRuns != 1+maxPendingHooks {
			t.Errorf("counters %+v", c)
		}
	})
}

// writeScript writes an executable script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExecHookRunner runs real processes (no privileges needed): argv reaches the
// program untouched by any shell, the HALO_* variables are set, failures and timeouts
// are told apart, and a timeout kills the hook's children too.
func TestExecHookRunner(t *testing.T) {
	dir := t.TempDir()
	r := NewExecHookRunner()
	ctx := t.Context()

	out := filepath.Join(dir, "out")
	echo := writeScript(t, dir, "echo.sh", `for a in "$@"; do printf '%s\n' "$a"; done > "$HOOK_OUT"; printf '%s\n' "$HALO_INSTANCE" "$HALO_VIPS" >> "$HOOK_OUT"`)
	err := r.RunHook(ctx, Hook{Argv: []string{echo, "a b", "$HOME", "*"}, Timeout: 5 * time.Second,
		Env: []string{"HOOK_OUT=" + out, "HALO_INSTANCE=VI_1", "HALO_VIPS=192.0.2.100/24 192.0.2.101/24"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("a b\n$HOME\n*\nVI_1\n192.0.2.100/24 192.0.2.101/24\n", string(b)); diff != "" {
		t.Errorf("hook saw (-want +got):\n%s", diff)
	}

	fail := writeScript(t, dir, "fail.sh", "echo 'no credentials' >&2\nexit 3\n")
	err = r.RunHook(ctx, Hook{Argv: []string{fail}, Timeout: 5 * time.Second})
	if err == nil || errors.Is(err, ErrHookTimeout) || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("failing hook: %v", err)
	}
	if err := r.RunHook(ctx, Hook{Argv: []string{filepath.Join(dir, "missing")}, Timeout: time.Second}); err == nil || errors.Is(err, ErrHookTimeout) {
		t.Errorf("missing program: %v", err)
	}

	// A hook that leaves a daemon behind holding its output has succeeded.
	daemon := writeScript(t, dir, "daemon.sh", `sleep 3 & echo $! > "$1"`)
	dpid := filepath.Join(dir, "dpid")
	if err := r.RunHook(ctx, Hook{Argv: []string{daemon, dpid}, Timeout: 5 * time.Second}); err != nil {
		t.Errorf("hook leaving a daemon: %v", err)
	}
	if b, err := os.ReadFile(dpid); err == nil {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		_ = syscall.Kill(pid, syscall.SIGKILL) // the test's own child's child, by its recorded PID
	}

	pids := filepath.Join(dir, "pids")
	hang := writeScript(t, dir, "hang.sh", `sleep 60 & echo $$ $! > "$1"; wait`)
	start := time.Now()
	err = r.RunHook(ctx, Hook{Argv: []string{hang, pids}, Timeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrHookTimeout) {
		t.Fatalf("hanging hook: %v", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond+hookWaitDelay {
		t.Errorf("hanging hook returned after %v", d)
	}
	b, err = os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		waitDead(t, pid)
	}
}

// waitDead waits until pid has exited (a zombie counts as exited).
func waitDead(t *testing.T, pid int) {
	t.Helper()
	poll.Until(t, 5*time.Second, fmt.Sprintf("process %d gone", pid), func() error {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(st), ") Z ") || errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("alive: %s", st)
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
