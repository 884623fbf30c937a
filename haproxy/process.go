package haproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// softStopRepeat is how often stop repeats its SIGUSR1.
const softStopRepeat = 500 * time.Millisecond

// childEnv is halod's environment without NOTIFY_SOCKET: halod is the unit's main
// process and speaks sd_notify itself; an HAProxy that saw the socket would too.
func childEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "NOTIFY_SOCKET=") {
			out = append(out, e)
		}
	}
	return out
}

// args is the managed command line: master-worker (-W, not -Ws: no sd_notify), the
// master CLI on -S, each configuration path as -f.
func (c Config) args() []string {
	a := []string{"-W", "-S", c.MasterSocket}
	for _, f := range c.Config {
		a = append(a, "-f", f)
	}
	return a
}

// child is one managed HAProxy master process.
type child struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	// done receives Wait's result once, as soon as the master exits.
	done chan error
	// pumps copy the master's and workers' stdout/stderr into the log; they end when
	// every process holding the pipes has exited.
	pumps   sync.WaitGroup
	readers []*os.File
}

// spawn starts HAProxy and waits for it in a goroutine, so that its exit is known the
// moment it happens. There is no parent-death signal: an HAProxy outlives a crashed
// halod and keeps serving (as it outlives keepalived), and the next halod takes it over
// (see findPriors).
func (m *Manager) spawn(extra ...string) (*child, error) {
	if dir := filepath.Dir(m.cfg.MasterSocket); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("haproxy: master socket directory: %w", err)
		}
	}
	c := &child{done: make(chan error, 1)}
	cmd := exec.Command(m.cfg.Binary, append(m.cfg.args(), extra...)...)
	cmd.Env = childEnv()
	// Its own process group: a Ctrl-C on halod's terminal must not hard-stop HAProxy
	// behind halod's back; halod stops it gracefully.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var writers []*os.File
	for _, stream := range []string{"stdout", "stderr"} {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(c.readers)
			closeAll(writers)
			return nil, fmt.Errorf("haproxy: pipe: %w", err)
		}
		c.readers, writers = append(c.readers, r), append(writers, w)
		c.pumps.Go(func() { m.pump(stream, r) })
	}
	cmd.Stdout, cmd.Stderr = writers[0], writers[1]
	started := make(chan error, 1)
	go func() {
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.done <- cmd.Wait()
	}()
	err := <-started
	closeAll(writers) // the children hold their own copies
	if err != nil {
		closeAll(c.readers)
		c.pumps.Wait()
		return nil, fmt.Errorf("haproxy: start %s: %w", m.cfg.Binary, err)
	}
	c.cmd, c.pid, c.started = cmd, cmd.Process.Pid, time.Now()
	return c, nil
}

