package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/halo-lb/halo/internal/bgplab"
	"github.com/halo-lb/halo/internal/cluster"
)

// bgpFault is one row of the BGP table.
type bgpFault struct {
	key, title string
	// inject breaks lb and returns when; heal puts it back.
	inject func(ctx context.Context, l *bgplab.Lab, lb *cluster.LB) (time.Time, error)
	heal   func(ctx context.Context, l *bgplab.Lab, lb *cluster.LB) error
}

// bgpRound is one injection: when the router's FIB lost the node's next hop, and what a
// client opening a new connection every 10 ms saw.
type bgpRound struct {
	fibGone  time.Duration // fault to next hop out of the FIB (polled every few ms)
	failures uint64        // failed new connections
	dark     time.Duration // longest run of failed new connections
	err      string
}

type bgpResult struct {
	err    string
	rounds map[string][]bgpRound
	held   map[string][]heldRound
}

// heldRound is what one departure of lb1 did to long-lived connections: those on lb1
// (lost) and those on the other nodes (moved by the rehash, if any).
type heldRound struct {
	lost, lostBroken, others, othersBroken int
	err                                    string
}

// departures are the ways lb1 leaves while connections are held.
func departures() []bgpFault {
	return []bgpFault{
		{key: "drain", title: "graceful: `haloctl maintenance on` (GRACEFUL_SHUTDOWN, then withdrawal)",
			inject: func(ctx context.Context, l *bgplab.Lab, lb *cluster.LB) (time.Time, error) {
				t0 := time.Now()
				resp, err := lb.Ctl(ctx, "maintenance", "on")
				if err == nil && !resp.OK {
					err = errors.New(resp.Error)
				}
				return t0, err
			},
			heal: func(ctx context.Context, l *bgplab.Lab, lb *cluster.LB) error {
				resp, err := lb.Ctl(ctx, "maintenance", "off")
				if err == nil && !resp.OK {
					err = errors.New(resp.Error)
				}
				return err
			}},
		{key: "abrupt", title: "abrupt: link cut (BFD)", inject: bgpFaults()[1].inject, heal: bgpFaults()[1].heal},
		{key: "resilient", title: "abrupt: link cut (BFD), the router forwarding through a resilient next-hop group (emulated, below)",
			inject: func(ctx context.Context, l *bgplab.Lab, lb *cluster.LB) (time.Time, error) {
				t0 := time.Now()
				if err := l.Net.LinkDown(lb.Node, 0); err != nil {
					return t0, err
				}
				// Follow FRR: once its route lost lb1, the group loses it too.
				if err := awaitHops(ctx, l, hopsOf(l.LBs[1:]), 15*time.Second); err != nil {
					return t0, err
				}
				return t0, resilientGroup(ctx, l, l.LBs[1:])
			},
			heal: func(ctx context.Context, l *bgplab.Lab, lb *cluster.LB) error {
				if err := l.Net.LinkUp(lb.Node, 0); err != nil {
					return err
				}
				return awaitHops(ctx, l, hopsOf(l.LBs), 60*time.Second)
			}},
	}
}

// Resilient next hops (Linux 5.13+): the nexthop IDs the bench makes in the router.
const (
	resGroupID = 900
	resBaseID  = 901
)

