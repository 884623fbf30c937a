package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
)

// inPlaceResult is the restart-in-place section: HAProxy SIGKILLed on the master (master
// and workers) under a load of new connections, halod at its defaults (restart_in_place
// on).
type inPlaceResult struct {
	rounds int
	// fresh counts the requests begun after a kill (each on a new connection),
	// freshFailed those that failed, errs their errors by kind.
	fresh, freshFailed int
	errs               map[string]int
	// added is how much longer than the baseline each request took that was answered
	// though still waiting when no HAProxy ran (it waited in the accept queue); baseline
	// is the median request before the kill.
	added    []time.Duration
	baseline time.Duration
	// down is per round the time from the kill until the first request begun after it
	// was answered.
	down []time.Duration
	// lost counts the requests begun before a kill that failed: in flight on a
	// connection HAProxy had accepted, which died with it.
	lost int
	// moves counts the rounds in which the VIP moved (lb2 answered or changed state).
	moves int
	// restarts is lb1's restarts_in_place at the end.
	restarts int
}

// inPlaceWatch is how long the load goes on after each kill; inPlaceClients how many
// clients send requests (each waits for its answer before the next: as many requests
// wait in the accept queue while HAProxy is down).
const (
	inPlaceWatch   = 2 * time.Second
	inPlaceClients = 32
)

func runInPlace(ctx context.Context, sc *scope, cfg config, rep *report) error {
	res := &inPlaceResult{errs: map[string]int{}}
	rep.inPlace = res
	dir, err := os.MkdirTemp("", "halo-bench-inplace-")
	if err != nil {
		return err
	}
	sc.Cleanup(func() { os.RemoveAll(dir) })
	// Every round is a crash within restart_in_place.window (60s): past max_crashes (3)
	// the next would be a crash loop, which fails over by design. Each round measures one
	// crash, so the lab allows as many as there are rounds.
	s, err := startHalo(ctx, sc, cfg, dir, setup{key: "inplace", halo: true, advert: time.Second,
		haproxyExtra: fmt.Sprintf("  restart_in_place: {max_crashes: %d}", max(3, cfg.reps))})
	if err != nil {
		return err
	}
	if err := s.startPoller(30 * time.Minute); err != nil {
		return err
	}
	lb1, lb2 := s.c.LBs[0], s.c.LBs[1]
	var baselines []time.Duration
	for round := range cfg.reps {
		if err := waitSteady(ctx, s, 90*time.Second); err != nil {
			return err
		}
		if err := waitHeld(ctx, lb1); err != nil {
			return err
		}
		st2, err := lb2.Status(ctx)
		if err != nil || len(st2.Instances) == 0 {
			return fmt.Errorf("lb2 status: %v", err)
		}
		since2 := st2.Instances[0].Since
		trace := filepath.Join(dir, fmt.Sprintf("trace-%d", round))
		stop := filepath.Join(dir, fmt.Sprintf("stop-%d", round))
		p, err := s.c.Client.Start(filepath.Join(cfg.bin, "labtool"), "load", "-url", fmt.Sprintf("http://%s/", cluster.VIP),
			"-conns", strconv.Itoa(inPlaceClients), "-keepalive=false", "-duration", "2m", "-max", "10000000", "-timeout", "5s", "-stop-file", stop, "-trace", trace)
		if err != nil {
			return err
		}
		if err := sleep(ctx, time.Second); err != nil {
			p.Stop(2 * time.Second)
			return err
		}
		m, w, err := s.haproxyPIDs(ctx, 0)
		if err != nil {
			p.Stop(2 * time.Second)
			return err
		}
		victims := append([]int{m}, w...)
		for _, pid := range victims {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		// A connection begun while a killed worker still ran may have been accepted by it
		// and die with it: new connections are those begun once every killed process is
		// gone (or a zombie), when only a restarted HAProxy can accept.
		if err := waitGone(ctx, victims, 5*time.Second); err != nil {
			p.Stop(2 * time.Second)
			return err
		}
		t0 := time.Now()
		if err := sleep(ctx, inPlaceWatch); err != nil {
			p.Stop(2 * time.Second)
			return err
		}
		if err := os.WriteFile(stop, nil, 0o644); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = p.Wait(wctx)
		cancel()
		if err != nil && wctx.Err() != nil {
			return fmt.Errorf("labtool load did not stop: %w", err)
		}
		reqs, err := readTrace(trace)
		if err != nil {
			return err
		}
		fresh, failed, lost := res.fresh, res.freshFailed, res.lost
		base := res.add(reqs, t0)
		baselines = append(baselines, base)
		res.rounds++
		moved := false
		for _, ev := range s.p.Events() {
			if ev.At >= t0.UnixNano() && ev.OK && ev.LB != lb1.Name {
				moved = true
			}
		}
		if st2, err := lb2.Status(ctx); err != nil || len(st2.Instances) == 0 || !st2.Instances[0].Since.Equal(since2) {
			moved = true
		}
		if moved {
			res.moves++
		}
		down := "never"
		if len(res.down) == res.rounds {
			down = res.down[len(res.down)-1].Round(time.Millisecond).String()
		}
		logf("inplace round %d: HAProxy answered again %s after the killed processes were gone; %d new connections after that, %d failed; %d in flight lost; VIP moved: %v",
			round+1, down, res.fresh-fresh, res.freshFailed-failed, res.lost-lost, moved)
	}
	res.baseline = quantile(baselines, 0.5)
	if st, err := lb1.Status(ctx); err == nil {
		res.restarts = st.HAProxy.RestartsInPlace
	}
	return nil
}

// waitHeld waits until halod on lb holds HAProxy's listening sockets again (after a
// restart it takes them on the first passing check).
func waitHeld(ctx context.Context, lb *cluster.LB) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := lb.Status(ctx)
		if err == nil && st.HAProxy.HeldSockets > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s holds none of HAProxy's listening sockets after 30s: %+v, %v", lb.Name, st.HAProxy, err)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// traced is one request of labtool load -trace.
type traced struct {
	start time.Time
	dur   time.Duration
	err   string // "ok" when none
}

func readTrace(path string) ([]traced, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []traced
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: %q", path, i+1, line)
		}
		at, err1 := strconv.ParseInt(f[0], 10, 64)
		d, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: %q", path, i+1, line)
		}
		out = append(out, traced{start: time.Unix(0, at), dur: time.Duration(d), err: f[2]})
	}
	return out, nil
}

