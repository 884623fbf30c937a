package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// PIDFileName is the name of the file, next to the master socket, where a managed halod
// records the HAProxy masters it started.
const PIDFileName = "haproxy-halo.pid"

// PIDFile is where halod records, one PID a line, the HAProxy masters it started that
// may still run: the current one first, then previous ones still being taken over. It
// lies next to the master socket and is removed on a clean stop.
func (c Config) PIDFile() string {
	return filepath.Join(filepath.Dir(c.MasterSocket), PIDFileName)
}

// readPIDFile returns the PIDs recorded at path, in order.
func readPIDFile(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		pid, err := strconv.Atoi(line)
		if err != nil || pid <= 0 {
			return pids, fmt.Errorf("%s:%d: %q is not a PID", path, i+1, line)
		}
		if !slices.Contains(pids, pid) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// writePIDFile records pids at path (write then rename: a reader never sees half a
// file), or removes the file when there is none.
func writePIDFile(path string, pids []int) error {
	if len(pids) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	var b strings.Builder
	for _, pid := range pids {
		fmt.Fprintf(&b, "%d\n", pid)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// recordPIDs writes the masters halod answers for (the current one, then the previous
// ones not yet gone) to the pid file.
func (m *Manager) recordPIDs() {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	m.mu.Lock()
	var pids []int
	if m.proc != nil {
		pids = append(pids, m.proc.pid)
	}
	for _, p := range m.priors {
		pids = append(pids, p.pid)
	}
	m.mu.Unlock()
	if err := writePIDFile(m.cfg.PIDFile(), pids); err != nil {
		m.log.Error("haproxy pid file", "path", m.cfg.PIDFile(), "pids", pids, "err", err)
	}
}

// prior is an HAProxy master that a previous halod started and that outlived it,
// verified (see verifyPrior) and held by a pidfd: a signal sent through the pidfd can
// only reach that very process, never one that got its PID after it exited.
type prior struct {
	pid int
	fd  int
	// confirmed: the master socket answered `show proc` with this PID.
	confirmed bool
}

func (p *prior) close() { _ = unix.Close(p.fd) }

// exited reports whether the process has exited (a pidfd is readable then).
func (p *prior) exited() bool { return p.wait(0) }

// wait waits up to timeout for the process to exit and reports whether it did.
func (p *prior) wait(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		slice := min(max(time.Until(deadline), 0), 100*time.Millisecond)
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(slice.Milliseconds()))
		if err == nil && n > 0 {
			return true
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return false
		}
		if !time.Now().Before(deadline) {
			return false
		}
	}
}

// signal sends sig through the pidfd; a process already gone is not an error.
func (p *prior) signal(sig unix.Signal) error {
	err := unix.PidfdSendSignal(p.fd, sig, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

type priorVerdict int

const (
	// priorOurs: the configured binary run as `-W -S <master_socket>`: a master halod
	// started.
	priorOurs priorVerdict = iota
	// priorGone: no such process (or a zombie).
	priorGone
	// priorUnrelated: another program, or an HAProxy on another master socket.
	priorUnrelated
	// priorUnsure: halo cannot tell; the process is left alone.
	priorUnsure
)

// verifyPrior decides whether pid is an HAProxy master halod started: it pins the
// process with a pidfd first, then reads /proc/PID/exe (the configured binary, even if
// replaced on disk since: " (deleted)"), /proc/PID/cmdline (-W and -S <master_socket>,
// wherever HAProxy's own re-execution on reload put them) and the process state, then
// checks the pidfd again: if the process still runs, what /proc said was about it.
func (m *Manager) verifyPrior(pid int) (*prior, priorVerdict, string) {
	if pid == os.Getpid() {
		return nil, priorUnrelated, "that is halod itself"
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil, priorGone, "no such process"
	}
	if err != nil {
		return nil, priorUnsure, fmt.Sprintf("pidfd_open: %v", err)
	}
	p := &prior{pid: pid, fd: fd}
	verdict, why := m.inspect(pid)
	if p.exited() {
		verdict, why = priorGone, "exited"
	}
	if verdict != priorOurs {
		p.close()
		return nil, verdict, why
	}
	return p, priorOurs, why
}

func (m *Manager) inspect(pid int) (priorVerdict, string) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return priorGone, "no such process"
	}
	if err != nil {
		return priorUnsure, err.Error()
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) {
		if s := stat[i+2]; s == 'Z' || s == 'X' {
			return priorGone, "a zombie"
		}
	}
	raw, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return priorUnsure, err.Error()
	}
	args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	cmdOK := slices.Contains(args, "-W")
	sockOK := false
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "-S" && args[i+1] == m.cfg.MasterSocket {
			sockOK = true
		}
	}
	cmdOK = cmdOK && sockOK
	exe, err := os.Readlink(dir + "/exe")
	if err != nil {
		if cmdOK {
			return priorUnsure, fmt.Sprintf("command line %q names the master socket, but its executable cannot be read: %v", args, err)
		}
		return priorUnrelated, fmt.Sprintf("command line %q", args)
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	bin, err := resolveBinary(m.cfg.Binary)
	if err != nil {
		if cmdOK {
			return priorUnsure, fmt.Sprintf("the configured binary %s cannot be resolved: %v", m.cfg.Binary, err)
		}
		return priorUnrelated, fmt.Sprintf("command line %q", args)
	}
	switch {
	case cmdOK && exe == bin:
		return priorOurs, ""
	case sockOK:
		return priorUnsure, fmt.Sprintf("%s %q names the master socket, but is not the configured binary %s", exe, args, bin)
	default:
		return priorUnrelated, fmt.Sprintf("%s %q", exe, args)
	}
}

