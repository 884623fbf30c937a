package main

import (
	"fmt"
	"slices"
	"sort"
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
	r.reloadSection(w)
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
		ratio := float64(tut.median) / float64(max(halo1.median, time.Millisecond))
		v.measured = fmt.Sprintf("classic %s / halo %s = %.1f×", ms(tut.median), ms(halo1.median), ratio)
		v.result = metIf(ratio >= 5)
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

// idleOf returns the single-instance idle result whose first process's label starts with
// prefix (halod, keepalived), nil when there is none.
func (r *report) idleOf(prefix string) *idleResult {
	for _, ir := range r.idle {
		if len(ir.procs) > 0 && strings.HasPrefix(ir.procs[0].label, prefix) {
			return ir
		}
	}
	return nil
}

const mib = 1 << 20

// Footprint goals.
const (
	goalRSSKB  = 16 * 1024 // halod idle RSS, 1 instance
	goalBinary = 12 * mib  // stripped halod
	goalCPUPct = 0.5       // halod idle CPU, % of a core
)

// footprintGoals judges the idle footprint: halod at its defaults against the tutorial
// pair's whole master node (keepalived's parent, VRRP child and the check scripts it
// reaped), the stripped binary, and 50 instances on each side. Any argument may be nil
// (not measured).
func footprintGoals(halod, kad, halo50, ka50 *idleResult, bin binaryInfo) []verdict {
	var vs []verdict
	v := verdict{goal: "halod idle CPU ≤ keepalived's whole master node (tutorial pair, same run: parent + VRRP child + its check scripts)"}
	if halod != nil && kad != nil {
		hc, kc := halod.cpuPercent(), kad.cpuPercent()
		v.measured = fmt.Sprintf("halod %.3f %% vs keepalived %.3f %% (%.2f vs %.2f CPU-s, %.2f of it check scripts)",
			hc, kc, cpuOf(halod), cpuOf(kad), childOf(kad))
		v.result = metIf(hc <= kc)
	} else {
		v.measured, v.result = "—", "**not measured**"
	}
	vs = append(vs, v)
	v = verdict{goal: fmt.Sprintf("halod idle CPU ≤ %.1f %% of a core", goalCPUPct)}
	if halod != nil {
		v.measured = fmt.Sprintf("%.3f %% (%.2f CPU-s in %s)", halod.cpuPercent(), cpuOf(halod), halod.window.Round(time.Second))
		v.result = metIf(halod.cpuPercent() <= goalCPUPct)
	} else {
		v.measured, v.result = "—", "**not measured**"
	}
	vs = append(vs, v)
	v = verdict{goal: fmt.Sprintf("halod idle RSS ≤ %d MiB (1 instance, advert 1 s), and how far from keepalived's master node", goalRSSKB/1024)}
	if halod != nil {
		rss, _ := halod.total()
		v.measured = fmt.Sprintf("%.1f MiB", float64(rss)/1024)
		if kad != nil {
			krss, _ := kad.total()
			once := kad.nodeOnce("")
			v.measured += fmt.Sprintf("; keepalived's master node %.1f MiB (%s): halod %+.1f MiB, %.2f×; "+
				"counting the pages keepalived's parent and child share once, %.1f MiB: halod %+.1f MiB, %.2f×",
				float64(krss)/1024, rssParts(kad), float64(rss-krss)/1024, float64(rss)/float64(max(krss, 1)),
				float64(once)/1024, float64(rss-once)/1024, float64(rss)/float64(max(once, 1)))
		}
		v.result = metIf(rss <= goalRSSKB)
	} else {
		v.measured, v.result = "—", "**not measured**"
	}
	vs = append(vs, v)
	v = verdict{goal: fmt.Sprintf("stripped halod binary ≤ %d MiB", goalBinary/mib)}
	switch {
	case bin.err != "":
		v.measured, v.result = "not measured: "+oneLine(bin.err), "**not measured**"
	case !bin.strip:
		v.measured, v.result = fmt.Sprintf("%.1f MiB, but not stripped (built without `-ldflags '-s -w'`; `make bench` builds it stripped)", float64(bin.size)/mib), "**not measured**"
	default:
		v.measured, v.result = fmt.Sprintf("%.1f MiB (%d bytes, `-s -w`)", float64(bin.size)/mib, bin.size), metIf(bin.size <= goalBinary)
	}
	vs = append(vs, v)
	v = verdict{goal: "50 instances at 100 ms adverts: halod's CPU ≤ keepalived's, on the master and on the backup (same run)"}
	if halo50 != nil && ka50 != nil {
		ok := true
		var parts []string
		for _, n := range []struct{ node, role string }{{"lb1", "master"}, {"lb2", "backup"}} {
			hc, kc := halo50.nodeCPUPercent(n.node), ka50.nodeCPUPercent(n.node)
			parts = append(parts, fmt.Sprintf("%s: halod %.3f %% vs keepalived %.3f %%", n.role, hc, kc))
			ok = ok && hc <= kc
		}
		v.measured, v.result = strings.Join(parts, "; "), metIf(ok)
	} else {
		v.measured, v.result = "—", "**not measured**"
	}
	vs = append(vs, v)
	return vs
}

func cpuOf(r *idleResult) float64 {
	_, cpu := r.total()
	return cpu
}

// childOf is the CPU the group's processes' reaped children used (check scripts).
func childOf(r *idleResult) float64 { return childOfNode(r, "") }

// childOfNode is childOf for the processes on node ("": all of them).
func childOfNode(r *idleResult, node string) float64 {
	var c float64
	for _, p := range r.procs {
		if node == "" || p.node == node {
			c += p.childSec
		}
	}
	return c
}

// countOn counts the group's processes on node.
func countOn(r *idleResult, node string) int {
	n := 0
	for _, p := range r.procs {
		if p.node == node {
			n++
		}
	}
	return n
}

// nodesOf lists the nodes of a group's processes, in order.
func nodesOf(r *idleResult) []string {
	var nodes []string
	for _, p := range r.procs {
		if !slices.Contains(nodes, p.node) {
			nodes = append(nodes, p.node)
		}
	}
	return nodes
}

// rssParts names the RSS of each process of a group: "parent 9.6 + VRRP child 5.7".
func rssParts(r *idleResult) string {
	var parts []string
	for _, p := range r.procs {
		label := p.label
		if i := strings.LastIndexByte(label, '('); i >= 0 {
			label = strings.TrimSuffix(label[i+1:], ")")
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", label, float64(p.rssKB)/1024))
	}
	return strings.Join(parts, " + ")
}

func metIf(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**missed**"
}

func medOr(s stats) string {
	if s.recovered == 0 {
		return "—"
	}
	return ms(s.median)
}

func stopSummary(s stats, window time.Duration) string {
	if !s.hasRound {
		return "not measured"
	}
	if s.recovered == 0 {
		return fmt.Sprintf("no failover within %s in %d/%d", secs(window), s.n, s.n)
	}
	return fmt.Sprintf("%s, no failover in %d/%d", ms(s.median), s.n-s.recovered, s.n)
}

func notMeasured(s stats, window time.Duration) (string, string) {
	if s.hasRound && s.recovered == 0 {
		return fmt.Sprintf("no failover within %s (n=%d)", secs(window), s.n), "**missed**"
	}
	if len(s.errs) > 0 {
		return "not measured: " + oneLine(s.errs[0]), "**not measured**"
	}
	return "—", "**not measured**"
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}

func (r *report) failover(w func(string, ...any)) {
	w("## Failover\n\n")
	w("Client-visible outage: a client namespace polls `http://%s/` every 10 ms with a 100 ms timeout and a fresh "+
		"connection per request; the outage is the gap from its last success before the fault to its first success after it. "+
		"**median** (min–max, n rounds that recovered), in ms. Each fault hits the master (lb1) of a two-node pair; between rounds "+
		"the pair is restored to its initial state (lb1 MASTER and healthy, alone holding the VIP, lb2 BACKUP, the client served by lb1 "+
		"for 1.5 s). One lab per setup, all in this run.\n\n", "192.0.2.100")
	cols := r.setups
	w("| fault |")
	for _, s := range cols {
		w(" %s |", s.setup.title)
	}
	w("\n| --- |")
	for range cols {
		w(" --- |")
	}
	w("\n")
	for _, f := range faultList() {
		w("| %s |", f.title)
		for _, s := range cols {
			w(" %s |", r.cell(s.setup.key, f.key))
		}
		w("\n")
	}
	w("\nSetups:\n\n")
	for _, s := range cols {
		w("- **%s** — %s.\n", s.setup.title, s.setup.desc)
	}
	for _, s := range cols {
		for _, n := range s.notes {
			w("\nObserved, %s: %s.\n", s.setup.title, n)
		}
	}
	var notes []string
	for _, s := range cols {
		if s.err != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", s.setup.title, oneLine(s.err)))
		}
		for _, f := range faultList() {
			if fr := s.faults[f.key]; fr != nil {
				for _, e := range fr.errs {
					notes = append(notes, fmt.Sprintf("%s, %s: %s", s.setup.title, f.key, oneLine(e)))
				}
			}
		}
	}
	if len(notes) > 0 {
		w("\n¹ Not measured, or problems in a round (a round that measured its fault but could not be undone still counts):\n\n")
		for _, n := range notes {
			w("- %s\n", n)
		}
	}
	w("\nEvery round, in ms (outage / every dark stretch until the restore began, and who answered first):\n\n")
	w("| setup | fault | rounds |\n| --- | --- | --- |\n")
	for _, s := range cols {
		for _, f := range faultList() {
			fr := s.faults[f.key]
			if fr == nil || len(fr.rounds) == 0 {
				continue
			}
			var parts []string
			for _, rr := range fr.rounds {
				if rr.ok {
					parts = append(parts, fmt.Sprintf("%d/%d %s", rr.outage.Milliseconds(), rr.dark.Milliseconds(), rr.served))
				} else {
					parts = append(parts, "none")
				}
			}
			w("| %s | %s | %s |\n", s.setup.key, f.key, strings.Join(parts, ", "))
		}
	}
	w("\n")
}

func (r *report) reloadSection(w func(string, ...any)) {
	w("## Reloads under load\n\n")
	w("Requests failed while the master's HAProxy is reloaded %d times, one after the other with %s between them, "+
		"under a bounded load from the client: 4 concurrent clients, either keeping connections alive or opening one per request. "+
		"Every reload changes a comment in haproxy.cfg. All rows use the same haproxy.cfg (HAProxy 2.6, `option idle-close-on-response`).\n\n",
		r.cfg.reloads, reloadPause)
	if len(r.reloads) == 0 {
		w("Not measured.\n\n")
		return
	}
	w("| reload | clients | reloads | requests | failed | errors |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, rr := range r.reloads {
		errs := errorsString(rr.errors)
		if rr.err != "" {
			errs += " — " + oneLine(rr.err)
		}
		w("| %s | %s | %d | %d | **%d** | %s |\n", rr.mechanism, rr.client, rr.reloads, rr.requests, rr.failures, orDash(errs))
	}
	w("\n")
}

func errorsString(m map[string]uint64) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (r *report) idleSection(w func(string, ...any)) {
	w("## Idle footprint\n\n")
	w("RSS (largest VmRSS sampled each second; a node's sum counts the pages keepalived's parent and forked VRRP child share, their libraries "+
		"and the copy-on-write pages of the fork, once per process), USS (largest Private_Clean + Private_Dirty of /proc/PID/smaps_rollup: the pages no "+
		"other process maps), \"once\" (a node's memory with shared pages counted once: the RSS of its largest process plus the USS of the others; "+
		"halod is one static process, so its RSS) "+
		"and CPU seconds (utime + stime of the process and cutime + cstime, the children it reaped; /proc/PID/stat) over an idle window of %s: no fault, no client. "+
		"keepalived's check scripts live a few milliseconds each and are reaped by the VRRP child that runs them, so their CPU is in the child's "+
		"cutime + cstime (the \"children CPU s\" column). CPU times count in clock ticks of 10 ms per process: over %s one tick is %.3f %% of a core, "+
		"so a short (quick) window cannot tell keepalived's idle node from zero. HAProxy itself is not counted on either side.\n\n",
		r.cfg.idle, r.cfg.idle, 100/float64(clkTck)/max(r.cfg.idle.Seconds(), 1))
	r.idleVersus(w)
	r.fiftyVersus(w)
	all := slices.Clone(r.idle)
	for _, ir := range []*idleResult{r.idle50, r.ka50} {
		if ir != nil {
			all = append(all, ir)
		}
	}
	if len(all) > 0 {
		w("Every process:\n\n")
		w("| what | process | RSS MiB | USS MiB | CPU s | children CPU s | %% of a core |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, ir := range all {
			for _, p := range ir.procs {
				w("| %s | %s | %.1f | %.1f | %.2f | %.2f | %.3f |\n", ir.title, p.label, float64(p.rssKB)/1024, float64(p.ussKB)/1024,
					p.cpuSec, p.childSec, 100*p.cpuSec/ir.window.Seconds())
			}
			nodes := nodesOf(ir)
			for _, node := range nodes {
				if n := countOn(ir, node); n > 1 {
					rss, cpu := ir.nodeTotal(node)
					w("| %s | **%s, %d processes** (once: %.1f MiB) | **%.1f** | **%.1f** | **%.2f** | **%.2f** | **%.3f** |\n", ir.title, node, n,
						float64(ir.nodeOnce(node))/1024, float64(rss)/1024, float64(ir.nodeUSS(node))/1024, cpu, childOfNode(ir, node),
						ir.nodeCPUPercent(node))
				}
			}
			if len(nodes) > 1 {
				rss, cpu := ir.total()
				w("| %s | **both nodes** | **%.1f** | **%.1f** | **%.2f** | **%.2f** | **%.3f** |\n", ir.title, float64(rss)/1024,
					float64(ir.nodeUSS(""))/1024, cpu, childOf(ir), ir.cpuPercent())
			}
		}
	} else {
		w("Not measured.\n")
	}
	if r.idle50Err != "" {
		w("\nhalod with 50 instances: not measured: %s\n", oneLine(r.idle50Err))
	}
	if r.ka50Err != "" {
		w("\nkeepalived with 50 instances: not measured: %s\n", oneLine(r.ka50Err))
	}
	w("\n")
}

// idleVersus sets halod at its defaults beside the tutorial pair's whole master node.
func (r *report) idleVersus(w func(string, ...any)) {
	halod, kad := r.idleOf("halod"), r.idleOf("keepalived")
	if halod == nil || kad == nil {
		return
	}
	w("halod at its defaults against the classic tutorial pair's whole master node, in this run:\n\n")
	w("| | halod (1 instance, advert 1 s, HAProxy check every 200 ms) | keepalived master node (parent + VRRP child + check scripts; 1 instance, advert_int 1, `killall -0 haproxy` every 2 s) |\n")
	w("| --- | --- | --- |\n")
	hr, _ := halod.total()
	kr, _ := kad.total()
	w("| CPU, %% of a core | **%.3f** | **%.3f** |\n", halod.cpuPercent(), kad.cpuPercent())
	w("| CPU s in the window (of it reaped children) | %.2f (%.2f) | %.2f (%.2f) |\n", cpuOf(halod), childOf(halod), cpuOf(kad), childOf(kad))
	w("| RSS MiB | **%.1f** | **%.1f** (%s) |\n", float64(hr)/1024, float64(kr)/1024, rssParts(kad))
	w("| MiB with shared pages counted once | %.1f | %.1f |\n\n", float64(halod.nodeOnce(""))/1024, float64(kad.nodeOnce(""))/1024)
}

// fiftyVersus sets halod's and keepalived's 50-instance nodes side by side.
func (r *report) fiftyVersus(w func(string, ...any)) {
	if r.idle50 == nil && r.ka50 == nil {
		return
	}
	w("50 VRRPv3 instances at 100 ms adverts on each node (the same VRIDs, VIPs, interface and priorities 101/100 on both sides; "+
		"%s), whole nodes side by side:\n\n", fiftyTracking)
	w("| node | halod CPU %% of a core | halod RSS MiB | keepalived CPU %% of a core | keepalived RSS MiB (once) |\n| --- | --- | --- | --- | --- |\n")
	for _, n := range []struct{ node, title string }{{"lb1", "lb1, master of all 50"}, {"lb2", "lb2, backup of all 50"}} {
		hc, hr, kc, kr := "—", "—", "—", "—"
		if r.idle50 != nil {
			rss, _ := r.idle50.nodeTotal(n.node)
			hc, hr = fmt.Sprintf("**%.3f**", r.idle50.nodeCPUPercent(n.node)), fmt.Sprintf("%.1f", float64(rss)/1024)
		}
		if r.ka50 != nil {
			rss, _ := r.ka50.nodeTotal(n.node)
			kc = fmt.Sprintf("**%.3f**", r.ka50.nodeCPUPercent(n.node))
			kr = fmt.Sprintf("%.1f (%.1f)", float64(rss)/1024, float64(r.ka50.nodeOnce(n.node))/1024)
		}
		w("| %s | %s | %s | %s | %s |\n", n.title, hc, hr, kc, kr)
	}
	w("\n")
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