func closeAll(fs []*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

// drain lets the log pumps finish, and cuts them after grace: a worker that outlives its
// master must not keep a goroutine of halod.
func (c *child) drain(grace time.Duration) {
	done := make(chan struct{})
	go func() { c.pumps.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		closeAll(c.readers)
		<-done
	}
	closeAll(c.readers)
}

// signal sends sig to the master halod started, and only to it; os.Process knows when
// the process has been reaped, so a recycled PID is never signalled.
func (c *child) signal(sig os.Signal) error {
	err := c.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// stop soft-stops HAProxy (SIGUSR1: the master tells its workers to stop listening and
// finish their connections) and kills the master if it is not gone after timeout.
//
// The SIGUSR1 is repeated every softStopRepeat: HAProxy 2.6 loses one that reaches the
// master just after it forked its worker, before its master-mode handlers are set
// (measured: 4 of 6 masters signalled as "Loading success." is printed never stopped;
// a second SIGUSR1 stopped each). A worker already stopping ignores the repeats.
func (m *Manager) stop(c *child, timeout time.Duration) error {
	m.log.Info("stopping haproxy", "pid", c.pid, "timeout", timeout)
	if err := c.signal(syscall.SIGUSR1); err != nil {
		m.log.Warn("soft stop", "pid", c.pid, "err", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	again := time.NewTicker(softStopRepeat)
	defer again.Stop()
wait:
	for {
		select {
		case err := <-c.done:
			m.exited(c, err, 0, true)
			return nil
		case <-again.C:
			_ = c.signal(syscall.SIGUSR1)
		case <-t.C:
			break wait
		}
	}
	m.log.Warn("haproxy did not stop in time, killing it", "pid", c.pid, "timeout", timeout)
	if err := c.signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("haproxy: kill %d: %w", c.pid, err)
	}
	k := time.NewTimer(5 * time.Second)
	defer k.Stop()
	select {
	case err := <-c.done:
		m.exited(c, err, 0, true)
		return fmt.Errorf("haproxy: killed pid %d after the stop timeout of %s", c.pid, timeout)
	case <-k.C:
		return fmt.Errorf("haproxy: pid %d survived SIGKILL for 5s", c.pid)
	}
}

// supervise runs a managed HAProxy until ctx ends: start, learn of the exit at once,
// restart after a bounded exponential backoff (reset once HAProxy ran restart.stable),
// stop gracefully at the end. A master a previous halod left running (it crashed) is
// taken over: the new one starts beside it (listeners use SO_REUSEPORT, unix sockets
// are bound by rename) and the old one is soft-stopped once the new one is healthy.
func (m *Manager) supervise(ctx context.Context) error {
	priors := m.findPriors(ctx)
	m.mu.Lock()
	m.priors = append(m.priors, priors...)
	m.mu.Unlock()
	m.recordPIDs()
	fatal := false
	defer func() {
		if fatal {
			// A previous master keeps serving; the pid file still names it, for the
			// next halod.
			m.mu.Lock()
			m.priors = slices.DeleteFunc(m.priors, func(p *prior) bool { return slices.Contains(priors, p) })
			m.mu.Unlock()
			for _, p := range priors {
				p.close()
			}
			return
		}
		// halod stops cleanly: the previous masters not yet handed over stop too.
		m.handOver(nil, priors, false)
	}()
	delay := m.cfg.Restart.Initial
	inPlace := false
	for first := true; ; first = false {
		if ctx.Err() != nil {
			return nil
		}
		args := m.takeoverArgs(priors)
		if inPlace {
			// The last -x wins; the held sockets are the crashed HAProxy's own.
			args = []string{"-x", m.cfg.ListenersSocket()}
		}
		c, err := m.spawn(args...)
		if err != nil {
			if inPlace {
				m.inPlaceStartFailed(err)
				inPlace = false
			}
			var ee *exec.Error
			if errors.As(err, &ee) || errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
				fatal = true // no binary: no restart will help
				return err
			}
			m.log.Error("start haproxy", "err", err, "retry_in", delay)
		} else {
			m.started(c, !first)
			m.recordPIDs()
			rctx, rcancel := context.WithCancel(ctx)
			var ready <-chan bool
			if len(priors) > 0 {
				ready = m.awaitReady(rctx, c)
			}
			var exitErr error
		wait:
			for {
				select {
				case exitErr = <-c.done:
					break wait
				case ok := <-ready:
					ready = nil
					m.handOver(c, priors, ok)
					priors = nil
				case <-ctx.Done():
					rcancel()
					m.handOver(nil, priors, false)
					priors = nil
					// Before the soft stop: HAProxy closes its listeners so that new
					// connections are refused, which halod's copies would prevent.
					if n := m.hold.release(); n > 0 {
						m.log.Info("released the listening sockets halod held", "sockets", n)
					}
					err := m.stop(c, m.cfg.StopTimeout)
					m.recordPIDs()
					c.drain(2 * time.Second)
					return err
				}
			}
			rcancel()
			if time.Since(c.started) >= m.cfg.Restart.Stable {
				delay = m.cfg.Restart.Initial
			}
			inPlace = ctx.Err() == nil && m.restartInPlace(c, exitErr)
			if !inPlace {
				m.exited(c, exitErr, delay, false)
			}
			m.recordPIDs()
			// A worker that outlives its master keeps the pipes open: never let that
			// delay the restart.
			m.bg.Go(func() { c.drain(2 * time.Second) })
			if inPlace {
				continue
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(2*delay, m.cfg.Restart.Max)
	}
}

// pump logs one output stream of HAProxy, line by line, with source=haproxy: [ALERT]
// lines at error level, [WARNING] at warn, the rest at info.
func (m *Manager) pump(stream string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		m.logLine(stream, sc.Text())
	}
	if err := sc.Err(); err != nil {
		// A line past the buffer stops the scanner; the pipe must still be drained, or
		// HAProxy would block writing to it.
		m.log.Warn("haproxy output unreadable, discarding the rest", "stream", stream, "err", err)
		_, _ = io.Copy(io.Discard, r)
	}
}

func (m *Manager) logLine(stream, line string) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return
	}
	level := slog.LevelInfo
	tag, rest := "", line
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			tag, rest = line[1:i], strings.TrimSpace(line[i+1:])
		}
	}
	switch tag {
	case "ALERT", "EMERG":
		level = slog.LevelError
	case "WARNING":
		level = slog.LevelWarn
	}
	attrs := []any{"stream", stream}
	// "(1234) : message"
	if strings.HasPrefix(rest, "(") {
		if i := strings.Index(rest, ") : "); i > 0 {
			if pid, err := strconv.Atoi(rest[1:i]); err == nil {
				attrs = append(attrs, "pid", pid)
				rest = rest[i+4:]
			}
		}
	}
	if tag != "" {
		attrs = append(attrs, "level_haproxy", strings.ToLower(tag))
	}
	if level == slog.LevelError {
		m.noteAlert(rest)
	}
	m.hlog.Log(context.Background(), level, rest, attrs...)
}
