package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	node  string // the lab node it runs on: lb1, lb2
	label string
	pid   int
}

// procUsage is one process over the window.
type procUsage struct {
	node   string
	label  string
	pid    int
	rssKB  int64   // the largest VmRSS sampled
	ussKB  int64   // the largest USS sampled: pages no other process maps (Private_Clean + Private_Dirty)
	cpuSec float64 // user+system, its own and its reaped children's (check scripts)
	// childSec is the part of cpuSec its reaped children used (cutime+cstime): keepalived's
	// check scripts, which exit between two samples.
	childSec float64
}

// idleResult is one group of processes measured together.
type idleResult struct {
	title  string
	window time.Duration
	procs  []procUsage
}

func (r *idleResult) total() (rssKB int64, cpuSec float64) {
	return r.nodeTotal("")
}

// nodeTotal adds up the processes on node ("": all of them).
func (r *idleResult) nodeTotal(node string) (rssKB int64, cpuSec float64) {
	for _, p := range r.procs {
		if node == "" || p.node == node {
			rssKB += p.rssKB
			cpuSec += p.cpuSec
		}
	}
	return rssKB, cpuSec
}

// nodeUSS adds up the USS of the processes on node ("": all of them).
func (r *idleResult) nodeUSS(node string) (ussKB int64) {
	for _, p := range r.procs {
		if node == "" || p.node == node {
			ussKB += p.ussKB
		}
	}
	return ussKB
}

// nodeOnce estimates the memory of node's processes with every page counted once: the
// RSS of its largest process plus the private pages (USS) of the others. keepalived's VRRP
// child shares with its parent the libraries and the pages of the fork, which the RSS sum
// counts twice; for a single process (halod) it is its RSS.
func (r *idleResult) nodeOnce(node string) (kb int64) {
	largest := -1
	for i, p := range r.procs {
		if (node == "" || p.node == node) && (largest < 0 || p.rssKB > r.procs[largest].rssKB) {
			largest = i
		}
	}
	for i, p := range r.procs {
		switch {
		case i == largest:
			kb += p.rssKB
		case node == "" || p.node == node:
			kb += p.ussKB
		}
	}
	return kb
}

// cpuPercent is the CPU of the group in percent of one core.
func (r *idleResult) cpuPercent() float64 {
	return r.nodeCPUPercent("")
}

// nodeCPUPercent is the CPU of node's processes in percent of one core.
func (r *idleResult) nodeCPUPercent(node string) float64 {
	if r == nil || r.window <= 0 {
		return 0
	}
	_, cpu := r.nodeTotal(node)
	return 100 * cpu / r.window.Seconds()
}

// cpuNanos reads the CPU time of pid, in nanoseconds: its own, summed over its threads'
// /proc/PID/task/TID/schedstat (the scheduler's exact runtime; a thread that ended takes
// its time with it, and neither halod nor keepalived ends threads while idle), and its
// reaped children's, cutime+cstime (in clock ticks: /proc has nothing finer for them).
func cpuNanos(pid int) (own, kids int64, err error) {
	_, kidTicks, err := cpuTicksSplit(pid)
	if err != nil {
		return 0, 0, err
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread ended since the listing
		}
		if err != nil {
			return 0, 0, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, 0, fmt.Errorf("/proc/%d/task/%s/schedstat: empty", pid, t.Name())
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/task/%s/schedstat: %w", pid, t.Name(), err)
		}
		own += n
	}
	return own, kidTicks * int64(time.Second) / clkTck, nil
}

// cpuTicksSplit reads utime+stime (own) and cutime+cstime (kids: the children it waited
// for, and theirs) of pid.
func cpuTicksSplit(pid int) (own, kids int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, 0, errors.New("short stat")
	}
	var n [4]int64
	for k := range n { // fields 14..17
		if n[k], err = strconv.ParseInt(f[11+k], 10, 64); err != nil {
			return 0, 0, err
		}
	}
	return n[0] + n[1], n[2] + n[3], nil
}

// rssKB reads VmRSS of pid.
func rssKB(pid int) (int64, error) {
	return procKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
}

// ussKB reads the unique set size of pid: its pages that no other process maps, what
// ending it would free. Pages keepalived's parent and VRRP child share since the fork, and
// shared libraries, are not in it.
func ussKB(pid int) (int64, error) {
	path := fmt.Sprintf("/proc/%d/smaps_rollup", pid)
	clean, err := procKB(path, "Private_Clean:")
	if err != nil {
		return 0, err
	}
	dirty, err := procKB(path, "Private_Dirty:")
	return clean + dirty, err
}

