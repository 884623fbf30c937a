package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

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

func (r *report) failover(w func(string, ...any)) {
	w("## Failover\n\n")
	w("Client-visible outage: a client namespace polls `http://%s/` every 10 ms with a 100 ms timeout and a fresh "+
		"connection per request; the outage is the gap from its last success before the fault to its first success after it. "+
		"**median** (min–max, n rounds that recovered), in ms. Each fault hits the master (lb1) of a two-node pair; between rounds "+
		"the pair is restored to its initial state (lb1 MASTER and healthy, alone holding the VIP, lb2 BACKUP, the client served by lb1 "+
		"for 1.5 s), and the fault comes at a random moment within the next 2 s, so that the rounds sample every phase of "+
		"the master's checks and adverts instead of the one their return to steady is paced at. One lab per setup, all in this run.\n\n", "192.0.2.100")
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
