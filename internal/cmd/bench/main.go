// Command bench is `make bench` and `make bench-quick`: it measures halo against the classic
// keepalived + HAProxy pair it replaces, in network-namespace labs, in one run, and writes
// docs/BENCHMARKS.md.
//
// One lab per setup (the classic pair as the tutorials configure it, the classic pair tuned
// twice, halo at its defaults and at 100 ms adverts); in each, every fault is injected on
// the master several times while a client polls the VIP every 10 ms, and the client-visible
// outage is recorded. Then requests failed during reloads under load, the daemons' idle
// footprint, and the Go micro-benchmarks. Everything the labs make is removed at the end,
// also after an error or Ctrl-C; processes are ended by the PIDs the harness recorded.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
)

// config is what the flags chose.
type config struct {
	quick   bool
	out     string
	bin     string
	reps    int           // rounds of each fault
	window  time.Duration // how long a hung HAProxy is left hung before "no failover"
	idle    time.Duration // idle footprint window
	calm    time.Duration // wait after a lab settled, before its idle window
	reloads int           // reloads per mechanism and client kind
	setups  map[string]bool
	faults  map[string]bool
	gobench bool
	// footprintOnly measures the idle footprints and nothing else (-only footprint).
	footprintOnly bool
	// inPlaceOnly measures the restart in place and nothing else (-only inplace).
	inPlaceOnly bool
}

