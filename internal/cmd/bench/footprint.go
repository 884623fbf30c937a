package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
)

// The idle footprint: RSS and CPU seconds of the daemons' processes, read from /proc, over
// a window in which nothing happens (no fault, no client).

// clkTck is USER_HZ, the unit of /proc/PID/stat's times (100 on every Linux platform Go
// supports for this tool).
const clkTck = 100

type procRef struct {
	label string
	pid   int
}

// procUsage is one process over the window.
type procUsage struct {
	label  string
	pid    int
	rssKB  int64   // the largest VmRSS sampled
	cpuSec float64 // user+system, its own and its reaped children's (check scripts)
}

// idleResult is one group of processes measured together.
type idleResult struct {
	title  string
	window time.Duration
	procs  []procUsage
}

func (r *idleResult) total() (rssKB int64, cpuSec float64) {
	for _, p := range r.procs {
		rssKB += p.rssKB
		cpuSec += p.cpuSec
	}
	return rssKB, cpuSec
}

// cpuPercent is the CPU of the group in percent of one core.
func (r *idleResult) cpuPercent() float64 {
	_, cpu := r.total()
	return 100 * cpu / r.window.Seconds()
}

// cpuTicks reads utime+stime+cutime+cstime of pid.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, errors.New("short stat")
	}
	var sum int64
	for _, k := range []int{11, 12, 13, 14} { // fields 14..17
		n, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// rssKB reads VmRSS of pid.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS")
}

// measureIdle samples procs every second for window.
func measureIdle(ctx context.Context, title string, procs []procRef, window time.Duration) (*idleResult, error) {
	logf("idle footprint over %s: %s", window, title)
	res := &idleResult{title: title}
	start := make([]int64, len(procs))
	for i, p := range procs {
		t, err := cpuTicks(p.pid)
		if err != nil {
			return nil, fmt.Errorf("%s (pid %d): %w", p.label, p.pid, err)
		}
		start[i] = t
		res.procs = append(res.procs, procUsage{label: p.label, pid: p.pid})
	}
	t0 := time.Now()
	for {
		for i, p := range procs {
			rss, err := rssKB(p.pid)
			if err != nil {
				return nil, fmt.Errorf("%s (pid %d) ended during the idle window: %w", p.label, p.pid, err)
			}
			res.procs[i].rssKB = max(res.procs[i].rssKB, rss)
		}
		if time.Since(t0) >= window {
			break
		}
		if err := sleep(ctx, min(time.Second, window-time.Since(t0))); err != nil {
			return nil, err
		}
	}
	for i, p := range procs {
		t, err := cpuTicks(p.pid)
		if err != nil {
			return nil, fmt.Errorf("%s (pid %d): %w", p.label, p.pid, err)
		}
		res.procs[i].cpuSec = float64(t-start[i]) / clkTck
	}
	res.window = time.Since(t0)
	rss, cpu := res.total()
	logf("  %.1f MiB RSS, %.2f CPU-s = %.3f%% of a core", float64(rss)/1024, cpu, res.cpuPercent())
	return res, nil
}

func (s *classicSys) idle(ctx context.Context, cfg config) (*idleResult, error) {
	if err := sleep(ctx, cfg.calm); err != nil {
		return nil, err
	}
	parent, all := s.c.LBs[0].KeepalivedPIDs()
	var procs []procRef
	for _, p := range all {
		if comm(p) != "keepalived" {
			continue // a check script running right now
		}
		label := "keepalived (VRRP child)"
		if p == parent {
			label = "keepalived (parent)"
		}
		procs = append(procs, procRef{label, p})
	}
	return measureIdle(ctx, "keepalived on the master, 1 instance, advert_int 1, check every 2 s (the tutorial pair)", procs, cfg.idle)
}

func (s *haloSys) idle(ctx context.Context, cfg config) (*idleResult, error) {
	if err := sleep(ctx, cfg.calm); err != nil {
		return nil, err
	}
	return measureIdle(ctx, "halod on the master, 1 instance, advert 1 s, HAProxy check every 200 ms (halo defaults)",
		[]procRef{{"halod", s.c.LBs[0].Halod.PID}}, cfg.idle)
}

