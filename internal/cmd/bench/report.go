package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// report is everything one run measured.
type report struct {
	started  time.Time
	duration time.Duration
	quick    bool
	cfg      config
	machine  machine
	haloErr  string

	setups    []*setupResult
	reloads   []reloadResult
	idle      []*idleResult
	idle50    *idleResult
	idle50Err string
	ka50      *idleResult // keepalived with the same 50 instances
	ka50Err   string
	binary    binaryInfo
	gobench   goBenchResult
	pidofTrap string

	// inPlace is the restart in place (nil when not run).
	inPlace    *inPlaceResult
	inPlaceErr string
	bgp        *bgpResult
}

type setupResult struct {
	setup  setup
	err    string
	faults map[string]*faultResult
	// notes are observations made during the rounds.
	notes []string
}

type faultResult struct {
	rounds []roundResult
	errs   []string
}

// stats summarizes the rounds of one fault in one setup.
type stats struct {
	n, recovered       int
	median, min, max   time.Duration
	darkMedian         time.Duration
	servedBySelf       int // first answer came from the faulted node itself
	errs               []string
	measured, hasRound bool
}

func (r *report) setup(key string) *setupResult {
	for _, s := range r.setups {
		if s.setup.key == key {
			return s
		}
	}
	return nil
}

func (r *report) stats(setupKey, faultKey string) stats {
	s := r.setup(setupKey)
	if s == nil {
		return stats{}
	}
	fr := s.faults[faultKey]
	if fr == nil {
		return stats{errs: nonEmpty(s.err)}
	}
	st := stats{measured: true, n: len(fr.rounds), errs: fr.errs, hasRound: len(fr.rounds) > 0}
	var outs, darks []time.Duration
	for _, rr := range fr.rounds {
		if !rr.ok {
			continue
		}
		st.recovered++
		outs = append(outs, rr.outage)
		darks = append(darks, rr.dark)
		if rr.served == "lb1" {
			st.servedBySelf++
		}
	}
	if len(outs) > 0 {
		st.median, st.min, st.max = median(outs), slices.Min(outs), slices.Max(outs)
		st.darkMedian = median(darks)
	}
	return st
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func secs(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	return d.String()
}

// cell renders one fault of one setup.
func (r *report) cell(setupKey, faultKey string) string {
	st := r.stats(setupKey, faultKey)
	if !st.measured || !st.hasRound {
		if len(st.errs) > 0 {
			return "not measured¹"
		}
		return "—"
	}
	var b strings.Builder
	switch {
	case st.recovered == 0:
		fmt.Fprintf(&b, "**no failover within %s** (n=%d)", secs(windowOf(r.cfg, faultKey)), st.n)
	default:
		fmt.Fprintf(&b, "**%s** (%d–%d, n=%d)", ms(st.median), st.min.Milliseconds(), st.max.Milliseconds(), st.recovered)
		if st.recovered < st.n {
			fmt.Fprintf(&b, "; no failover within %s in %d/%d", secs(windowOf(r.cfg, faultKey)), st.n-st.recovered, st.n)
		}
		if st.servedBySelf > 0 {
			fmt.Fprintf(&b, "; lb1 itself answered first in %d/%d", st.servedBySelf, st.recovered)
		}
	}
	if len(st.errs) > 0 {
		fmt.Fprintf(&b, "; %d problem(s)¹", len(st.errs))
	}
	return b.String()
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	mode := "full run"
	if r.quick {
		mode = "**quick run** (`make bench-quick`: reduced repetitions, figures not for judging)"
	}
	if r.cfg.footprintOnly {
		mode += "; **only the idle footprints** (`-only footprint`: no faults, reloads or micro-benchmarks)"
	}
	if r.cfg.inPlaceOnly {
		mode += "; **only the restart in place** (`-only inplace`)"
	}
	w("# Benchmarks\n\n")
	w("halo against the classic keepalived + HAProxy pair it replaces, measured in the same lab, in the same run.\n")
	w("Written by `make bench` (internal/cmd/bench); %s, %s.\n\n", mode, r.duration.Round(time.Second))
	m := r.machine
	w("| | |\n| --- | --- |\n")
	w("| date | %s |\n| machine | %s, %d cores, Linux %s, Debian %s |\n", m.date, orDash(m.cpu), m.cores, orDash(m.kernel), orDash(m.debian))
	w("| halo | `%s` (git describe), %s |\n| HAProxy | %s |\n| keepalived | %s |\n", orDash(m.commit), m.goVersion, orDash(m.haproxy), orDash(m.keepalived))
	w("| load average | %s at the start, %s at the end (/proc/loadavg; other work on the machine shows in the figures) |\n\n",
		orDash(loadTriple(m.loadStart)), orDash(loadTriple(m.loadEnd)))

	r.goals(w)
	r.failover(w)
	r.inPlaceSection(w)
	r.reloadSection(w)
	r.bgpSection(w)
	r.idleSection(w)
	r.goBenchSection(w)
	r.method(w)
	return b.String()
}

// loadTriple keeps the three load averages of a /proc/loadavg line.
func loadTriple(s string) string {
	f := strings.Fields(s)
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

type verdict struct{ goal, measured, result string }

// speedup compares two medians, the goal being fast at least times faster than slow. An
// outage under the client's resolution reads as 0 ms, so it is counted as pollEvery: the
// ratio is then a lower bound (a division by 0 ms once printed "6650.6×").
func speedup(slow, fast time.Duration, times float64) (measured, result string) {
	if fast < pollEvery {
		ratio := float64(slow) / float64(pollEvery)
		return fmt.Sprintf("classic %s / halo %s (under the client's %s resolution) > %.0f×", ms(slow), ms(fast), ms(pollEvery), ratio),
			metIf(ratio >= times)
	}
	ratio := float64(slow) / float64(fast)
	return fmt.Sprintf("classic %s / halo %s = %.1f×", ms(slow), ms(fast), ratio), metIf(ratio >= times)
}

func (r *report) goals(w func(string, ...any)) {
	var vs []verdict
	halo1, tut := r.stats("halo-1s", "haproxy-kill"), r.stats("classic-tutorial", "haproxy-kill")
	v := verdict{goal: "HAProxy SIGKILL on the master, advert 1 s: halo median ≤ 800 ms"}
	if halo1.recovered > 0 {
		v.measured = ms(halo1.median)
		v.result = metIf(halo1.median <= 800*time.Millisecond && halo1.recovered == halo1.n)
	} else {
		v.measured, v.result = notMeasured(halo1, maxWindow)
	}
	vs = append(vs, v)
	v = verdict{goal: "… and at least 5× faster than the classic pair (tutorial) in the same run"}
	if halo1.recovered > 0 && tut.recovered > 0 {
		v.measured, v.result = speedup(tut.median, halo1.median, 5)
	} else {
		v.measured, v.result = "—", "not measured"
	}
	vs = append(vs, v)
	halo100 := r.stats("halo-100ms", "haproxy-kill")
	v = verdict{goal: "HAProxy SIGKILL, advert 100 ms: halo median ≤ 150 ms (tuned classic: about 700 ms)"}
	if halo100.recovered > 0 {
		tw, tf := r.stats("classic-tuned-weight", "haproxy-kill"), r.stats("classic-tuned-fault", "haproxy-kill")
		v.measured = fmt.Sprintf("halo %s; tuned classic %s (weight −2), %s (FAULT)", ms(halo100.median), medOr(tw), medOr(tf))
		v.result = metIf(halo100.median <= 150*time.Millisecond && halo100.recovered == halo100.n)
	} else {
		v.measured, v.result = notMeasured(halo100, maxWindow)
	}
	vs = append(vs, v)
	hs, cs := r.stats("halo-1s", "haproxy-stop"), r.stats("classic-tutorial", "haproxy-stop")
	v = verdict{goal: "HAProxy SIGSTOP (hung): halo fails over (≤ 1.5 s at defaults) where the classic pair does not"}
	if hs.hasRound {
		classic := "classic (tutorial): " + stopSummary(cs, r.cfg.window)
		if hs.recovered > 0 {
			v.measured = fmt.Sprintf("halo %s in %d/%d; %s", ms(hs.median), hs.recovered-hs.servedBySelf, hs.n, classic)
		} else {
			v.measured = fmt.Sprintf("halo: no failover within %s; %s", secs(r.cfg.window), classic)
		}
		v.result = metIf(hs.recovered == hs.n && hs.servedBySelf == 0 && hs.median <= 1500*time.Millisecond)
	} else {
		v.measured, v.result = notMeasured(hs, r.cfg.window)
	}
	vs = append(vs, v)
	v = verdict{goal: fmt.Sprintf("zero failed requests across %d halo reloads, keep-alive clients included", r.cfg.reloads)}
	var haloReloads []reloadResult
	for _, rr := range r.reloads {
		if strings.HasPrefix(rr.mechanism, "halo") {
			haloReloads = append(haloReloads, rr)
		}
	}
	if len(haloReloads) == 2 {
		var parts []string
		ok := true
		for _, rr := range haloReloads {
			parts = append(parts, fmt.Sprintf("%s: %d failed of %d requests over %d reloads", rr.client, rr.failures, rr.requests, rr.reloads))
			ok = ok && rr.failures == 0 && rr.reloads == r.cfg.reloads && rr.err == ""
		}
		v.measured, v.result = strings.Join(parts, "; "), metIf(ok)
		if r.quick {
			v.result += fmt.Sprintf(" (quick: %d reloads, not 100)", r.cfg.reloads)
		}
	} else {
		v.measured, v.result = "—", "not measured"
	}
	vs = append(vs, v)
	halod, kad := r.idleOf("halod"), r.idleOf("keepalived")
	vs = append(vs, footprintGoals(halod, kad, r.idle50, r.ka50, r.binary)...)
	w("## Goals (issue 7 §3)\n\n")
	w("Goals the benchmark must show; they are not timed tests, and a miss is reported, not hidden.\n\n")
	w("| goal | measured | verdict |\n| --- | --- | --- |\n")
	for _, v := range vs {
		w("| %s | %s | %s |\n", v.goal, v.measured, v.result)
	}
	w("\n")
}

const mib = 1 << 20

// Footprint goals.
const (
	goalRSSKB  = 16 * 1024 // halod idle RSS, 1 instance
	goalBinary = 12 * mib  // stripped halod
	goalCPUPct = 0.5       // halod idle CPU, % of a core
)

func metIf(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**missed**"
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}

func (r *report) goBenchSection(w func(string, ...any)) {
	w("## Go micro-benchmarks\n\n")
	g := r.gobench
	if g.cmd == "" {
		w("Not run.\n\n")
		return
	}
	w("`%s`\n\n", g.cmd)
	if len(g.rows) > 0 {
		w("| package | benchmark | iterations | ns/op | B/op | allocs/op | reported by the benchmark |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, row := range g.rows {
			w("| %s | %s | %s | %s | %s | %s | %s |\n", row.pkg, row.name, row.iters, orDash(row.nsOp), orDash(row.bOp),
				orDash(row.allocsPerOp), orDash(strings.Join(row.other, ", ")))
		}
		w("\n")
	}
	if g.err != "" || len(g.problems) > 0 {
		w("Packages that did not build or whose benchmarks failed (%s):\n\n```\n%s\n```\n\n", orDash(g.err), strings.Join(g.problems, "\n"))
	}
}

func (r *report) method(w func(string, ...any)) {
	m := r.machine
	w("## How it is measured, and traps\n\n")
	w("- Labs follow DESIGN.md: network namespaces only, a bridge in its own namespace, documentation addresses (192.0.2.0/24, VIP 192.0.2.100), " +
		"two load balancers (lb1 priority 101, lb2 100), two HTTP backends and a client; every process is ended by the PID the harness recorded " +
		"and every namespace is deleted at the end, also after an error or Ctrl-C.\n")
	w("- Each classic node runs in a PID namespace of its own (`unshare --pid --fork --mount-proc`, with an init that reaps orphans): a network " +
		"namespace shares the host's PID space, so `killall -0 haproxy` in one node would see every node's HAProxy and never fail; a zombie " +
		"haproxy would also satisfy it.\n")
	pidof := "/usr/sbin/killall5"
	if m.pidof != "" {
		pidof = m.pidof
	}
	w("- **The `pidof haproxy` trap**: the tutorials' other spelling of the check never works under Debian 12's keepalived. keepalived resolves "+
		"`/usr/bin/pidof` to its target (on this machine `%s`), runs it as killall5, which does not behave as pidof, so the check fails from "+
		"the start and the weight is never applied. The classic setups here use `killall -0 haproxy` (package psmisc).", pidof)
	if r.pidofTrap != "" {
		w(" Measured in this run: %s.", r.pidofTrap)
	}
	w("\n")
	w("- Faults: HAProxy SIGKILL hits the master and every worker; SIGSTOP hits the workers, which then answer nothing (where the client "+
		"is not served within %s the row says \"no failover\", then the workers get SIGCONT; other faults get %s); the link is cut at the switch "+
		"(the master sees its carrier go); the daemon is halod or keepalived's parent process (SIGTERM), or every keepalived process at once "+
		"(SIGKILL, a crash). After a halod SIGKILL the HAProxy it ran is ended by its recorded PIDs before halod starts again; after a "+
		"keepalived fault keepalived is started again; classic HAProxy is started again by the harness (nothing restarts it on a classic node), "+
		"halo's by halod.\n", secs(r.cfg.window), secs(maxWindow))
	w("- A crashed keepalived (SIGKILL) leaves the VIP configured on the master, and HAProxy there keeps serving it until the backup " +
		"takes over and announces itself with gratuitous ARP; both nodes then hold the VIP until keepalived is back.\n")
	w("- \"dark\" adds up every stretch without an answer from the fault until the restore began (the outage counts only the first); " +
		"\"lb1 itself answered first\" means the faulted master recovered before a failover (for example halod restarting HAProxy).\n")
	w("- Reload loads are `labtool load` (Go net/http clients); halo reloads go through `haloctl reload`, the master-worker reload is `kill -USR2` " +
		"to HAProxy's master, the classic one starts `haproxy -D -p pidfile -sf <old pids>` inside the node's PID namespace.\n")
	w("- The binary is the halod the run used (`-bin`, bin/halod from `make bench`: `-trimpath -ldflags '-s -w'`); it is judged only when its ELF " +
		"sections show neither a symbol table nor DWARF.\n")
	w("- The 50-instance labs: halod's lab (its halo.yaml given 50 instances) and a classic lab (keepalived.conf with the same 50 instances), " +
		"one after the other; each is measured once lb1's log or status shows all 50 MASTER and lb2's all 50 BACKUP (and, for keepalived, lb1 " +
		"carries the 50 VIPs and lb2 none), within 60 s.\n")
	w("- Machine load: the run is sequential; other work on the machine during the run shows up in the figures.\n")
}
