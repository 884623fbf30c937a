package bgp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/bgp"
	"github.com/halo-lb/halo/internal/bgptest"
	"github.com/halo-lb/halo/internal/poll"
)

// pids records the PID of every engine process the speaker starts, from its log.
type pids struct {
	mu   sync.Mutex
	pids []int
}

func (p *pids) Enabled(context.Context, slog.Level) bool { return true }
func (p *pids) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "BGP engine started" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "pid" {
			p.mu.Lock()
			p.pids = append(p.pids, int(a.Value.Int64()))
			p.mu.Unlock()
		}
		return true
	})
	return nil
}
func (p *pids) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *pids) WithGroup(string) slog.Handler      { return p }

func (p *pids) await(t *testing.T, n int) int {
	t.Helper()
	var pid int
	poll.Until(t, 20*time.Second, fmt.Sprintf("engine process #%d", n), func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.pids) < n {
			return fmt.Errorf("%d started", len(p.pids))
		}
		pid = p.pids[n-1]
		return nil
	})
	return pid
}

func speakerConfig(t *testing.T, port int) bgp.Config {
	t.Helper()
	drain := time.Duration(0)
	cfg := bgp.Config{ASN: 65001, RouterID: "192.0.2.11", Drain: &drain,
		Neighbors: []bgp.NeighborConfig{{Address: "127.0.0.1", ASN: 65000, Port: port}},
		Prefixes:  []bgp.PrefixConfig{{Prefix: "198.51.100.10/32", Communities: []string{"65001:100"}}},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// When halo-bgp dies, the router withdraws the node at once (the kernel closes the
// session), the speaker starts a new one, and the prefixes come back.
func TestEngineProcessKilledIsRestarted(t *testing.T) {
	r := bgptest.NewRouter(t, 65001)
	rec := &pids{}
	sp := bgp.New(speakerConfig(t, r.Port), slog.New(rec), bgp.Options{Binder: &bgptest.Binder{},
		EnginePath: bgptest.EngineBinary(t), RefreshInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	sp.SetHealthy(true)
	r.Await(t, svc, "127.0.0.1 [65001:100]", "announcement")
	pid := rec.await(t, 1)

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if took := r.Await(t, svc, "", "withdrawal when the engine dies"); took > 2*time.Second {
		t.Errorf("withdrawal took %s", took)
	}
	if again := rec.await(t, 2); again == pid {
		t.Fatalf("same PID %d", pid)
	}
	t.Logf("restarted")
	took := r.Await(t, svc, "127.0.0.1 [65001:100]", "announcement by the new engine")
	t.Logf("re-announced after %s", took)
	poll.Until(t, 20*time.Second, "status after the restart", func() error {
		st := sp.Status()
		if n := st.Neighbors[0]; !st.Running || n.State != "ESTABLISHED" || n.Flaps < 1 || st.Announces != 2 || st.Withdrawals != 1 || st.EngineFailures != 1 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
}

const svc = "198.51.100.10/32"

// The test binary plays two more parts, chosen by its environment: halod (parentEnv: it
// starts the engine, prints "engine" and waits to be killed) and a hung engine (hangEnv: it
// answers the start line, then reads nothing more and answers nothing).
const (
	parentEnv = "HALO_BGP_TEST_PARENT"
	hangEnv   = "HALO_BGP_TEST_HANG"
)

func init() {
	if os.Getenv(hangEnv) != "" {
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err == nil {
			fmt.Println(`{"ready":true}`)
		}
		select {}
	}
	path := os.Getenv(parentEnv)
	if path == "" {
		return
	}
	os.Setenv(hangEnv, "1") // the child inherits the environment
	run, err := bgp.ProcessEngine{Path: path}.Start(context.Background(), spec(quietConfig()))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	_ = run
	fmt.Println("engine")
	select {}
}

// hungEngine runs this test binary as a hung engine.
func hungEngine(t *testing.T, self string) bgp.ProcessEngine {
	t.Setenv(hangEnv, "1") // the child inherits the environment
	return bgp.ProcessEngine{Path: self}
}

// quietConfig peers with a closed port: no session, no announcement.
func quietConfig() *bgp.Config {
	cfg := bgp.Config{ASN: 65001, RouterID: "192.0.2.11",
		Neighbors: []bgp.NeighborConfig{{Address: "127.0.0.1", ASN: 65000, Port: 9}},
		Prefixes:  []bgp.PrefixConfig{{Prefix: "198.51.100.10/32"}}}
	cfg.ApplyDefaults()
	return &cfg
}

func spec(cfg *bgp.Config) bgp.EngineSpec {
	return bgp.EngineSpec{Config: cfg, RefreshInterval: time.Second,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

// The engine dies with halod, however halod dies, even hung: halod's SIGKILL leaves it no
// word, and a hung engine does not read its stdin's end. Only the parent-death signal,
// sent when the thread that started it ends, kills it.
func TestEngineDiesWithHalod(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(self, "-test.run=^$")
	parent.Env = append(os.Environ(), parentEnv+"="+self)
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	parent.Stderr = os.Stderr
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = parent.Process.Kill(); _ = parent.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "engine\n" {
		t.Fatalf("parent: %q, %v", line, err)
	}
	child := childOf(t, parent.Process.Pid)
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	poll.Until(t, 10*time.Second, "engine gone with its parent", func() error {
		if alive(child) {
			return fmt.Errorf("pid %d alive", child)
		}
		return nil
	})
}

// A hung engine is killed by PID: when an Apply gets no answer in time, and when a clean
// stop outlasts its bound.
func TestHungEngineIsKilled(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"apply", "stop"} {
		t.Run(how, func(t *testing.T) {
			run, err := hungEngine(t, self).Start(t.Context(), spec(quietConfig()))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if how == "apply" {
				if err := run.Apply(t.Context(), bgp.PhaseAnnounced, false); err == nil {
					t.Fatal("a hung engine's Apply succeeded")
				}
			} else {
				ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
				defer cancel()
				if err := run.Stop(ctx); err == nil {
					t.Fatal("a hung engine's Stop succeeded")
				}
			}
			select {
			case <-run.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("hung engine not killed")
			}
			if took := time.Since(start); took > 8*time.Second {
				t.Errorf("killed after %s", took)
			}
			if err := run.Err(); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Errorf("Err() = %v, want the kill", err)
			}
		})
	}
}

// childOf finds the one child of pid, from /proc.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	var child int
	poll.Until(t, 10*time.Second, "engine process", func() error {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return err
		}
		for _, task := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
			if f := strings.Fields(string(b)); len(f) > 0 {
				child, err = strconv.Atoi(f[0])
				return err
			}
		}
		return fmt.Errorf("no child of %d", pid)
	})
	return child
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// A halo-bgp whose stdin ends (halod gone on a system without the parent-death signal)
// withdraws, closes its sessions and exits 0.
func TestEngineStopsWhenStdinEnds(t *testing.T) {
	r := bgptest.NewRouter(t, 65001)
	cfg := speakerConfig(t, r.Port)
	cmd := exec.Command(bgptest.EngineBinary(t))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	send := func(v any) {
		b, _ := json.Marshal(v)
		if _, err := stdin.Write(append(b, '\n')); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(sub string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("engine's stdout ended before %q", sub)
				}
				if strings.Contains(l, sub) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q from the engine", sub)
			}
		}
	}
	send(map[string]any{"start": map[string]any{"config": cfg, "refresh_interval": int64(50 * time.Millisecond)}})
	expect(`"ready":true`)
	expect(`"State":"ESTABLISHED"`)
	send(map[string]any{"apply": map[string]any{"seq": 1, "phase": "announced"}})
	expect(`"applied":{"seq":1}`)
	r.Await(t, svc, "127.0.0.1 [65001:100]", "announcement")
	stdin.Close()
	r.Await(t, svc, "", "withdrawal once stdin ended")
	exited := make(chan error, 1)
	go func() {
		for range lines {
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("engine exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("engine did not exit after its stdin ended")
	}
}

// A config halo-bgp refuses fails Start with halo-bgp's own words.
func TestEngineStartRefused(t *testing.T) {
	cfg := quietConfig()
	cfg.ASN = 0
	_, err := bgp.ProcessEngine{Path: bgptest.EngineBinary(t)}.Start(t.Context(), spec(cfg))
	if err == nil || !strings.Contains(err.Error(), "asn: required") {
		t.Fatalf("Start = %v, want halo-bgp's refusal of the config", err)
	}
}
