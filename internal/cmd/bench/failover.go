package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
	"github.com/halo-lb/halo/internal/netlab"
)

// setup is one column of the failover table: one lab.
type setup struct {
	key, title string
	// desc says how the setup is configured, for the report.
	desc string
	halo bool
	// classic is the keepalived configuration (classic setups); advert the halo advert
	// interval (halo setups).
	classic cluster.ClassicOptions
	advert  time.Duration
	// idle and reloads: this lab also measures the idle footprint and the reloads.
	idle, reloads bool
	// haproxyExtra is added to halo.yaml's haproxy section (halo setups).
	haproxyExtra string
}

func setupList() []setup {
	return []setup{
		{key: "classic-tutorial", title: "classic, tutorial", classic: cluster.TutorialClassic(), idle: true, reloads: true,
			desc: "keepalived 2.2.7, VRRPv2, advert_int 1, priorities 101/100, `vrrp_script` `killall -0 haproxy` interval 2 fall 2 rise 2 weight 2; HAProxy `-W` beside it"},
		{key: "classic-tuned-weight", title: "classic, tuned, weight −2", classic: cluster.TunedClassic(-2),
			desc: "VRRPv3, advert_int 0.1, `killall -0 haproxy` interval 1 fall 1 rise 1 weight −2"},
		{key: "classic-tuned-fault", title: "classic, tuned, FAULT", classic: cluster.TunedClassic(0),
			desc: "VRRPv3, advert_int 0.1, `killall -0 haproxy` interval 1 fall 1 rise 1, unweighted (a failed check means FAULT)"},
		{key: "halo-1s", title: "halo, defaults (1 s)", halo: true, advert: time.Second, idle: true, reloads: true,
			desc: "halod defaults: advert_interval 1s, track_haproxy {fault: true}, runtime-API check every 200 ms (timeout 100 ms, fall 3, rise 2), restart_in_place on (a killed HAProxy is restarted on the listening sockets halod holds, and the VIP stays)"},
		{key: "halo-100ms", title: "halo, 100 ms", halo: true, advert: 100 * time.Millisecond,
			desc: "as halo defaults, advert_interval 100ms"},
	}
}

func setupKeys() []string {
	var keys []string
	for _, s := range setupList() {
		keys = append(keys, s.key)
	}
	return append(keys, "halo-50", "keepalived-50", "pidof", "inplace", "bgp")
}

// system is a running pair, classic or halo; node 0 (lb1) is the initial master.
type system interface {
	lab() *netlab.Lab
	node(i int) *netlab.Node
	name(i int) string
	// startPoller starts the client polling the VIP every 10 ms (100 ms timeout) for at most
	// d; poller returns it (nil before).
	startPoller(d time.Duration) error
	poller() *cluster.Poller
	// haproxyPIDs returns node i's HAProxy master and workers (host PIDs).
	haproxyPIDs(ctx context.Context, i int) (int, []int, error)
	// daemonPIDs returns node i's daemon (halod, keepalived's parent) and all of its
	// processes.
	daemonPIDs(ctx context.Context, i int) (int, []int, error)
	// haproxyKilled restores node i after its HAProxy was killed.
	haproxyKilled(ctx context.Context, i int) error
	// daemonEnded restarts node i's daemon after it ended (killed: by SIGKILL); haproxy
	// lists the HAProxy processes recorded before the fault.
	daemonEnded(ctx context.Context, i int, haproxy []int, killed bool) error
	// steady says why the pair is not in its initial state (nil when it is): lb1 MASTER and
	// healthy, alone holding the VIP, lb2 BACKUP.
	steady(ctx context.Context) error
	// settle is how long to keep watching the client after it is served again.
	settle() time.Duration
}

