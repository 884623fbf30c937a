package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

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

// footprintGoals judges the idle footprint: halod at its defaults against the tutorial
// pair's whole master node (keepalived's parent, VRRP child and the check scripts it
// reaped), the stripped binary, and 50 instances on each side. Any argument may be nil
// (not measured).
func footprintGoals(halod, kad, halo50, ka50 *idleResult, bin binaryInfo) []verdict {
	var vs []verdict
	v := verdict{goal: "halod idle CPU ≤ keepalived's whole master node (tutorial pair, same run: parent + VRRP child + its check scripts)"}
	if halod != nil && kad != nil {
		hc, kc := halod.cpuPercent(), kad.cpuPercent()
		v.measured = fmt.Sprintf("halod %.3f %% vs keepalived %.3f %% (%.3f vs %.3f CPU-s, %.2f of it check scripts)",
			hc, kc, cpuOf(halod), cpuOf(kad), childOf(kad))
		v.result = metIf(hc <= kc)
	} else {
		v.measured, v.result = "—", "**not measured**"
	}
	vs = append(vs, v)
	v = verdict{goal: fmt.Sprintf("halod idle CPU ≤ %.1f %% of a core", goalCPUPct)}
	if halod != nil {
		v.measured = fmt.Sprintf("%.3f %% (%.3f CPU-s in %s)", halod.cpuPercent(), cpuOf(halod), halod.window.Round(time.Second))
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

func (r *report) idleSection(w func(string, ...any)) {
	w("## Idle footprint\n\n")
	w("RSS (largest VmRSS sampled each second; a node's sum counts the pages keepalived's parent and forked VRRP child share, their libraries "+
		"and the copy-on-write pages of the fork, once per process), USS (largest Private_Clean + Private_Dirty of /proc/PID/smaps_rollup: the pages no "+
		"other process maps), \"once\" (a node's memory with shared pages counted once: the RSS of its largest process plus the USS of the others; "+
		"halod is one static process, so its RSS) "+
		"and CPU seconds over an idle window of %s: no fault, no client. A process's own CPU is the scheduler's exact runtime of its threads "+
		"(/proc/PID/task/TID/schedstat, in nanoseconds); the children it reaped count as cutime + cstime (/proc/PID/stat, in clock ticks of 10 ms: "+
		"over %s one tick is %.3f %% of a core). keepalived's check scripts live a few milliseconds each and are reaped by the VRRP child that runs them, "+
		"so their CPU is in the child's cutime + cstime (the \"children CPU s\" column). HAProxy itself is not counted on either side.\n\n",
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
				w("| %s | %s | %.1f | %.1f | %.3f | %.2f | %.3f |\n", ir.title, p.label, float64(p.rssKB)/1024, float64(p.ussKB)/1024,
					p.cpuSec, p.childSec, 100*p.cpuSec/ir.window.Seconds())
			}
			nodes := nodesOf(ir)
			for _, node := range nodes {
				if n := countOn(ir, node); n > 1 {
					rss, cpu := ir.nodeTotal(node)
					w("| %s | **%s, %d processes** (once: %.1f MiB) | **%.1f** | **%.1f** | **%.3f** | **%.2f** | **%.3f** |\n", ir.title, node, n,
						float64(ir.nodeOnce(node))/1024, float64(rss)/1024, float64(ir.nodeUSS(node))/1024, cpu, childOfNode(ir, node),
						ir.nodeCPUPercent(node))
				}
			}
			if len(nodes) > 1 {
				rss, cpu := ir.total()
				w("| %s | **both nodes** | **%.1f** | **%.1f** | **%.3f** | **%.2f** | **%.3f** |\n", ir.title, float64(rss)/1024,
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
	w("| CPU s in the window (of it reaped children) | %.3f (%.2f) | %.3f (%.2f) |\n", cpuOf(halod), childOf(halod), cpuOf(kad), childOf(kad))
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