func main() {
	quick := flag.Bool("quick", false, "reduced run (1 round per fault, SIGSTOP held 5 s, 10 reloads, 5 s idle windows): under five minutes")
	out := flag.String("out", "docs/BENCHMARKS.md", "report to write")
	bin := flag.String("bin", "", "directory holding halod, haloctl and labtool (default: build them)")
	reps := flag.Int("reps", 0, "rounds of each fault (default 5, quick 1)")
	setups := flag.String("setups", "", "comma-separated setups to run (default all): "+strings.Join(setupKeys(), ","))
	faults := flag.String("faults", "", "comma-separated faults to inject (default all): "+strings.Join(faultKeys(), ","))
	gobench := flag.Bool("gobench", true, "run the Go micro-benchmarks")
	idle := flag.Duration("idle", 0, "idle footprint window (default 60s, quick 5s; CPU is counted in 10 ms ticks, so short windows are coarse)")
	only := flag.String("only", "", "run one part only: footprint (the idle footprints: "+strings.Join(footprintSetups, ",")+"; -setups picks among them), inplace (HAProxy SIGKILL restarted in place under load)")
	flag.Parse()

	cfg := config{quick: *quick, out: *out, bin: *bin, reps: 5, window: 30 * time.Second,
		idle: 60 * time.Second, calm: 3 * time.Second, reloads: 100, setups: set(*setups), faults: set(*faults), gobench: *gobench}
	if cfg.quick {
		cfg.reps, cfg.window, cfg.idle, cfg.calm, cfg.reloads = 1, 5*time.Second, 5*time.Second, time.Second, 10
	}
	if *reps > 0 {
		cfg.reps = *reps
	}
	if *idle > 0 {
		cfg.idle = *idle
	}
	switch *only {
	case "":
	case "footprint":
		cfg.footprintOnly, cfg.gobench = true, false
		all := set(strings.Join(footprintSetups, ","))
		if cfg.setups == nil {
			cfg.setups = all
		}
		for s := range cfg.setups {
			if !all[s] {
				fmt.Fprintf(os.Stderr, "bench: -only footprint -setups: %q is not an idle footprint (%s)\n", s, strings.Join(footprintSetups, ","))
				os.Exit(2)
			}
		}
	case "inplace":
		cfg.inPlaceOnly, cfg.gobench = true, false
		cfg.setups = set("inplace")
	default:
		fmt.Fprintf(os.Stderr, "bench: -only %q: want footprint or inplace\n", *only)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, cfg)
	interrupted := ctx.Err() != nil
	stop()
	if interrupted {
		logf("interrupted: the labs are removed, %s is left as it was", cfg.out)
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// footprintSetups are the labs that measure an idle footprint.
var footprintSetups = []string{"classic-tutorial", "halo-1s", "halo-50", "keepalived-50"}

func set(list string) map[string]bool {
	if list == "" {
		return nil
	}
	m := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		m[strings.TrimSpace(s)] = true
	}
	return m
}

var started = time.Now()

// logf prints one line of progress, stamped with the time since the start.
func logf(format string, args ...any) {
	fmt.Printf("[%5.0fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, cfg config) error {
	rep := &report{started: started, quick: cfg.quick, cfg: cfg}
	rep.machine = machineInfo(ctx)
	logf("bench: %s, %d rounds per fault, %d reloads, %s idle window; writing %s",
		map[bool]string{true: "quick", false: "full"}[cfg.quick], cfg.reps, cfg.reloads, cfg.idle, cfg.out)
	if cfg.bin == "" {
		dir, err := os.MkdirTemp("", "halo-bench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		logf("building halod, haloctl and labtool into %s", dir)
		if err := cluster.Build(ctx, dir); err != nil {
			return err
		}
		cfg.bin = dir
	}
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	cfg.bin = bin
	if _, err := os.Stat(filepath.Join(bin, "labtool")); err != nil {
		return fmt.Errorf("labtool missing in %s (go build -o %s/ ./internal/cmd/labtool)", bin, bin)
	}
	rep.haloErr = haloAvailable(ctx, bin)
	if rep.haloErr != "" {
		logf("halo rows will be empty: %s", rep.haloErr)
	}
	rep.binary = measureBinary(filepath.Join(bin, "halod"))
	for _, st := range setupList() {
		if cfg.setups != nil && !cfg.setups[st.key] {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res := &setupResult{setup: st, faults: map[string]*faultResult{}}
		rep.setups = append(rep.setups, res)
		if st.halo && rep.haloErr != "" {
			res.err = rep.haloErr
			continue
		}
		logf("== %s: %s", st.key, st.title)
		err := inScope(st.key, func(s *scope) error { return runSetup(ctx, s, cfg, st, res, rep) })
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.err = err.Error()
			logf("%s: aborted: %v", st.key, err)
		}
	}
	if cfg.setups == nil || cfg.setups["halo-50"] {
		if rep.haloErr == "" && ctx.Err() == nil {
			logf("== halo-50: halod with 50 instances at 100 ms adverts, idle")
			err := inScope("halo-50", func(s *scope) error { return idle50(ctx, s, cfg, rep) })
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				rep.idle50Err = err.Error()
				logf("halo-50: %v", err)
			}
		} else {
			rep.idle50Err = rep.haloErr
		}
	}
	if (cfg.setups == nil || cfg.setups["inplace"]) && ctx.Err() == nil {
		if rep.haloErr == "" {
			logf("== inplace: HAProxy SIGKILL on the master under a load of new connections, restarted in place")
			err := inScope("inplace", func(s *scope) error { return runInPlace(ctx, s, cfg, rep) })
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				rep.inPlaceErr = err.Error()
				logf("inplace: %v", err)
			}
		} else {
			rep.inPlaceErr = rep.haloErr
		}
	}
	if (cfg.setups == nil || cfg.setups["keepalived-50"]) && ctx.Err() == nil {
		logf("== keepalived-50: keepalived with the same 50 instances at advert_int 0.1, idle")
		err := inScope("keepalived-50", func(s *scope) error { return keepalived50(ctx, s, cfg, rep) })
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.ka50Err = err.Error()
			logf("keepalived-50: %v", err)
		}
	}
	if (cfg.setups == nil || cfg.setups["pidof"]) && ctx.Err() == nil {
		logf("== pidof: the tutorials' other check spelling, `pidof haproxy`")
		err := inScope("pidof", func(s *scope) error {
			var err error
			rep.pidofTrap, err = pidofTrap(ctx, s, cfg)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.pidofTrap = "not measured: " + oneLine(err.Error())
		}
	}
	if (cfg.setups == nil || cfg.setups["bgp"]) && rep.haloErr == "" && ctx.Err() == nil {
		logf("== bgp: three halod nodes announcing over BGP to FRR, ECMP and BFD")
		rep.bgp = &bgpResult{rounds: map[string][]bgpRound{}, held: map[string][]heldRound{}}
		err := inScope("bgp", func(s *scope) error { return runBGP(ctx, s, cfg, rep.bgp) })
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.bgp.err = err.Error()
			logf("bgp: %v", err)
		}
	}
	if cfg.gobench && ctx.Err() == nil {
		logf("== go test -bench over the packages")
		rep.gobench = goBench(ctx, cfg.quick)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rep.duration = time.Since(started)
	rep.machine.loadEnd = readTrim("/proc/loadavg")
	if err := os.MkdirAll(filepath.Dir(cfg.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(cfg.out, []byte(rep.markdown()), 0o644); err != nil {
		return err
	}
	logf("wrote %s in %s", cfg.out, rep.duration.Round(time.Second))
	return nil
}

// haloAvailable says why the halo setups cannot run ("" when they can): halod and haloctl
// must be in bin and halod must accept the lab's configuration.
func haloAvailable(ctx context.Context, bin string) string {
	for _, b := range []string{"halod", "haloctl"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return fmt.Sprintf("%s is not built (go build ./cmd/%s failed or was not run)", b, b)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, filepath.Join(bin, "halod"), "-version").CombinedOutput(); err != nil {
		return fmt.Sprintf("halod -version: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return ""
}

// scope is a tier.TB for one lab: Fatalf unwinds to inScope, which runs the cleanups (the
// lab's processes ended by their recorded PIDs, its namespaces deleted).
type scope struct {
	name     string
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

type abort struct{ msg string }

func (s *scope) Helper() {}

func (s *scope) Logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > 4000 {
		msg = "…" + msg[len(msg)-4000:]
	}
	fmt.Fprintf(os.Stderr, "%s: %s\n", s.name, msg)
}

func (s *scope) Fatalf(format string, args ...any) {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
	panic(abort{fmt.Sprintf(format, args...)})
}

func (s *scope) Skipf(format string, args ...any) { s.Fatalf(format, args...) }

func (s *scope) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *scope) Cleanup(f func()) {
	s.mu.Lock()
	s.cleanups = append(s.cleanups, f)
	s.mu.Unlock()
}

func (s *scope) close() {
	s.mu.Lock()
	cs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// inScope runs fn with a fresh scope and always cleans it up; a Fatalf or a panic in fn
// becomes the returned error.
func inScope(name string, fn func(s *scope) error) (err error) {
	s := &scope{name: name}
	defer s.close()
	defer func() {
		if p := recover(); p != nil {
			if a, ok := p.(abort); ok {
				err = errors.New(a.msg)
				return
			}
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
		// A failed lab logs its processes' output on cleanup; an interrupted one does not.
		if err != nil && !errors.Is(err, context.Canceled) {
			s.mu.Lock()
			s.failed = true
			s.mu.Unlock()
		}
	}()
	return fn(s)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
