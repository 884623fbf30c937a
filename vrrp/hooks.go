package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrHookTimeout is wrapped by RunHook's error when a hook outran its timeout and was
// killed.
var ErrHookTimeout = errors.New("vrrp: notify hook timed out")

// Hook is one run of a notify hook.
type Hook struct {
	// Argv is the program and its arguments, run without a shell.
	Argv []string
	// Env are the HALO_* variables ("KEY=value"), added to the daemon's environment.
	Env []string
	// Timeout bounds the run: after it the hook's whole process group is killed.
	Timeout time.Duration
}

// HookRunner runs notify hooks. The default, NewExecHookRunner, starts processes; tests
// pass a fake one.
type HookRunner interface {
	// RunHook runs h and waits for it, at most h.Timeout. It returns nil when the hook
	// exited with status 0, an error wrapping ErrHookTimeout when it was killed at its
	// timeout, or another error (it could not start, it failed).
	RunHook(ctx context.Context, h Hook) error
}

// hookOutputMax bounds the output of a hook kept for the log.
const hookOutputMax = 4 << 10

// hookWaitDelay bounds the wait for a killed or finished hook's output pipes, which an
// escaped grandchild could hold open.
const hookWaitDelay = time.Second

type execHookRunner struct{}

var _ HookRunner = execHookRunner{}

// NewExecHookRunner returns the HookRunner that runs a hook as a process: argv as given
// (no shell), stdin from /dev/null, the HALO_* variables added to the environment, in a
// process group of its own that is killed (SIGKILL) when the timeout passes, so that
// the hook's children go with it.
func NewExecHookRunner() HookRunner { return execHookRunner{} }

func (execHookRunner) RunHook(ctx context.Context, h Hook) error {
	if len(h.Argv) == 0 || h.Argv[0] == "" {
		return errors.New("vrrp: notify hook: empty argv")
	}
	tctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, h.Argv[0], h.Argv[1:]...)
	cmd.Env = append(os.Environ(), h.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = hookWaitDelay
	out := &tailBuffer{max: hookOutputMax}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The hook exited 0 and left a child holding its output open (a daemon it
		// started): that is its business, and no failure.
		err = nil
	}
	if err != nil && errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("%w: %s killed after %s%s", ErrHookTimeout, h.Argv[0], h.Timeout, out.suffix())
	}
	if err != nil {
		return fmt.Errorf("vrrp: notify hook %s: %w%s", h.Argv[0], err, out.suffix())
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// suffix renders the output for an error message: "" or ": <output>".
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return ": " + s
}

// maxPendingHooks bounds the hooks waiting behind a slow one; beyond it the oldest
// waiting hook is dropped and counted (a flapping instance must not queue without end).
const maxPendingHooks = 64

// HookCounters count the notify hooks of an instance or a group.
type HookCounters struct {
	// HookRuns counts hooks started; HookFailures those that failed (could not start,
	// exited non-zero), HookTimeouts those killed at their timeout, HookDropped those
	// dropped from a full queue without running.
	HookRuns, HookFailures, HookTimeouts, HookDropped uint64
}

// hookQueue runs hooks one at a time, in the order queued, on a goroutine of its own:
// whoever queues never waits for a hook.
type hookQueue struct {
	runner HookRunner
	log    *slog.Logger
	// count is called with each outcome, to update the owner's counters under its lock.
	count func(func(*HookCounters))

	mu      sync.Mutex
	pending []Hook
	wake    chan struct{} // capacity 1
}

func newHookQueue(runner HookRunner, log *slog.Logger, count func(func(*HookCounters))) *hookQueue {
	if runner == nil {
		runner = NewExecHookRunner()
	}
	return &hookQueue{runner: runner, log: log, count: count, wake: make(chan struct{}, 1)}
}

// push queues h; it never blocks.
func (q *hookQueue) push(h Hook) {
	q.mu.Lock()
	dropped := false
	if len(q.pending) >= maxPendingHooks {
		q.pending = q.pending[1:]
		dropped = true
	}
	q.pending = append(q.pending, h)
	q.mu.Unlock()
	if dropped {
		q.count(func(c *HookCounters) { c.HookDropped++ })
		q.log.Warn("notify hook queue full: the oldest waiting hook is dropped", "limit", maxPendingHooks)
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// work runs queued hooks until done is closed and nothing is left. A hook runs with ctx,
// which should outlive the owner's shutdown so that the stop hooks run too; each hook is
// bounded by its own timeout.
func (q *hookQueue) work(ctx context.Context, done <-chan struct{}) {
	for {
		q.mu.Lock()
		var h Hook
		ok := len(q.pending) > 0
		if ok {
			h = q.pending[0]
			q.pending = q.pending[1:]
		}
		q.mu.Unlock()
		if ok {
			q.run(ctx, h)
			continue
		}
		select {
		case <-q.wake:
		case <-done:
			q.mu.Lock()
			empty := len(q.pending) == 0
			q.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

func (q *hookQueue) run(ctx context.Context, h Hook) {
	q.count(func(c *HookCounters) { c.HookRuns++ })
	start := time.Now()
	err := q.runner.RunHook(ctx, h)
	switch {
	case err == nil:
		q.log.Debug("notify hook done", "argv", h.Argv, "took", time.Since(start))
	case errors.Is(err, ErrHookTimeout):
		q.count(func(c *HookCounters) { c.HookTimeouts++ })
		q.log.Warn("notify hook timed out and was killed", "argv", h.Argv, "timeout", h.Timeout, "err", err)
	default:
		q.count(func(c *HookCounters) { c.HookFailures++ })
		q.log.Warn("notify hook failed", "argv", h.Argv, "took", time.Since(start), "err", err)
	}
}

// hookFor returns the argv of n for entering state to (from from): master, backup,
// fault, or stop when an instance that ran returns to INIT.
func (n Notify) hookFor(from, to State) []string {
	switch to {
	case StateMaster:
		return n.Master
	case StateBackup:
		return n.Backup
	case StateFault:
		return n.Fault
	case StateInit:
		if from != StateInit {
			return n.Stop
		}
	}
	return nil
}

// empty reports whether n configures no hook.
func (n Notify) empty() bool {
	return len(n.Master) == 0 && len(n.Backup) == 0 && len(n.Fault) == 0 && len(n.Stop) == 0
}

// hookEnv builds a hook's HALO_* variables.
func hookEnv(instance, group string, from, to State, vips []string, reason string) []string {
	return []string{
		"HALO_INSTANCE=" + instance,
		"HALO_GROUP=" + group,
		"HALO_OLD_STATE=" + from.String(),
		"HALO_NEW_STATE=" + to.String(),
		"HALO_VIPS=" + strings.Join(vips, " "),
		"HALO_REASON=" + reason,
	}
}
