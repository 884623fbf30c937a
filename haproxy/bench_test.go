package haproxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
)

// Benchmarks against the real haproxy (tier 2). Each reports its figures with
// b.ReportMetric; run them once each:
//
//	go test -run '^$' -bench . -benchtime 1x ./haproxy/

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1)*p + 0.5)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkReloadsUnderLoad: 100 reloads while two keep-alive and two close-mode clients
// (no retries) run. With option idle-close-on-response the goal is zero failures for
// both; without it keep-alive clients lose requests, which is why the lint warns.
func BenchmarkReloadsUnderLoad(b *testing.B) {
	for _, idle := range []bool{true, false} {
		name := "idle-close-on-response"
		if !idle {
			name = "without-idle-close"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				l := newLab(b)
				l.vars.IdleClose = idle
				l.writeConfig()
				r := start(b, l.cfg)
				poll.Until(b, 10*time.Second, "healthy", healthy(r.m))
				ka, cl, res, err := reloadsUnderLoad(b, r.m, l.frontend, 100)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(ka.failed.Load()), "failed_keepalive")
				b.ReportMetric(float64(cl.failed.Load()), "failed_close")
				b.ReportMetric(float64(ka.ok.Load()+ka.failed.Load()+cl.ok.Load()+cl.failed.Load()), "requests")
				var durs, valid []time.Duration
				for _, x := range res {
					durs, valid = append(durs, x.Duration), append(valid, x.Validation)
				}
				b.ReportMetric(ms(percentile(valid, 0.5)), "validate_p50_ms")
				b.ReportMetric(ms(percentile(durs, 0.5)), "reload_p50_ms")
				b.ReportMetric(ms(percentile(durs, 0.99)), "reload_p99_ms")
				if ka.failed.Load()+cl.failed.Load() > 0 {
					b.Logf("errors: keep-alive %v; close %v", ka.errs, cl.errs)
				}
			}
		})
	}
}

// checkLatency runs n checks back to back through the real stats socket.
func checkLatency(b *testing.B, m *Manager, n int) []time.Duration {
	var ds []time.Duration
	for range n {
		r := m.probe(b.Context())
		if !r.OK() {
			b.Fatalf("check failed: %s", r.Reason)
		}
		ds = append(ds, r.Duration)
	}
	return ds
}

// BenchmarkCheck: the health check's latency on the lab config.
func BenchmarkCheck(b *testing.B) {
	l := newLab(b)
	r := start(b, l.cfg)
	poll.Until(b, 10*time.Second, "healthy", healthy(r.m))
	b.ResetTimer()
	ds := checkLatency(b, r.m, max(b.N, 200))
	b.StopTimer()
	b.ReportMetric(ms(percentile(ds, 0.5)), "check_p50_ms")
	b.ReportMetric(ms(percentile(ds, 0.99)), "check_p99_ms")
}

// BenchmarkCheckBigConfig: the same check against a generated config of 1000 backends of
// 5 servers each, checking the frontend and 11 backends: check latency, and halod's CPU
// share at the default interval (200ms) over 5 seconds.
func BenchmarkCheckBigConfig(b *testing.B) {
	l := newLab(b)
	var g strings.Builder
	backends := map[string]int{"app": 1}
	for i := range 1000 {
		fmt.Fprintf(&g, "\nbackend be%04d\n", i)
		for j := range 5 {
			fmt.Fprintf(&g, "    server s%d 127.0.0.1:%d\n", j, 20000+i*5+j)
		}
		if i%100 == 0 {
			backends[fmt.Sprintf("be%04d", i)] = 5
		}
	}
	l.vars.Generated = g.String()
	l.writeConfig()
	cfg := l.cfg
	cfg.Check.Backends = backends
	cfg.Check.Interval, cfg.Check.Timeout, cfg.Check.FastInterval = DefaultCheckInterval, DefaultCheckTimeout, 0
	r := start(b, cfg)
	poll.Until(b, 20*time.Second, "healthy", healthy(r.m))
	ds := checkLatency(b, r.m, 300)
	b.ReportMetric(ms(percentile(ds, 0.5)), "check_p50_ms")
	b.ReportMetric(ms(percentile(ds, 0.99)), "check_p99_ms")

	// CPU share of this process (the Manager's loop; HAProxy is a child, not counted) at
	// the default interval.
	before := r.m.Counters().Checks[KindOK]
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	wait, cancel := context.WithTimeout(b.Context(), 5*time.Second)
	<-wait.Done()
	cancel()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	wall := time.Since(t0)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu_pct_of_core")
	b.ReportMetric(float64(r.m.Counters().Checks[KindOK]-before), "checks_in_5s")
	if s := r.m.Snapshot(); !s.Healthy {
		b.Errorf("unhealthy on the big config: %s", s.Reason)
	}
}

// BenchmarkSIGSTOPToUnhealthy: time from SIGSTOP of the worker to the unhealthy verdict,
// at the default check settings (interval 200ms, timeout 100ms, fall 3), over 5 rounds.
func BenchmarkSIGSTOPToUnhealthy(b *testing.B) {
	l := newLab(b)
	cfg := l.cfg
	cfg.Check.Interval, cfg.Check.Timeout, cfg.Check.Rise, cfg.Check.Fall, cfg.Check.FastInterval =
		DefaultCheckInterval, DefaultCheckTimeout, DefaultRise, DefaultFall, 0
	r := start(b, cfg)
	var ds []time.Duration
	for range 5 {
		poll.Until(b, 10*time.Second, "healthy", healthy(r.m))
		w := r.m.Snapshot().WorkerPID
		if err := syscall.Kill(w, syscall.SIGSTOP); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, poll.Until(b, 5*time.Second, "unhealthy", func() error {
			if r.m.Snapshot().Healthy {
				return errors.New("healthy")
			}
			return nil
		}))
		if err := syscall.Kill(w, syscall.SIGCONT); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(ms(percentile(ds, 0.5)), "sigstop_to_unhealthy_p50_ms")
	b.ReportMetric(ms(slices.Max(ds)), "sigstop_to_unhealthy_max_ms")
}
