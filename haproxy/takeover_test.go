package haproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/halo-lb/halo/internal/poll"
)

// The test binary re-executes itself as a helper process, chosen by helperEnv:
//   - "manager": runs a Manager on the Config in configEnv (JSON) until SIGTERM or two
//     minutes, logging to stderr: a halod the test can SIGKILL;
//   - "idle": does nothing until a signal or two minutes: a process a stale pid file
//     may name.
const (
	helperEnv = "HALO_HAPROXY_TEST_HELPER"
	configEnv = "HALO_HAPROXY_TEST_CONFIG"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "manager":
		os.Exit(helperManager())
	case "idle":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGINT)
		defer stop()
		t := time.NewTimer(2 * time.Minute)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		os.Exit(3)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

func helperManager() int {
	var cfg Config
	if err := json.Unmarshal([]byte(os.Getenv(configEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		return 2
	}
	m, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helper starts the test binary as a helper process (argv as given, argv[0] included),
// ended by its recorded os.Process when the test ends.
func helper(t *testing.T, mode string, argv []string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	if len(argv) > 0 {
		cmd.Args = argv
	}
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	out, err := os.Create(filepath.Join(t.TempDir(), mode+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		// SIGTERM first: a manager helper stops its HAProxy.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("helper %s output:\n%s", mode, b)
		}
	})
	return cmd
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// masters lists the running HAProxy masters on the master socket of cfg: processes of
// its command line (-W -S <socket>) whose parent is not one of them (workers are forks).
func masters(t *testing.T, cfg Config) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parent := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		i := slices.Index(args, "-S")
		if !slices.Contains(args, "-W") || i < 0 || i+1 >= len(args) || args[i+1] != cfg.MasterSocket {
			continue
		}
		status, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(status)) {
			if v, ok := strings.CutPrefix(line, "PPid:"); ok {
				parent[pid], _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
	}
	var out []int
	for pid, pp := range parent {
		if _, ok := parent[pp]; !ok {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

func TestPIDFile(t *testing.T) {
	cfg := Config{MasterSocket: "/run/halo/haproxy-master.sock"}
	if got := cfg.PIDFile(); got != "/run/halo/haproxy-halo.pid" {
		t.Errorf("PIDFile = %s", got)
	}
	path := filepath.Join(t.TempDir(), PIDFileName)
	if err := writePIDFile(path, []int{42, 7}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "42\n7\n" {
		t.Errorf("pid file %q", b)
	}
	if pids, err := readPIDFile(path); err != nil || !slices.Equal(pids, []int{42, 7}) {
		t.Errorf("read %v, %v", pids, err)
	}
	if err := writePIDFile(path, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file still there with no PID: %v", err)
	}
	if err := writePIDFile(path, nil); err != nil {
		t.Errorf("removing an absent pid file: %v", err)
	}
	if err := os.WriteFile(path, []byte("12\nnot-a-pid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pids, err := readPIDFile(path); err == nil || !slices.Equal(pids, []int{12}) {
		t.Errorf("read %v, %v; want the PIDs before the bad line and an error", pids, err)
	}
}

// TestVerifyPrior: only the configured binary run as -W -S <master socket> is taken
// for a master halod started; the rest is gone, unrelated or unsure, and never held.
func TestVerifyPrior(t *testing.T) {
	self, err := resolveBinary(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "m.sock")
	m := &Manager{cfg: Config{Binary: self, MasterSocket: sock}}

	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	idle := helper(t, "idle", nil)
	ours := helper(t, "idle", []string{self, "-sf", "1", "-x", "sockpair@5", "-W", "-S", sock, "-f", "/x.cfg"})
	other := helper(t, "idle", []string{self, "-W", "-S", sock + ".other"})
	m2 := &Manager{cfg: Config{Binary: "/bin/true", MasterSocket: sock}}
	for _, tc := range []struct {
		name string
		m    *Manager
		pid  int
		want priorVerdict
	}{
		{"exited", m, dead.Process.Pid, priorGone},
		{"halod itself", m, os.Getpid(), priorUnrelated},
		{"another program", m, idle.Process.Pid, priorUnrelated},
		{"the binary on another master socket", m, other.Process.Pid, priorUnrelated},
		{"the binary as -W -S <master socket>, after a reload", m, ours.Process.Pid, priorOurs},
		{"-W -S <master socket>, but another binary", m2, ours.Process.Pid, priorUnsure},
	} {
		p, v, why := tc.m.verifyPrior(tc.pid)
		if v != tc.want || (p != nil) != (v == priorOurs) {
			t.Errorf("%s: verdict %d (%s), prior %v; want %d", tc.name, v, why, p, tc.want)
		}
		if p != nil {
			if p.pid != tc.pid || p.exited() {
				t.Errorf("%s: prior %+v", tc.name, p)
			}
			p.close()
		}
	}
	// No signal reached any of them.
	for _, c := range []*exec.Cmd{idle, ours, other} {
		if !alive(c.Process.Pid) {
			t.Errorf("helper %v is gone", c.Args)
		}
	}
}

// labConfigJSON is the lab's Config for a helper process.
func labConfigJSON(t *testing.T, cfg Config) string {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// crashable runs a halod (a helper process running a Manager on cfg) until its HAProxy
// serves and is recorded in the pid file; it returns the helper and the HAProxy master,
// held by a pidfd, which the test's cleanup kills (and reports) if it still runs then.
func crashable(t *testing.T, l *lab, cfg Config) (*exec.Cmd, *prior) {
	t.Helper()
	h := helper(t, "manager", nil, configEnv+"="+labConfigJSON(t, cfg))
	var oldPID int
	poll.Until(t, 15*time.Second, "the helper's haproxy serves and is recorded", func() error {
		pids, err := readPIDFile(cfg.PIDFile())
		if err != nil || len(pids) != 1 {
			return fmt.Errorf("pid file: %v %v", pids, err)
		}
		oldPID = pids[0]
		return get(l.frontend)
	})
	old, err := unix.PidfdOpen(oldPID, 0)
	if err != nil {
		t.Fatal(err)
	}
	oldp := &prior{pid: oldPID, fd: old}
	t.Cleanup(func() {
		// The test's record of the old master: if the takeover failed, end it.
		if !oldp.exited() {
			t.Errorf("old haproxy master %d still runs at the end; killing it", oldPID)
			_ = oldp.signal(unix.SIGKILL)
			oldp.wait(5 * time.Second)
		}
		oldp.close()
	})
	return h, oldp
}

// TestTakeoverAfterCrash: a halod (a helper process running a Manager) is SIGKILLed; its
// HAProxy keeps serving; a new Manager on the same configuration starts its own HAProxy
// beside it and soft-stops the old master once the new one is healthy. Clients (keep-alive
// and one request per connection) see no failed request across the crash and the
// takeover, and afterwards one master runs: the new one.
//
// With "expose-fd listeners" on the stats socket the new HAProxy takes the listening
// sockets over (-x); without it, it binds beside the old one (SO_REUSEPORT), which
// completes the takeover too, but may reset a connection queued on the old socket when
// it closes (seen with 24 clients: 3 resets in 30 runs): that variant only logs failures.
func TestTakeoverAfterCrash(t *testing.T) {
	t.Run("expose-fd", func(t *testing.T) { takeoverAfterCrash(t, true) })
	t.Run("reuseport", func(t *testing.T) { takeoverAfterCrash(t, false) })
}

func takeoverAfterCrash(t *testing.T, exposeFD bool) {
	l := newLab(t)
	if !exposeFD {
		l.vars.NoExposeFD = true
		l.writeConfig()
	}
	cfg := l.cfg
	cfg.ApplyDefaults()
	crashed, oldp := crashable(t, l, cfg)
	oldPID := oldp.pid
	// A reload re-executes the master (HAProxy may put -sf and -x in front of the
	// arguments): the takeover must still recognise it.
	poll.Until(t, 10*time.Second, "the old master's CLI", func() error {
		_, err := parseProcOn(t, cfg)
		return err
	})
	if _, err := masterCommand(t.Context(), 5*time.Second, cfg.MasterSocket, "reload"); err != nil {
		t.Logf("reload: %v (the master may cut the connection)", err)
	}
	poll.Until(t, 10*time.Second, "the reload of the old master", func() error {
		p, err := parseProcOn(t, cfg)
		if err != nil || p.Reloads < 1 || len(p.Workers) != 1 {
			return fmt.Errorf("show proc %+v, %v", p, err)
		}
		return nil
	})
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", oldPID)); err == nil {
		t.Logf("old master %d after its reload: %q", oldPID, strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00"))
	}

	ka, cl := &load{}, &load{}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { ka.run(ctx, l.frontend, true, 1_000_000) })
		wg.Go(func() { cl.run(ctx, l.frontend, false, 1_000_000) })
	}
	stopLoad := sync.OnceFunc(func() { cancel(); wg.Wait() })
	defer stopLoad()
	progress := func(min int64) func() error {
		return func() error {
			if a, b := ka.ok.Load()+ka.failed.Load(), cl.ok.Load()+cl.failed.Load(); a < min || b < min {
				return fmt.Errorf("keep-alive %d, close %d requests", a, b)
			}
			return nil
		}
	}
	total := func() int64 { return ka.ok.Load() + ka.failed.Load() + cl.ok.Load() + cl.failed.Load() }
	poll.Until(t, 10*time.Second, "client progress", progress(50))

	// The crash: halod is SIGKILLed, its HAProxy serves on.
	if err := crashed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "the helper's exit", func() error {
		if alive(crashed.Process.Pid) {
			return errors.New("still running")
		}
		return nil
	})
	n := total()
	poll.Until(t, 10*time.Second, "requests served by the orphaned haproxy", func() error {
		if oldp.exited() {
			t.Fatal("the old haproxy master exited when halod was killed")
		}
		return progress(n/4 + 100)()
	})

	// The next halod takes over.
	r := start(t, l.cfg)
	var newPID int
	took := poll.Until(t, 30*time.Second, "the new master healthy and the old one gone", func() error {
		s := r.m.Snapshot()
		if !s.Healthy || s.PID == 0 || s.PID == oldPID {
			return fmt.Errorf("healthy %v pid %d (old %d): %s", s.Healthy, s.PID, oldPID, s.Reason)
		}
		newPID = s.PID
		if !oldp.exited() {
			return fmt.Errorf("old master %d still runs", oldPID)
		}
		return nil
	})
	t.Logf("takeover done in %s", took)
	n = total()
	poll.Until(t, 10*time.Second, "requests served by the new haproxy", progress(n/4+100))
	stopLoad()
	// The old worker drains beside the new one (and shares its stats socket with -x): the
	// new Manager's verdict must not flap meanwhile.
	if ev := r.eventsOf(func(e Event) bool { h, ok := e.(*HealthChanged); return ok && !h.Healthy }); len(ev) != 0 {
		t.Errorf("the new Manager called HAProxy unhealthy during the takeover: %+v", ev[0])
	}
	report := t.Errorf
	if !exposeFD {
		report = t.Logf
	}
	if ka.failed.Load() != 0 || cl.failed.Load() != 0 {
		report("failed requests across the crash and the takeover: keep-alive %d of %d (%v), close %d of %d (%v)",
			ka.failed.Load(), ka.ok.Load()+ka.failed.Load(), ka.errs,
			cl.failed.Load(), cl.ok.Load()+cl.failed.Load(), cl.errs)
	}
	t.Logf("keep-alive: %d ok, close: %d ok", ka.ok.Load(), cl.ok.Load())
	if got := masters(t, cfg); !slices.Equal(got, []int{newPID}) {
		t.Errorf("haproxy masters running: %v, want only the new one %d", got, newPID)
	}
	if pids, err := readPIDFile(cfg.PIDFile()); err != nil || !slices.Equal(pids, []int{newPID}) {
		t.Errorf("pid file %v, %v; want [%d]", pids, err, newPID)
	}
	want := "takeover: the new haproxy takes the listening sockets from the old worker (-x)"
	if !exposeFD {
		want = "takeover: the stats socket has no \"expose-fd listeners\""
	}
	if _, ok := r.log.find(want); !ok {
		t.Errorf("not logged: %q", want)
	}
	for _, msg := range []string{"haproxy master left by a previous halod still runs", "soft-stopping the master a previous halod left", "the previous haproxy master exited"} {
		if _, ok := r.log.find(msg, "old_pid", strconv.Itoa(oldPID)); !ok {
			t.Errorf("not logged: %q old_pid=%d", msg, oldPID)
		}
	}
	// A clean stop removes the pid file and leaves no master.
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	r.done <- nil
	if _, err := os.Stat(cfg.PIDFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after a clean stop: %v", err)
	}
	if got := masters(t, cfg); len(got) != 0 {
		t.Errorf("haproxy masters after a clean stop: %v", got)
	}
}

func TestExposesListeners(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"stats socket SOCK mode 600 level admin expose-fd listeners", true},
		{"stats socket SOCK mode 600 level admin", false},
		{"stats socket SOCK.other level admin expose-fd listeners\n    stats socket SOCK level admin", false},
	} {
		sock := filepath.Join(dir, "s.sock")
		path := filepath.Join(dir, "h.cfg")
		cfg := "global\n    " + strings.ReplaceAll(tc.line, "SOCK", sock) + "\n"
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		v := validator{cfg: Config{Config: []string{path}, StatsSocket: sock}}
		if got, err := v.exposesListeners(); err != nil || got != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.line, got, err, tc.want)
		}
	}
}

func parseProcOn(t *testing.T, cfg Config) (Proc, error) {
	out, err := masterCommand(t.Context(), time.Second, cfg.MasterSocket, "show proc")
	if err != nil {
		return Proc{}, err
	}
	return parseProc(out)
}

// TestStalePIDFileIgnored: a pid file naming a dead process, an unrelated one and one
// that names the master socket without being the configured binary: the Manager starts
// its HAProxy as usual, signals none of them and records only its own master.
func TestStalePIDFileIgnored(t *testing.T) {
	l := newLab(t)
	cfg := l.cfg
	cfg.ApplyDefaults()
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	unrelated := helper(t, "idle", nil)
	fake := helper(t, "idle", []string{cfg.Binary, "-W", "-S", cfg.MasterSocket, "-f", cfg.Config[0]})
	stale := []int{dead.Process.Pid, unrelated.Process.Pid, fake.Process.Pid}
	if err := writePIDFile(cfg.PIDFile(), stale); err != nil {
		t.Fatal(err)
	}
	r := start(t, l.cfg)
	poll.Until(t, 10*time.Second, "healthy", healthy(r.m))
	if err := get(l.frontend); err != nil {
		t.Fatal(err)
	}
	pid := r.m.Snapshot().PID
	if pids, err := readPIDFile(cfg.PIDFile()); err != nil || !slices.Equal(pids, []int{pid}) {
		t.Errorf("pid file %v, %v; want [%d]", pids, err, pid)
	}
	for _, c := range []*exec.Cmd{unrelated, fake} {
		if !alive(c.Process.Pid) {
			t.Errorf("%v (pid %d) named by the stale pid file was ended", c.Args, c.Process.Pid)
		}
	}
	for _, c := range []struct {
		msg string
		pid int
	}{
		{"the recorded master is gone", dead.Process.Pid},
		{"the recorded PID is now another process; left alone", unrelated.Process.Pid},
		{"cannot verify that the recorded PID is the haproxy master halod started", fake.Process.Pid},
	} {
		if _, ok := r.log.find(c.msg, "pid", strconv.Itoa(c.pid)); !ok {
			t.Errorf("not logged: %q pid=%d", c.msg, c.pid)
		}
	}
	if _, ok := r.log.find("soft-stopping the master a previous halod left"); ok {
		t.Error("a takeover was attempted")
	}
}

// TestTakeoverKeepsTheOldOneUntilTheNewOneServes: after a crash of halod the
// configuration is broken, so the new HAProxy exits at once, again and again: the old
// master keeps serving, recorded in the pid file, until halod stops cleanly, which
// soft-stops it and removes the pid file.
func TestTakeoverKeepsTheOldOneUntilTheNewOneServes(t *testing.T) {
	l := newLab(t)
	cfg := l.cfg
	cfg.ApplyDefaults()
	crashed, oldp := crashable(t, l, cfg)
	if err := crashed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "the helper's exit", func() error {
		if alive(crashed.Process.Pid) {
			return errors.New("still running")
		}
		return nil
	})
	l.vars.Broken = true
	l.writeConfig()
	r := start(t, l.cfg)
	poll.Until(t, 10*time.Second, "two failed starts of the new haproxy", func() error {
		if n := len(r.eventsOf(func(e Event) bool { _, ok := e.(*Exited); return ok })); n < 2 {
			return fmt.Errorf("%d exits", n)
		}
		return nil
	})
	if oldp.exited() {
		t.Fatal("the old master was stopped although no new one serves")
	}
	if err := get(l.frontend); err != nil {
		t.Errorf("the old haproxy stopped serving: %v", err)
	}
	if pids, err := readPIDFile(cfg.PIDFile()); err != nil || !slices.Contains(pids, oldp.pid) {
		t.Errorf("pid file %v, %v; want it to hold the old master %d", pids, err, oldp.pid)
	}
	if _, ok := r.log.find("soft-stopping the master a previous halod left"); ok {
		t.Error("the old master was soft-stopped before a new one served")
	}
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	r.done <- nil
	if !oldp.exited() {
		t.Error("the old master still runs after a clean stop")
	}
	if _, ok := r.log.find("halod is stopping: soft-stopping the haproxy master a previous halod left", "old_pid", strconv.Itoa(oldp.pid)); !ok {
		t.Error("the stop of the old master is not logged")
	}
	if _, err := os.Stat(cfg.PIDFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after a clean stop: %v", err)
	}
	if got := masters(t, cfg); len(got) != 0 {
		t.Errorf("haproxy masters after a clean stop: %v", got)
	}
}
