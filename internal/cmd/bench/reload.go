package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
	"github.com/halo-lb/halo/internal/netlab"
)

// Reloads under load: the client runs a bounded load against the VIP (4 clients, kept-alive
// connections or one connection per request) while the master's HAProxy is reloaded
// cfg.reloads times, one reload after the other with a pause between them; every reload
// changes a comment in haproxy.cfg so that none can be skipped as a no-op.

// reloadPause is the pause after each reload.
const reloadPause = 250 * time.Millisecond

// reloadResult is one line of the reload table.
type reloadResult struct {
	mechanism string
	client    string // "keep-alive" or "close"
	reloads   int    // reloads done and verified
	requests  uint64
	failures  uint64
	errors    map[string]uint64
	seconds   float64
	err       string
}

// loadResult is labtool load's output.
type loadResult struct {
	Requests uint64            `json:"requests"`
	Failures uint64            `json:"failures"`
	Errors   map[string]uint64 `json:"errors"`
	Seconds  float64           `json:"seconds"`
}

var loadSeq atomic.Int64

// underLoad runs reloads (which returns how many it did) while the client loads the VIP.
func underLoad(ctx context.Context, client *netlab.Node, bin, dir string, keepAlive bool, reloads func(context.Context) (int, error)) (reloadResult, error) {
	res := reloadResult{client: "close"}
	if keepAlive {
		res.client = "keep-alive"
	}
	stop := filepath.Join(dir, fmt.Sprintf("load-stop-%d", loadSeq.Add(1)))
	p, err := client.Start(filepath.Join(bin, "labtool"), "load", "-url", fmt.Sprintf("http://%s/", cluster.VIP),
		"-conns", "4", "-keepalive="+strconv.FormatBool(keepAlive), "-duration", "20m", "-max", "200000000",
		"-timeout", "2s", "-stop-file", stop)
	if err != nil {
		return res, err
	}
	defer p.Stop(2 * time.Second)
	if err := sleep(ctx, 300*time.Millisecond); err != nil {
		return res, err
	}
	n, rerr := reloads(ctx)
	res.reloads = n
	// Let the requests in flight finish, then stop the load.
	_ = sleep(ctx, 500*time.Millisecond)
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Wait(wctx); err != nil && wctx.Err() != nil {
		return res, fmt.Errorf("labtool load did not stop: %w", err)
	}
	var lr loadResult
	out := p.Output()
	if i := strings.LastIndex(out, "{\"requests\""); i >= 0 {
		err = json.Unmarshal([]byte(strings.TrimSpace(out[i:])), &lr)
	} else {
		err = fmt.Errorf("no result from labtool load: %s", out)
	}
	if err != nil {
		return res, err
	}
	res.requests, res.failures, res.errors, res.seconds = lr.Requests, lr.Failures, lr.Errors, lr.Seconds
	return res, rerr
}

var bumpLine = regexp.MustCompile(`(?m)^# bench reload \d+\n`)

// bumpConfig changes haproxy.cfg's trailing comment.
func bumpConfig(path string, i int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b = bumpLine.ReplaceAll(b, nil)
	b = append(b, fmt.Sprintf("# bench reload %d\n", i)...)
	return os.WriteFile(path, b, 0o644)
}

