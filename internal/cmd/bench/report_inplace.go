package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// inPlaceSection reports the restart in place: HAProxy SIGKILLed on the master under a
// load of new connections, halod at its defaults.
func (r *report) inPlaceSection(w func(string, ...any)) {
	if r.inPlace == nil && r.inPlaceErr == "" {
		return
	}
	w("## HAProxy crash: restart in place\n\n")
	w("halo at its defaults (advert 1 s, `restart_in_place` on: halod holds copies of HAProxy's listening sockets and restarts a crashed "+
		"HAProxy at once on them). The client runs `labtool load` against the VIP: %d clients, one request per new connection, 5 s timeout; "+
		"after a second of load, HAProxy's master and workers on lb1 get SIGKILL, and the load goes on for %s. A request waited when it "+
		"was answered though still pending once the killed processes were gone and before the first request begun after that was answered "+
		"(only a restarted HAProxy could take it); its added latency is its duration less the median request of the second before the kill. The rounds follow each other within `restart_in_place.window` (60 s), so the lab sets "+
		"`max_crashes` to the number of rounds (default 3: a 4th crash within the window is a crash loop and fails over, by design).\n\n",
		inPlaceClients, secs(inPlaceWatch))
	res := r.inPlace
	if res == nil || res.rounds == 0 {
		w("Not measured: %s\n\n", oneLine(r.inPlaceErr))
		return
	}
	errs := "none"
	if len(res.errs) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(res.errs)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, res.errs[k]))
		}
		errs = strings.Join(parts, ", ")
	}
	w("| %d rounds | measured | goal |\n| --- | --- | --- |\n", res.rounds)
	w("| new connections failed (begun once the killed processes were gone) | **%d of %d** (%s) | 0 of ≥ 1,000 |\n", res.freshFailed, res.fresh, errs)
	w("| added latency of the requests that waited through the restart, p50 / p99 | %s / %s (%d requests; baseline request %s) | |\n",
		msf(quantile(res.added, 0.5)), msf(quantile(res.added, 0.99)), len(res.added), msf(res.baseline))
	w("| HAProxy down: killed processes gone → first new connection answered, median / max | %s / %s | |\n", msf(quantile(res.down, 0.5)), msf(slices.Max(append(res.down, 0))))
	w("| VIP moves | **%d** in %d rounds | 0 |\n", res.moves, res.rounds)
	w("| established connections lost (requests begun before the killed processes were gone that failed: accepted by HAProxy, they die with it) | %d | |\n", res.lost)
	w("| restarts in place (lb1's `restarts_in_place`) | %d | |\n\n", res.restarts)
	if r.inPlaceErr != "" {
		w("The run stopped early: %s\n\n", oneLine(r.inPlaceErr))
	}
}

// msf prints a duration in milliseconds with one decimal: the waits are tens of ms.
func msf(d interface{ Seconds() float64 }) string { return fmt.Sprintf("%.1f ms", d.Seconds()*1000) }