// resolveBinary is the path /proc/PID/exe shows for the configured binary.
func resolveBinary(bin string) (string, error) {
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", err
	}
	if p, err = filepath.Abs(p); err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(p)
}

// findPriors reads the pid file a previous halod left (it crashed, or was SIGKILLed: a
// clean stop removes it) and returns the masters it names that are verified to be ones
// halod started. The others are logged and left alone; nothing is signalled here.
func (m *Manager) findPriors(ctx context.Context) []*prior {
	path := m.cfg.PIDFile()
	pids, err := readPIDFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		m.log.Warn("haproxy pid file unreadable; what it names is left alone", "path", path, "err", err)
	}
	var priors []*prior
	for _, pid := range pids {
		p, v, why := m.verifyPrior(pid)
		switch v {
		case priorOurs:
			priors = append(priors, p)
		case priorGone:
			m.log.Info("haproxy pid file: the recorded master is gone", "pid_file", path, "pid", pid, "why", why)
		case priorUnrelated:
			m.log.Info("haproxy pid file: the recorded PID is now another process; left alone", "pid_file", path, "pid", pid, "process", why)
		case priorUnsure:
			m.log.Warn("haproxy pid file: cannot verify that the recorded PID is the haproxy master halod started; left alone, not signalled",
				"pid_file", path, "pid", pid, "why", why)
		}
	}
	if sp, err := m.showProc(ctx, time.Second); err == nil {
		known := false
		for _, p := range priors {
			if p.pid == sp.MasterPID {
				p.confirmed, known = true, true
			}
		}
		if !known {
			m.log.Warn("an HAProxy halod did not record answers on the master socket; left alone, starting another one",
				"master_socket", m.cfg.MasterSocket, "other_master_pid", sp.MasterPID)
		}
	}
	for _, p := range priors {
		m.log.Info("haproxy master left by a previous halod still runs: starting a new one, then soft-stopping it once the new one is healthy",
			"old_pid", p.pid, "confirmed_by_master_socket", p.confirmed)
	}
	return priors
}

// takeoverArgs are the extra arguments of an HAProxy started beside previous masters:
// with "expose-fd listeners" on the stats socket, -x <stats_socket> makes the new master
// take the listening sockets from the old worker, so that when the old one stops they stay
// open and no connection waiting in their accept queue is reset. Without it the new
// HAProxy binds beside the old one (SO_REUSEPORT), and a connection queued on the old
// socket when it closes can be reset (Linux without net.ipv4.tcp_migrate_req=1).
func (m *Manager) takeoverArgs(priors []*prior) []string {
	if len(priors) == 0 {
		return nil
	}
	ok, err := m.v.exposesListeners()
	switch {
	case err != nil:
		m.log.Warn("takeover: cannot read the stats socket's options; binding beside the old haproxy", "err", err)
	case ok:
		m.log.Info("takeover: the new haproxy takes the listening sockets from the old worker (-x)", "stats_socket", m.cfg.StatsSocket)
		return []string{"-x", m.cfg.StatsSocket}
	default:
		m.log.Warn("takeover: the stats socket has no \"expose-fd listeners\": the new haproxy binds beside the old one, and a connection queued on the old one when it stops may be reset",
			"stats_socket", m.cfg.StatsSocket)
	}
	return nil
}