// procKB reads the "key: N kB" line of a /proc file.
func procKB(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// measureIdle samples procs every second for window.
func measureIdle(ctx context.Context, title string, procs []procRef, window time.Duration) (*idleResult, error) {
	logf("idle footprint over %s: %s", window, title)
	res := &idleResult{title: title}
	start, startKids := make([]int64, len(procs)), make([]int64, len(procs))
	for i, p := range procs {
		t, k, err := cpuNanos(p.pid)
		if err != nil {
			return nil, fmt.Errorf("%s (pid %d): %w", p.label, p.pid, err)
		}
		start[i], startKids[i] = t+k, k
		res.procs = append(res.procs, procUsage{node: p.node, label: p.label, pid: p.pid})
	}
	t0 := time.Now()
	for {
		for i, p := range procs {
			rss, err := rssKB(p.pid)
			if err != nil {
				return nil, fmt.Errorf("%s (pid %d) ended during the idle window: %w", p.label, p.pid, err)
			}
			res.procs[i].rssKB = max(res.procs[i].rssKB, rss)
			if uss, err := ussKB(p.pid); err == nil {
				res.procs[i].ussKB = max(res.procs[i].ussKB, uss)
			}
		}
		if time.Since(t0) >= window {
			break
		}
		if err := sleep(ctx, min(time.Second, window-time.Since(t0))); err != nil {
			return nil, err
		}
	}
	for i, p := range procs {
		t, k, err := cpuNanos(p.pid)
		if err != nil {
			return nil, fmt.Errorf("%s (pid %d): %w", p.label, p.pid, err)
		}
		res.procs[i].cpuSec = float64(t+k-start[i]) / 1e9
		res.procs[i].childSec = float64(k-startKids[i]) / 1e9
	}
	res.window = time.Since(t0)
	for _, p := range res.procs {
		logf("  %s %s: %.1f MiB RSS, %.1f MiB USS, %.3f CPU-s (%.2f of it reaped children)", p.node, p.label,
			float64(p.rssKB)/1024, float64(p.ussKB)/1024, p.cpuSec, p.childSec)
	}
	rss, cpu := res.total()
	logf("  total %.1f MiB RSS, %.3f CPU-s = %.3f%% of a core", float64(rss)/1024, cpu, res.cpuPercent())
	return res, nil
}

// keepalivedNode lists the keepalived processes of a classic node: its parent and its VRRP
// child. Check scripts are not listed: they live a few milliseconds, and the VRRP child
// that runs them reaps them, so their CPU shows in its cutime+cstime (procUsage.childSec).
func keepalivedNode(lb *cluster.ClassicLB, role string) ([]procRef, error) {
	parent, all := lb.KeepalivedPIDs()
	if parent == 0 {
		return nil, fmt.Errorf("keepalived not running on %s", lb.Name)
	}
	var procs []procRef
	for _, p := range all {
		if comm(p) != "keepalived" {
			continue // a check script running right now
		}
		name := "keepalived"
		if role != "" {
			name += " " + role
		}
		label := name + " (VRRP child)"
		if p == parent {
			label = name + " (parent)"
		}
		procs = append(procs, procRef{lb.Name, label, p})
	}
	if len(procs) < 2 {
		return nil, fmt.Errorf("keepalived on %s: %d process(es), want the parent and its VRRP child", lb.Name, len(procs))
	}
	return procs, nil
}

func (s *classicSys) idle(ctx context.Context, cfg config) (*idleResult, error) {
	if err := sleep(ctx, cfg.calm); err != nil {
		return nil, err
	}
	procs, err := keepalivedNode(s.c.LBs[0], "")
	if err != nil {
		return nil, err
	}
	return measureIdle(ctx, "keepalived on the master, 1 instance, advert_int 1, check every 2 s (the tutorial pair)", procs, cfg.idle)
}

func (s *haloSys) idle(ctx context.Context, cfg config) (*idleResult, error) {
	if err := sleep(ctx, cfg.calm); err != nil {
		return nil, err
	}
	return measureIdle(ctx, "halod on the master, 1 instance, advert 1 s, HAProxy check every 200 ms (halo defaults)",
		[]procRef{{"lb1", "halod", s.c.LBs[0].Halod.PID}}, cfg.idle)
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
