// Command checkcost measures what halod's HAProxy health check costs when nothing happens:
// CPU (utime+stime from /proc/PID/stat) and the largest RSS of processes that run only the
// checker (haproxy.Manager in external mode, default check settings) against one real
// HAProxy on loopback. Several builds run side by side in the same window, so a before
// and an after see the same machine load.
//
//	checkcost [-for 60s] label=BINARY...   # each BINARY is a checkcost build
//	checkcost label=halod:BINARY ...       # a whole halod: external mode, no VRRP instance
//	checkcost label=halod+bgp:BINARY ...   # the same with a bgp section, halo-bgp included
//
// Comparing with an older commit (it needs haproxy.New/Run in external mode only):
//
//	go build -o /tmp/checkcost-new ./internal/cmd/checkcost
//	rm -rf /tmp/halo-old && mkdir /tmp/halo-old && git archive REV | tar -x -C /tmp/halo-old
//	cp -r internal/cmd/checkcost /tmp/halo-old/internal/cmd/
//	(cd /tmp/halo-old && go build -o /tmp/checkcost-old ./internal/cmd/checkcost)
//	/tmp/checkcost-new -for 60s old=/tmp/checkcost-old new=/tmp/checkcost-new
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/halo-lb/halo/haproxy"
)

const haproxyCfg = `global
    stats socket %[1]s/stats.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend main
    bind unix@%[1]s/frontend.sock
    default_backend app
backend app
    server s1 127.0.0.1:9 check inter 2s
    server s2 127.0.0.1:9
`

// haloYAML runs halod with the checker's settings and one VRRP instance at the default
// 1 s adverts on -interface (halod refuses a halo.yaml without one): run checkcost inside
// a network namespace of your own with a dummy interface, so that nothing reaches the
// host's links:
//
//	ip netns add cc && ip -n cc link set lo up && ip -n cc link add dummy0 type dummy &&
//	ip -n cc addr add 192.0.2.11/24 dev dummy0 && ip -n cc link set dummy0 up &&
//	ip netns exec cc checkcost label=halod:BIN ...; ip netns del cc
//
// Metrics on an ephemeral loopback port. A halod+bgp run adds a bgp section (bgpYAML) and
// counts its children (halo-bgp) in CPU and RSS; two such runs peer with each other on
// loopback, so that their sessions are established, one alone keeps trying to connect.
const haloYAML = `haproxy:
  mode: external
  stats_socket: %s
  check: {frontends: [main], backends: {app: 1}}
vrrp:
  instances:
    - {name: VI_1, interface: %s, vrid: 51, priority: 101, vips: [192.0.2.100/24], track_haproxy: {fault: true}}
control: {socket: %s}
metrics: {listen: "127.0.0.1:0"}
`

const bgpYAML = `bgp:
  asn: %d
  router_id: 192.0.2.%d
  listen_port: %d
  neighbors: [{address: 127.0.0.1, asn: %d, port: %d}]
  prefixes: [{prefix: 198.51.100.%d/32}]
`

// bgpPort is the first listen port of the halod+bgp runs.
const bgpPort = 11790

func main() {
	window := flag.Duration("for", 60*time.Second, "measurement window")
	warm := flag.Duration("warmup", 3*time.Second, "time the checkers run before the window opens")
	socket := flag.String("socket", "", "run the checker alone against this stats socket (what each BINARY is started with)")
	haproxyBin := flag.String("haproxy", "/usr/sbin/haproxy", "HAProxy binary")
	iface := flag.String("interface", "dummy0", "interface of a whole halod's VRRP instance (run in a namespace of your own)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *socket != "" {
		err = check(ctx, *socket)
	} else {
		err = compare(ctx, *haproxyBin, *iface, *window, *warm, flag.Args())
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "checkcost:", err)
		os.Exit(1)
	}
}

// check runs the Manager's check loop, as halod does, until ctx ends.
func check(ctx context.Context, socket string) error {
	cfg := haproxy.Config{Mode: haproxy.External, StatsSocket: socket,
		Check: haproxy.CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"app": 1}}}
	m, err := haproxy.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	return m.Run(ctx) // nobody reads the health verdicts: the cost measured is the check's
}

type run struct {
	label, bin string
	cmd        *exec.Cmd
	children   bool // count the children too (halo-bgp)
	ticks0     int64
	ns0        int64
	rssKB      int64
	childKB    int64 // the children's part of rssKB's sample
}