// exposesListeners reports whether the stats socket at cfg.StatsSocket is declared with
// "expose-fd listeners": a new HAProxy started with -x on it then takes the listening
// sockets themselves from the running worker, instead of binding beside them.
func (v validator) exposesListeners() (bool, error) {
	if v.cfg.StatsSocket == "" {
		return false, nil
	}
	paths, err := expandFiles(v.cfg.Config)
	if err != nil {
		return false, err
	}
	files, err := ReadConfigFiles(paths...)
	if err != nil {
		return false, err
	}
	for _, f := range files {
		if f.ParseErr != nil {
			return false, fmt.Errorf("haproxy: config %s: %w", f.Path, f.ParseErr)
		}
		for _, s := range f.StatsSockets {
			if strings.TrimPrefix(s.Path, "unix@") == v.cfg.StatsSocket && s.ExposeFD {
				return true, nil
			}
		}
	}
	return false, nil
}

// awaitReady reports on the channel, once, whether the master c became ready within
// reload_timeout: the master socket names c as the master (the new master bound it,
// by a rename over the old one's path) and check.rise checks in a row through it (@1:
// the new master's current worker) pass. Nothing is sent when ctx ends first.
func (m *Manager) awaitReady(ctx context.Context, c *child) <-chan bool {
	out := make(chan bool, 1)
	plan := newCheckPlan(m.cfg.Check, true)
	go func() {
		deadline := time.NewTimer(m.cfg.ReloadTimeout)
		defer deadline.Stop()
		tick := time.NewTicker(m.cfg.Check.FastInterval)
		defer tick.Stop()
		ok := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-deadline.C:
				out <- false
				return
			case <-tick.C:
			}
			sp, err := m.showProc(ctx, m.cfg.Check.Interval)
			if err != nil || sp.MasterPID != c.pid || len(sp.Workers) == 0 {
				ok = 0
				continue
			}
			r := plan.probe(ctx, m.cfg.Check.Interval, "master socket", m.cfg.MasterSocket)
			if !r.OK() || !slices.ContainsFunc(sp.Workers, func(w ProcWorker) bool { return w.PID == r.WorkerPID }) {
				ok = 0
				continue
			}
			if ok++; ok >= m.cfg.Check.Rise {
				out <- true
				return
			}
		}
	}()
	return out
}

// handOver soft-stops the previous masters: c serves (ready), or reload_timeout passed
// without it becoming healthy, or (c nil) halod is stopping.
func (m *Manager) handOver(c *child, priors []*prior, ready bool) {
	for _, p := range priors {
		switch {
		case c == nil:
			m.log.Info("halod is stopping: soft-stopping the haproxy master a previous halod left", "old_pid", p.pid)
		case ready:
			m.log.Info("the new haproxy is healthy: soft-stopping the master a previous halod left", "pid", c.pid, "old_pid", p.pid)
		default:
			m.log.Warn("the new haproxy is not healthy after reload_timeout: soft-stopping the master a previous halod left anyway",
				"pid", c.pid, "old_pid", p.pid, "reload_timeout", m.cfg.ReloadTimeout)
		}
		m.bg.Go(func() { m.retire(p) })
	}
}

// retire soft-stops a previous master (SIGUSR1: its workers stop listening and finish
// their connections), kills it after stop_timeout, and forgets it once it is gone.
func (m *Manager) retire(p *prior) {
	if err := p.signal(unix.SIGUSR1); err != nil {
		m.log.Warn("soft stop of the previous haproxy master", "old_pid", p.pid, "err", err)
	}
	start := time.Now()
	if !p.wait(m.cfg.StopTimeout) {
		m.log.Warn("the previous haproxy master did not stop in time, killing it", "old_pid", p.pid, "timeout", m.cfg.StopTimeout)
		if err := p.signal(unix.SIGKILL); err != nil {
			m.log.Error("kill the previous haproxy master", "old_pid", p.pid, "err", err)
		}
		if !p.wait(5 * time.Second) {
			m.log.Error("the previous haproxy master survived SIGKILL for 5s; it stays in the pid file", "old_pid", p.pid)
			return
		}
	}
	m.log.Info("the previous haproxy master exited", "old_pid", p.pid, "drained_in", time.Since(start).Round(time.Millisecond))
	m.mu.Lock()
	m.priors = slices.DeleteFunc(m.priors, func(q *prior) bool { return q == p })
	m.mu.Unlock()
	p.close()
	m.recordPIDs()
}