// waitSteady waits until the pair is in its initial state and, once the client polls, it
// has been served by lb1 without a failure for a while.
func waitSteady(ctx context.Context, s system, d time.Duration) error {
	const quiet = 1500 * time.Millisecond
	deadline := time.Now().Add(d)
	var why error
	for time.Now().Before(deadline) {
		why = s.steady(ctx)
		if why == nil && s.poller() == nil {
			return nil
		}
		if why == nil {
			ev, ok := s.poller().Last()
			switch {
			case !ok:
				why = errors.New("client: no answer yet")
			case !ev.OK || ev.LB != s.name(0):
				why = fmt.Errorf("client: last answer ok=%v from %q (%s)", ev.OK, ev.LB, ev.Err)
			case time.Since(time.Unix(0, ev.At)) < quiet:
				why = errors.New("client: served by lb1 only just now")
			default:
				return nil
			}
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("not back to the initial state within %s: %v", d, why)
}

// injectSpread is the span over which a fault's moment is drawn once the pair is steady.
// The return to steady is paced by the pair's own timers (lb1 takes the VIP back on its
// advert schedule, then waitSteady waits a fixed quiet time), so a fault injected at once
// hit every round at the same phase of the master's checks and adverts, and the median
// measured that one phase: at halod's defaults a hang was caught 460 ms after it in every
// round, where the phases span 300-500 ms (an earlier build, off the grid, was locked at
// 350 ms instead, and looked 100 ms faster). 2 s covers every period in the bench, the
// tutorial's vrrp_script interval being the longest.
const injectSpread = 2 * time.Second

// injectDelay is how long a round waits, once steady, before its fault.
func injectDelay() time.Duration { return rand.N(injectSpread) }

// The client polls the VIP every pollEvery, each request given pollTimeout: an outage
// shorter than pollEvery may read as 0.
const pollEvery, pollTimeout = 10 * time.Millisecond, 100 * time.Millisecond

// maxWindow bounds the wait for a failover after any fault but a hang.
const maxWindow = 30 * time.Second

// roundResult is one fault injection.
type roundResult struct {
	ok     bool          // the client was served again within the window
	outage time.Duration // last success before the fault to first success after
	dark   time.Duration // every failed stretch from the fault until the restore
	served string        // who answered first after the fault
}

func runRound(ctx context.Context, cfg config, s system, f fault) (roundResult, error) {
	var res roundResult
	if err := waitSteady(ctx, s, 90*time.Second); err != nil {
		return res, err
	}
	if err := sleep(ctx, injectDelay()); err != nil {
		return res, err
	}
	undo, t0, err := f.inject(ctx, s)
	if err != nil {
		return res, fmt.Errorf("inject: %w", err)
	}
	p := s.poller()
	deadline := t0.Add(windowOf(cfg, f.key))
	for time.Now().Before(deadline) {
		if d, lb, ok := p.Outage(t0); ok {
			res.ok, res.outage, res.served = true, d, lb
			break
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return res, err // interrupted: the lab is removed, nothing to restore
		}
	}
	if res.ok {
		settle := s.settle()
		if cfg.quick {
			settle = 300 * time.Millisecond
		}
		if err := sleep(ctx, settle); err != nil {
			return res, err
		}
	}
	res.dark = darkTime(p.Events(), t0, time.Now())
	if err := undo(ctx); err != nil {
		return res, &restoreError{err}
	}
	return res, nil
}

// restoreError is a round that measured its fault but could not undo it: the figure counts,
// the problem is reported, and the next round's wait for the initial state decides whether
// the lab goes on.
type restoreError struct{ err error }

func (e *restoreError) Error() string { return "restore: " + e.err.Error() }
func (e *restoreError) Unwrap() error { return e.err }

// darkTime adds up the stretches without a successful answer between the fault at t0 and
// end, each from the last success before it to the first success after it.
func darkTime(evs []cluster.PollEvent, t0, end time.Time) time.Duration {
	var total time.Duration
	var from int64
	dark := false
	for _, ev := range evs {
		if ev.At < t0.UnixNano()-int64(time.Second) || ev.Err == "done" {
			continue
		}
		switch {
		case !ev.OK && !dark:
			dark, from = true, ev.LastOK
		case ev.OK && dark:
			if ev.At >= t0.UnixNano() {
				total += time.Duration(ev.At - from)
			}
			dark = false
		}
	}
	if dark {
		total += time.Duration(end.UnixNano() - from)
	}
	return total
}

// runFaults injects every chosen fault cfg.reps times.
func runFaults(ctx context.Context, cfg config, st setup, s system, res *setupResult) error {
	for _, f := range faultList() {
		if cfg.faults != nil && !cfg.faults[f.key] {
			continue
		}
		fr := &faultResult{}
		res.faults[f.key] = fr
		for r := 1; r <= cfg.reps; r++ {
			rr, err := runRound(ctx, cfg, s, f)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				fr.errs = append(fr.errs, fmt.Sprintf("round %d: %v", r, err))
				logf("%s: %s %d/%d: %v", st.key, f.key, r, cfg.reps, err)
				if strings.HasPrefix(err.Error(), "not back to the initial state") {
					return fmt.Errorf("%s round %d: %w", f.key, r, err)
				}
				var re *restoreError
				if !errors.As(err, &re) {
					continue
				}
			}
			fr.rounds = append(fr.rounds, rr)
			if rr.ok {
				logf("%s: %s %d/%d: outage %d ms (dark %d ms), then served by %s", st.key, f.key, r, cfg.reps,
					rr.outage.Milliseconds(), rr.dark.Milliseconds(), rr.served)
			} else {
				logf("%s: %s %d/%d: no answer within %s", st.key, f.key, r, cfg.reps, windowOf(cfg, f.key))
			}
		}
	}
	return nil
}

// runSetup builds the lab of one setup and runs everything measured in it.
func runSetup(ctx context.Context, sc *scope, cfg config, st setup, res *setupResult, rep *report) error {
	dir, err := os.MkdirTemp("", "halo-bench-"+st.key+"-")
	if err != nil {
		return err
	}
	sc.Cleanup(func() { os.RemoveAll(dir) })
	pollFor := 2 * time.Hour
	if cfg.quick {
		pollFor = 20 * time.Minute
	}
	var s system
	var idle func() (*idleResult, error)
	var reloads func() ([]reloadResult, error)
	if st.halo {
		hs, err := startHalo(ctx, sc, cfg, dir, st)
		if err != nil {
			return err
		}
		s = hs
		idle = func() (*idleResult, error) { return hs.idle(ctx, cfg) }
		reloads = func() ([]reloadResult, error) { return hs.reloads(ctx, cfg) }
	} else {
		cs, err := startClassic(ctx, sc, cfg, dir, st)
		if err != nil {
			return err
		}
		s = cs
		idle = func() (*idleResult, error) { return cs.idle(ctx, cfg) }
		reloads = func() ([]reloadResult, error) { return cs.reloads(ctx, cfg) }
	}
	if st.idle {
		ir, err := idle()
		if err != nil {
			return fmt.Errorf("idle footprint: %w", err)
		}
		rep.idle = append(rep.idle, ir)
	}
	if cfg.footprintOnly {
		return nil
	}
	if err := s.startPoller(pollFor); err != nil {
		return err
	}
	err = runFaults(ctx, cfg, st, s, res)
	if hs, ok := s.(*haloSys); ok && hs.kills > 0 {
		res.notes = append(res.notes, fmt.Sprintf("after halod's SIGKILL its HAProxy was still running in %d of %d rounds "+
			"(when it is not, HAProxy stopped with halod and the VIP is dark until the backup takes over)", hs.orphans, hs.kills))
	}
	if err != nil {
		return err
	}
	if st.reloads {
		if err := waitSteady(ctx, s, 90*time.Second); err != nil {
			return fmt.Errorf("before the reloads: %w", err)
		}
		rr, err := reloads()
		rep.reloads = append(rep.reloads, rr...)
		if err != nil {
			return fmt.Errorf("reloads: %w", err)
		}
	}
	return nil
}