func compare(ctx context.Context, haproxyBin, iface string, window, warm time.Duration, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: checkcost [-for 60s] label=BINARY [label=BINARY]")
	}
	dir, err := os.MkdirTemp("", "checkcost-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, haproxyCfg, dir), 0o644); err != nil {
		return err
	}
	hap := exec.Command(haproxyBin, "-db", "-f", cfgPath)
	hap.Stderr = os.Stderr
	if err := hap.Start(); err != nil {
		return err
	}
	defer func() { _ = hap.Process.Kill(); _ = hap.Wait() }()
	sock := filepath.Join(dir, "stats.sock")
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("haproxy did not create its stats socket within 5s")
		}
		if err := pause(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	var runs []*run
	defer func() {
		for _, r := range runs {
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
			_ = r.cmd.Wait()
		}
	}()
	nbgp := 0
	for _, a := range args {
		label, bin, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("%q: want label=BINARY", a)
		}
		r := &run{label: label, bin: bin, cmd: exec.Command(bin, "-socket", sock)}
		halod, isHalod := strings.CutPrefix(bin, "halod:")
		if b, ok := strings.CutPrefix(bin, "halod+bgp:"); ok {
			halod, isHalod, r.children = b, true, true
		}
		if isHalod {
			conf := filepath.Join(dir, "halo-"+label+".yaml")
			y := fmt.Appendf(nil, haloYAML, sock, iface, filepath.Join(dir, label+".sock"))
			if r.children {
				k, peer := nbgp, nbgp^1
				y = fmt.Appendf(y, bgpYAML, 65001+k, 11+k, bgpPort+k, 65001+peer, bgpPort+peer, 10+k)
				nbgp++
			}
			if err := os.WriteFile(conf, y, 0o644); err != nil {
				return err
			}
			r.bin, r.cmd = halod, exec.Command(halod, "-config", conf)
			r.cmd.Stderr = io.Discard
		}
		if r.cmd.Stderr == nil {
			r.cmd.Stdout, r.cmd.Stderr = os.Stdout, os.Stderr
		}
		if err := r.cmd.Start(); err != nil {
			return err
		}
		runs = append(runs, r)
	}
	if err := pause(ctx, warm); err != nil {
		return err
	}
	for _, r := range runs {
		if r.ticks0, err = r.sum(cpuTicks); err != nil {
			return fmt.Errorf("%s: %w", r.label, err)
		}
		if r.ns0, err = r.sum(runNs); err != nil {
			return fmt.Errorf("%s: %w", r.label, err)
		}
	}
	t0 := time.Now()
	for time.Since(t0) < window {
		for _, r := range runs {
			rss, err := r.sum(rssKB)
			if err != nil {
				return fmt.Errorf("%s: %w", r.label, err)
			}
			if rss > r.rssKB {
				own, _ := rssKB(r.cmd.Process.Pid)
				r.rssKB, r.childKB = rss, rss-own
			}
		}
		if err := pause(ctx, min(time.Second, window-time.Since(t0))); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "build\tCPU s\t%% of a core\t%% (schedstat)\tmax RSS MiB\tof which children\n")
	wall := time.Since(t0).Seconds()
	for _, r := range runs {
		t, err := r.sum(cpuTicks)
		if err != nil {
			return fmt.Errorf("%s: %w", r.label, err)
		}
		ns, err := r.sum(runNs)
		if err != nil {
			return fmt.Errorf("%s: %w", r.label, err)
		}
		cpu := float64(t-r.ticks0) / clkTck
		exact := float64(ns-r.ns0) / 1e9
		child := "-"
		if r.children {
			child = fmt.Sprintf("%.1f", float64(r.childKB)/1024)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.3f\t%.3f\t%.1f\t%s\n", r.label, cpu, 100*cpu/wall, 100*exact/wall, float64(r.rssKB)/1024, child)
	}
	return tw.Flush()
}

// sum adds f over the run's process and, for a halod+bgp run, its children.
func (r *run) sum(f func(int) (int64, error)) (int64, error) {
	pids := []int{r.cmd.Process.Pid}
	if r.children {
		pids = append(pids, children(r.cmd.Process.Pid)...)
	}
	var total int64
	for _, pid := range pids {
		v, err := f(pid)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

// children lists pid's child processes (/proc/PID/task/*/children).
func children(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(w); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// clkTck is USER_HZ, the unit of /proc/PID/stat's times (100 wherever Go runs on Linux).
const clkTck = 100

// cpuTicks reads utime+stime of pid.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + st, errors.Join(err1, err2)
}

// runNs sums the time on CPU of pid's threads, in nanoseconds (/proc/PID/task/*/schedstat):
// exact where utime+stime are sampled at each tick, which matters at a few ms a second.
func runNs(pid int) (int64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no threads for pid %d", pid)
	}
	var sum int64
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // a thread that just exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("%s: empty", p)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS")
}