// idle50 runs halod with 50 instances at 100 ms adverts on both nodes and measures both.
func idle50(ctx context.Context, sc *scope, cfg config, rep *report) error {
	dir, err := os.MkdirTemp("", "halo-bench-halo-50-")
	if err != nil {
		return err
	}
	sc.Cleanup(func() { os.RemoveAll(dir) })
	c := cluster.New(sc, dir, cluster.Options{Bin: cfg.bin, AdvertInterval: 100 * time.Millisecond})
	for _, lb := range c.LBs {
		if err := fiftyInstances(lb); err != nil {
			return err
		}
	}
	for _, lb := range c.LBs {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.StartHalod(sctx, lb)
		cancel()
		if err != nil {
			return err
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		why := func() error {
			for i, lb := range c.LBs {
				st, err := lb.Status(ctx)
				if err != nil {
					return err
				}
				want := map[bool]string{true: "MASTER", false: "BACKUP"}[i == 0]
				n := 0
				for _, in := range st.Instances {
					if in.State == want {
						n++
					}
				}
				if n != 50 {
					return fmt.Errorf("%s: %d of %d instances %s", lb.Name, n, len(st.Instances), want)
				}
			}
			return nil
		}()
		if why == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("50 instances not settled within 60 s: %v", why)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	if err := sleep(ctx, cfg.calm); err != nil {
		return err
	}
	r, err := measureIdle(ctx, "halod with 50 instances at 100 ms adverts: lb1 (master of all 50) and lb2 (backup of all 50)",
		[]procRef{{"halod lb1 (master)", c.LBs[0].Halod.PID}, {"halod lb2 (backup)", c.LBs[1].Halod.PID}}, cfg.idle)
	if err != nil {
		return err
	}
	rep.idle50 = r
	return nil
}

// fiftyInstances rewrites lb's halo.yaml with instances VI_1..VI_50 (VI_1 keeps the lab's
// VIP and VRID 51; the others use VRIDs 1..49 and 192.0.2.151..199), at info log level.
func fiftyInstances(lb *cluster.LB) error {
	b, err := os.ReadFile(lb.Config)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, "\nvrrp:\n"), strings.Index(s, "\ncontrol:")
	if i < 0 || j < i {
		return fmt.Errorf("%s: no vrrp section to replace", lb.Config)
	}
	var v strings.Builder
	v.WriteString("\nvrrp:\n  instances:\n")
	for k := 1; k <= 50; k++ {
		vrid, vip := 51, cluster.VIP.String()
		if k > 1 {
			vrid, vip = k-1, fmt.Sprintf("192.0.2.%d", 149+k)
		}
		fmt.Fprintf(&v, "    - {name: VI_%d, interface: eth0, vrid: %d, priority: %d, advert_interval: 100ms, vips: [%s/24], track_haproxy: {fault: true}}\n",
			k, vrid, lb.Priority, vip)
	}
	s = s[:i] + v.String() + s[j:]
	s = strings.Replace(s, "log: {level: debug}", "log: {level: info}", 1)
	return os.WriteFile(lb.Config, []byte(s), 0o644)
}

// pidofTrap starts the tutorial pair with the tutorials' other spelling of the check,
// `pidof haproxy`, and reports what keepalived made of it while HAProxy ran.
func pidofTrap(ctx context.Context, sc *scope, cfg config) (string, error) {
	dir, err := os.MkdirTemp("", "halo-bench-pidof-")
	if err != nil {
		return "", err
	}
	sc.Cleanup(func() { os.RemoveAll(dir) })
	opt := cluster.TutorialClassic()
	opt.Check.Script = "pidof haproxy"
	opt.Bin = cfg.bin
	c := cluster.NewClassic(sc, dir, opt)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Start(sctx); err != nil {
		return "", err
	}
	lb := c.LBs[0]
	deadline := time.Now().Add(3 * time.Duration(opt.Check.Interval) * time.Second)
	for time.Now().Before(deadline) {
		log := lb.KeepalivedLog()
		if strings.Contains(log, "VRRP_Script(chk_haproxy) ") {
			break
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return "", err
		}
	}
	m, w, err := lb.HAProxyPIDs()
	if err != nil || !alive(m) {
		return "", fmt.Errorf("HAProxy not running on %s during the check: %v", lb.Name, err)
	}
	verdict := "no verdict logged"
	for _, line := range strings.Split(lb.KeepalivedLog(), "\n") {
		if _, v, ok := strings.Cut(line, "VRRP_Script(chk_haproxy) "); ok {
			verdict = "`VRRP_Script(chk_haproxy) " + strings.TrimSpace(v) + "`"
			break
		}
	}
	res := fmt.Sprintf("with `script \"pidof haproxy\"` keepalived's first verdict on %s was %s while its HAProxy ran (master and %d worker(s))",
		lb.Name, verdict, len(w))
	logf("pidof trap: %s", res)
	return res, nil
}