// resilientGroup points the router's forwarding of the service address at a resilient
// next-hop group of lbs (creating it and a route preferred over FRR's on first use):
// what a router that programs ECMP resiliently does, where a lost next hop's buckets move
// and the others' stay.
func resilientGroup(ctx context.Context, l *bgplab.Lab, lbs []*cluster.LB) error {
	ns := l.Router.NS
	ipr := func(args ...string) error {
		out, err := exec.CommandContext(ctx, "ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	var ids []string
	for _, lb := range lbs {
		i := slices.Index(l.LBs, lb)
		id := fmt.Sprint(resBaseID + i)
		if err := ipr("nexthop", "replace", "id", id, "via", bgplab.LBAddr(lb, false).String(), "dev", "eth0"); err != nil {
			return err
		}
		ids = append(ids, id)
	}
	if err := ipr("nexthop", "replace", "id", fmt.Sprint(resGroupID), "group", strings.Join(ids, "/"),
		"type", "resilient", "buckets", "128", "idle_timer", "0"); err != nil {
		return err
	}
	// In a table of its own, chosen by a rule ahead of the main table: zebra, which owns the
	// main table, would take a kernel route there for its best and uninstall BGP's.
	if err := ipr("route", "replace", bgplab.Service4.String(), "nhid", fmt.Sprint(resGroupID), "table", resTable); err != nil {
		return err
	}
	if err := ipr("rule", "show", "priority", resRulePrio); err == nil {
		out, _ := exec.CommandContext(ctx, "ip", "-n", ns, "rule", "show", "priority", resRulePrio).Output()
		if strings.TrimSpace(string(out)) != "" {
			return nil
		}
	}
	return ipr("rule", "add", "to", bgplab.Service4.String(), "table", resTable, "priority", resRulePrio)
}

// The routing table and rule priority of the emulated resilient forwarding.
const (
	resTable    = "100"
	resRulePrio = "100"
)

// dropResilient removes what resilientGroup made.
func dropResilient(ctx context.Context, l *bgplab.Lab) {
	ns := l.Router.NS
	exec.CommandContext(ctx, "ip", "-n", ns, "rule", "del", "priority", resRulePrio).Run()
	exec.CommandContext(ctx, "ip", "-n", ns, "route", "del", bgplab.Service4.String(), "table", resTable).Run()
	exec.CommandContext(ctx, "ip", "-n", ns, "nexthop", "del", "id", fmt.Sprint(resGroupID)).Run()
	for i := range l.LBs {
		exec.CommandContext(ctx, "ip", "-n", ns, "nexthop", "del", "id", fmt.Sprint(resBaseID+i)).Run()
	}
}

// heldOnce holds 120 connections across lb1's departure and counts the broken ones.
func heldOnce(ctx context.Context, l *bgplab.Lab, f bgpFault) heldRound {
	lb := l.LBs[0]
	p, err := l.StartHold(120, 8*time.Second)
	if err != nil {
		return heldRound{err: err.Error()}
	}
	defer p.Stop(2 * time.Second)
	if err := sleep(ctx, 2*time.Second); err != nil {
		return heldRound{err: err.Error()}
	}
	var r heldRound
	if _, err := f.inject(ctx, l, lb); err != nil {
		r.err = err.Error()
	}
	p.Wait(ctx)
	if err := f.heal(ctx, l, lb); err != nil && r.err == "" {
		r.err = err.Error()
	}
	if err := awaitHops(ctx, l, hopsOf(l.LBs), 60*time.Second); err != nil && r.err == "" {
		r.err = err.Error()
	}
	cs, err := bgplab.HoldResult(p)
	if err != nil {
		if r.err == "" {
			r.err = err.Error()
		}
		return r
	}
	for _, c := range cs {
		switch {
		case c.LB == "":
		case c.LB == lb.Name:
			r.lost++
			if c.Broken {
				r.lostBroken++
			}
		default:
			r.others++
			if c.Broken {
				r.othersBroken++
			}
		}
	}
	return r
}

func bgpFaults() []bgpFault {
	return []bgpFault{
		{key: "haproxy-kill", title: "HAProxy SIGKILLed (master and workers); halod restarts it",
			inject: func(ctx context.Context, l *bgplab.Lab, lb *cluster.LB) (time.Time, error) {
				master, workers, err := lb.HAProxyPIDs(ctx)
				if err != nil {
					return time.Time{}, err
				}
				t0 := time.Now()
				for _, p := range append([]int{master}, workers...) {
					if err := syscall.Kill(p, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
						return t0, err
					}
				}
				return t0, nil
			},
			heal: func(context.Context, *bgplab.Lab, *cluster.LB) error { return nil }},
		{key: "link-cut", title: "the node's link cut at the switch (BFD 50 ms × 3)",
			inject: func(ctx context.Context, l *bgplab.Lab, lb *cluster.LB) (time.Time, error) {
				t0 := time.Now()
				return t0, l.Net.LinkDown(lb.Node, 0)
			},
			heal: func(ctx context.Context, l *bgplab.Lab, lb *cluster.LB) error { return l.Net.LinkUp(lb.Node, 0) }},
	}
}

// runBGP measures the BGP/ECMP lab: three halod nodes, FRR as the router.
func runBGP(ctx context.Context, s *scope, cfg config, res *bgpResult) error {
	dir, err := os.MkdirTemp("", "halo-bench-bgp-")
	if err != nil {
		return err
	}
	s.Cleanup(func() { os.RemoveAll(dir) })
	l := bgplab.New(s, dir, bgplab.Options{Bin: cfg.bin})
	for _, lb := range l.LBs {
		if _, err := l.StartBackend(lb); err != nil {
			return err
		}
		if err := l.StartHalod(ctx, lb); err != nil {
			return err
		}
	}
	all := hopsOf(l.LBs)
	if err := awaitHops(ctx, l, all, 60*time.Second); err != nil {
		return err
	}
	for _, f := range departures() {
		for i := 0; i < cfg.reps; i++ {
			logf("bgp: long-lived connections, %s, round %d", f.key, i+1)
			if f.key == "resilient" {
				if err := resilientGroup(ctx, l, l.LBs); err != nil {
					return err
				}
			}
			r := heldOnce(ctx, l, f)
			if f.key == "resilient" {
				dropResilient(ctx, l)
			}
			res.held[f.key] = append(res.held[f.key], r)
			if r.err != "" {
				logf("bgp: %s: %s", f.key, r.err)
			}
		}
	}
	for _, f := range bgpFaults() {
		for i := 0; i < cfg.reps; i++ {
			logf("bgp: %s, round %d", f.key, i+1)
			r := bgpOnce(ctx, l, f)
			res.rounds[f.key] = append(res.rounds[f.key], r)
			if r.err != "" {
				logf("bgp: %s: %s", f.key, r.err)
			}
			if err := awaitHops(ctx, l, all, 60*time.Second); err != nil {
				return fmt.Errorf("%s: not healed: %w", f.key, err)
			}
		}
	}
	return nil
}

func hopsOf(lbs []*cluster.LB) []netip.Addr {
	var out []netip.Addr
	for _, lb := range lbs {
		out = append(out, bgplab.LBAddr(lb, false))
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func awaitHops(ctx context.Context, l *bgplab.Lab, want []netip.Addr, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		got, err := l.NextHops(ctx, bgplab.Service4)
		if err == nil && slices.Equal(got, want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("router next hops %v, want %v (%v)", got, want, err)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

func bgpOnce(ctx context.Context, l *bgplab.Lab, f bgpFault) bgpRound {
	lb := l.LBs[0]
	poller, err := l.Client.Start(filepath.Join(l.Bin, "labtool"), "poll", "-url", fmt.Sprintf("http://%s/", bgplab.Service4.Addr()),
		"-interval", "10ms", "-timeout", "200ms", "-duration", "30s")
	if err != nil {
		return bgpRound{err: err.Error()}
	}
	defer poller.Stop(2 * time.Second)
	if err := sleep(ctx, time.Second); err != nil {
		return bgpRound{err: err.Error()}
	}
	t0, err := f.inject(ctx, l, lb)
	if err != nil {
		return bgpRound{err: err.Error()}
	}
	var r bgpRound
	want := hopsOf(l.LBs[1:])
	for {
		got, err := l.NextHops(ctx, bgplab.Service4)
		if err == nil && slices.Equal(got, want) {
			r.fibGone = time.Since(t0)
			break
		}
		if time.Since(t0) > 15*time.Second {
			r.err = fmt.Sprintf("next hop still in the FIB after 15 s: %v", got)
			break
		}
	}
	if err := f.heal(ctx, l, lb); err != nil && r.err == "" {
		r.err = err.Error()
	}
	if err := awaitHops(ctx, l, hopsOf(l.LBs), 60*time.Second); err != nil && r.err == "" {
		r.err = err.Error()
	}
	poller.Signal(syscall.SIGTERM)
	poller.Wait(ctx)
	r.failures, r.dark = darkRuns(poller.Output())
	return r
}

// darkRuns reads labtool poll's events: the failures counted, and the longest run from a
// failed new connection to the next one that succeeded.
func darkRuns(out string) (uint64, time.Duration) {
	var failures uint64
	var longest time.Duration
	var failStart int64
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev struct {
			At       int64  `json:"at"`
			OK       bool   `json:"ok"`
			Err      string `json:"err"`
			Failures uint64 `json:"failures"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		failures = max(failures, ev.Failures)
		switch {
		case !ev.OK && ev.Err != "done" && failStart == 0:
			failStart = ev.At
		case ev.OK && failStart != 0:
			longest = max(longest, time.Duration(ev.At-failStart))
			failStart = 0
		}
	}
	return failures, longest
}

// bgpSection writes the BGP table.
func (r *report) bgpSection(w func(string, ...any)) {
	if r.bgp == nil {
		return
	}
	w("## BGP / ECMP (three nodes, FRR 8.4 as the router)\n\n")
	if r.bgp.err != "" {
		w("Not measured: %s\n\n", oneLine(r.bgp.err))
		return
	}
	w("Three halod nodes announce 203.0.113.10/32 to FRR (bgpd + bfdd, `maximum-paths 16`, port hashing); a client behind the router opens a new connection every 10 ms. *FIB* is the time from the fault to the node's next hop leaving the router's kernel FIB (`ip route`, polled); *failed* counts the client's failed new connections, *dark* is its longest run of failures, from the start of the first failed request to the start of the next that succeeded (a request times out after 200 ms; with ECMP only the flows hashed to the lost node fail). Median (max) of %d rounds.\n\n", r.cfg.reps)
	w("| fault | FIB | failed | dark | errors |\n| --- | --- | --- | --- | --- |\n")
	for _, f := range bgpFaults() {
		rs := r.bgp.rounds[f.key]
		var fib, dark []time.Duration
		var fails []time.Duration
		var errs []string
		for _, x := range rs {
			if x.err != "" {
				errs = append(errs, x.err)
				continue
			}
			fib = append(fib, x.fibGone)
			dark = append(dark, x.dark)
			fails = append(fails, time.Duration(x.failures))
		}
		cell := func(ds []time.Duration) string {
			if len(ds) == 0 {
				return "–"
			}
			return fmt.Sprintf("%s (%s)", ms(median(ds)), ms(slices.Max(ds)))
		}
		fc := "–"
		if len(fails) > 0 {
			fc = fmt.Sprintf("%d (%d)", int64(median(fails)), int64(slices.Max(fails)))
		}
		w("| %s | %s | %s | %s | %s |\n", f.title, cell(fib), fc, cell(dark), orDash(strings.Join(errs, "; ")))
	}
	w("\nLong-lived connections: 120 keep-alive connections from the client, a request on each every 100 ms, while lb1 leaves; a connection is broken when a request fails or is answered by another node. The router hashes with Linux's default multipath algorithm (hash-threshold) over plain next hops, as FRR 8.4 installs them. Sums over %d rounds. With hash-threshold the share of the other nodes' connections moved depends on which next hop leaves and on the order in which zebra installs the remaining ones (a reordered group moves nearly all flows).\n\n", r.cfg.reps)
	w("| lb1 leaves | its connections broken | the other nodes' connections broken | errors |\n| --- | --- | --- | --- |\n")
	for _, f := range departures() {
		var lost, lostB, oth, othB int
		var errs []string
		for _, x := range r.bgp.held[f.key] {
			if x.err != "" {
				errs = append(errs, x.err)
			}
			lost, lostB, oth, othB = lost+x.lost, lostB+x.lostBroken, oth+x.others, othB+x.othersBroken
		}
		share := func(b, n int) string {
			if n == 0 {
				return "–"
			}
			return fmt.Sprintf("%d of %d (%.0f %%)", b, n, 100*float64(b)/float64(n))
		}
		w("| %s | %s | %s | %s |\n", f.title, share(lostB, lost), share(othB, oth), orDash(strings.Join(errs, "; ")))
	}
	w("\nThe resilient row is emulated: FRR 8.4 installs plain multipath routes, so the bench installs a resilient group of the three nodes (`ip nexthop ... type resilient buckets 128`) with a route in a table of its own chosen by an `ip rule` ahead of the main table (where zebra keeps its route), and replaces it with the two survivors as soon as FRR's route loses lb1, as a router programming ECMP resiliently would.\n")
	w("\nOn paper: kube-vip withdraws only after its health check fails 3 × 5 s (≥ 15 s); MetalLB without BFD waits for the hold time (≥ 3 s, 90 s by default); BFD at FRR's default 300 ms × 3 detects in 900 ms. halo withdraws on HAProxy's own verdict (a dead HAProxy is seen at once, a hung one within `interval × fall`), and BFD 50 ms × 3 bounds a dead node or link at 150 ms plus the router's FIB update.\n\n")
}