// add counts one round's requests around the kill at t0 and returns the round's
// baseline (the median request begun and answered in the second before the kill).
func (r *inPlaceResult) add(reqs []traced, t0 time.Time) time.Duration {
	var before []time.Duration
	back := time.Time{}
	for _, q := range reqs {
		switch {
		case q.start.Before(t0):
			if q.err != "ok" {
				r.lost++
			} else if q.start.After(t0.Add(-time.Second)) && q.start.Add(q.dur).Before(t0) {
				before = append(before, q.dur)
			}
		case q.err == "ok":
			if end := q.start.Add(q.dur); back.IsZero() || end.Before(back) {
				back = end
			}
		}
	}
	base := quantile(before, 0.5)
	for _, q := range reqs {
		// Answered, though still waiting when no HAProxy ran: it waited in the accept
		// queue of the socket halod held, and the restarted HAProxy took it.
		if q.err == "ok" && q.start.Before(back) && q.start.Add(q.dur).After(t0) {
			r.added = append(r.added, max(q.dur-base, 0))
		}
		if q.start.Before(t0) {
			continue
		}
		r.fresh++
		if q.err != "ok" {
			r.freshFailed++
			r.errs[q.err]++
		}
	}
	if !back.IsZero() {
		r.down = append(r.down, back.Sub(t0))
	}
	return base
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