func (s *haloSys) reloads(ctx context.Context, cfg config) ([]reloadResult, error) {
	lb := s.c.LBs[0]
	var out []reloadResult
	for _, ka := range []bool{true, false} {
		st0, err := lb.Status(ctx)
		if err != nil {
			return out, err
		}
		logf("%s: %d reloads (haloctl reload) under load, %s clients", s.st.key, cfg.reloads, map[bool]string{true: "keep-alive", false: "close"}[ka])
		r, err := underLoad(ctx, s.c.Client, s.cfg.bin, lb.Dir, ka, func(ctx context.Context) (int, error) {
			for i := 0; i < cfg.reloads; i++ {
				if err := bumpConfig(lb.HAProxyCfg, i); err != nil {
					return i, err
				}
				rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				b, err := exec.CommandContext(rctx, filepath.Join(s.cfg.bin, "haloctl"), "-socket", lb.Socket, "reload").CombinedOutput()
				cancel()
				if err != nil {
					return i, fmt.Errorf("haloctl reload %d: %v: %s", i+1, err, strings.TrimSpace(string(b)))
				}
				if err := sleep(ctx, reloadPause); err != nil {
					return i + 1, err
				}
			}
			return cfg.reloads, nil
		})
		r.mechanism = "halo: `haloctl reload` (validate, master CLI reload, verify)"
		if st1, err := lb.Status(ctx); err == nil && r.err == "" {
			if d := st1.HAProxy.Reloads - st0.HAProxy.Reloads; d != r.reloads {
				r.err = fmt.Sprintf("halod counted %d reloads, haloctl returned %d", d, r.reloads)
			}
		}
		if err != nil {
			r.err = err.Error()
		}
		logf("%s: %d reloads, %d requests, %d failed %v", s.st.key, r.reloads, r.requests, r.failures, r.errors)
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// reloads measures, on the classic pair's master, the plain master-worker reload (SIGUSR2
// to the master) and then the classic `haproxy -D -p pidfile -sf $(cat pidfile)`.
func (s *classicSys) reloads(ctx context.Context, cfg config) ([]reloadResult, error) {
	lb := s.c.LBs[0]
	var out []reloadResult
	master, _, err := lb.HAProxyPIDs()
	if err != nil {
		return nil, err
	}
	usr2 := func(ctx context.Context) (int, error) {
		for i := 0; i < cfg.reloads; i++ {
			if err := bumpConfig(lb.HAProxyCfg, i); err != nil {
				return i, err
			}
			old := children(master)
			if err := syscall.Kill(master, syscall.SIGUSR2); err != nil {
				return i, err
			}
			// Done when a new worker runs.
			deadline := time.Now().Add(10 * time.Second)
			for {
				if slices.ContainsFunc(children(master), func(p int) bool { return !slices.Contains(old, p) }) {
					break
				}
				if time.Now().After(deadline) {
					return i, fmt.Errorf("reload %d: no new worker after SIGUSR2", i+1)
				}
				if err := sleep(ctx, 5*time.Millisecond); err != nil {
					return i, err
				}
			}
			if err := sleep(ctx, reloadPause); err != nil {
				return i + 1, err
			}
		}
		return cfg.reloads, nil
	}
	rs, err := s.underLoadBoth(ctx, cfg, lb.Dir, "master-worker SIGUSR2", "classic: master-worker `kill -USR2` (haproxy -W)", usr2)
	out = append(out, rs...)
	if err != nil {
		return out, err
	}

	// Switch to the old-style daemon: start it beside the master-worker HAProxy (both bind
	// with SO_REUSEPORT, so keepalived's check never fails), then stop the latter softly.
	hap := haproxyBinary()
	pidfile := filepath.Join(lb.Dir, "haproxy-sf.pid")
	if err := lb.Exec(ctx, "haproxy-sf.log", hap, "-D", "-f", lb.HAProxyCfg, "-p", pidfile); err != nil {
		return out, err
	}
	_ = syscall.Kill(master, syscall.SIGUSR1)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = lb.HAProxy.Wait(wctx)
	cancel()
	if err != nil && wctx.Err() != nil {
		return out, fmt.Errorf("master-worker HAProxy did not stop: %w", err)
	}
	sf := func(ctx context.Context) (int, error) {
		for i := 0; i < cfg.reloads; i++ {
			if err := bumpConfig(lb.HAProxyCfg, i); err != nil {
				return i, err
			}
			old, err := os.ReadFile(pidfile)
			if err != nil {
				return i, err
			}
			args := append([]string{"-D", "-f", lb.HAProxyCfg, "-p", pidfile, "-sf"}, strings.Fields(string(old))...)
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err = lb.Exec(rctx, "haproxy-sf.log", hap, args...)
			cancel()
			if err != nil {
				return i, fmt.Errorf("reload %d: %w", i+1, err)
			}
			if now, _ := os.ReadFile(pidfile); string(now) == string(old) {
				return i, fmt.Errorf("reload %d: pid file unchanged", i+1)
			}
			if err := sleep(ctx, reloadPause); err != nil {
				return i + 1, err
			}
		}
		return cfg.reloads, nil
	}
	rs, err = s.underLoadBoth(ctx, cfg, lb.Dir, "haproxy -sf", "classic: `haproxy -D -p pidfile -sf $(cat pidfile)`", sf)
	return append(out, rs...), err
}

// underLoadBoth runs one reload mechanism under load, with keep-alive clients and then
// with close clients, stopping at the first error.
func (s *classicSys) underLoadBoth(ctx context.Context, cfg config, dir, label, mechanism string, reload func(context.Context) (int, error)) ([]reloadResult, error) {
	var out []reloadResult
	for _, ka := range []bool{true, false} {
		logf("%s: %d reloads (%s) under load, %s clients", s.st.key, cfg.reloads, label, map[bool]string{true: "keep-alive", false: "close"}[ka])
		r, err := underLoad(ctx, s.c.Client, s.cfg.bin, dir, ka, reload)
		r.mechanism = mechanism
		if err != nil {
			r.err = err.Error()
		}
		logf("%s: %d reloads, %d requests, %d failed %v", s.st.key, r.reloads, r.requests, r.failures, r.errors)
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// haproxyBinary is the path of Debian's haproxy.
func haproxyBinary() string {
	for _, p := range []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	return "haproxy"
}

// children returns the child PIDs of a process.
func children(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}
