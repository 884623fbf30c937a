package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/halo-lb/halo/supervisor"
)

// event is one line of `haloctl watch`.
type event struct {
	// Subject is "haproxy", "node", "halod", a sync group or an instance.
	Subject string `json:"subject"`
	// Kind is state, vips, master, priority, resigned, maintenance, faults, health,
	// reload, restart, config, instance or reachable.
	Kind    string `json:"kind"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	Message string `json:"message"`
}

func ev(subject, kind, from, to, format string, args ...any) event {
	return event{Subject: subject, Kind: kind, From: from, To: to, Message: fmt.Sprintf(format, args...)}
}

// initial describes a first snapshot, one event per part.
func initial(st *supervisor.Status) []event {
	h := st.HAProxy
	out := []event{ev("haproxy", "health", "", h.Verdict(), "haproxy %s%s", h.Verdict(), suffix(h.Reason))}
	if st.Maintenance {
		out = append(out, ev("node", "maintenance", "", "on", "node in maintenance"))
	}
	if !st.ConfigValid {
		out = append(out, ev("node", "config", "", "false", "halo.yaml on disk refused at the last reload (haloctl validate says why)"))
	}
	for _, in := range st.Instances {
		out = append(out, ev(in.Name, "state", "", in.State, "%s %s%s", in.Name, in.State, instanceDetail(in)))
	}
	for _, g := range st.SyncGroups {
		out = append(out, ev(g.Name, "state", "", g.State, "%s %s (sync group)", g.Name, g.State))
	}
	return out
}

func suffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// instanceDetail is what follows an instance's state on a line.
func instanceDetail(in supervisor.InstanceStatus) string {
	d := []string{fmt.Sprintf("prio %d", in.EffectivePriority)}
	if in.HoldsVIPs {
		d = append(d, "holds "+strings.Join(in.VIPs, " "))
	}
	if in.MasterSeen != "" && in.State != "MASTER" {
		d = append(d, fmt.Sprintf("master %s prio %d", in.MasterSeen, in.MasterPriority))
	}
	if in.Resigned {
		d = append(d, "RESIGNED")
	}
	if len(in.Faults) > 0 {
		d = append(d, "fault: "+strings.Join(in.Faults, "; "))
	}
	return " (" + strings.Join(d, ", ") + ")"
}

// changes lists what differs from prev to cur, the order a reader wants: HAProxy, the
// node, then each instance.
func changes(prev, cur *supervisor.Status) []event {
	var out []event
	ph, ch := prev.HAProxy, cur.HAProxy
	if ph.Verdict() != ch.Verdict() || ph.Reason != ch.Reason {
		out = append(out, ev("haproxy", "health", ph.Verdict(), ch.Verdict(), "haproxy %s -> %s%s", ph.Verdict(), ch.Verdict(), suffix(ch.Reason)))
	}
	if ch.PID != ph.PID && ch.PID > 0 && ph.PID > 0 {
		out = append(out, ev("haproxy", "restart", fmt.Sprint(ph.PID), fmt.Sprint(ch.PID), "haproxy pid %d -> %d (restarts %d)", ph.PID, ch.PID, ch.Restarts))
	}
	if r := ch.LastReload; r != nil && (ph.LastReload == nil || !r.At.Equal(ph.LastReload.At)) {
		out = append(out, ev("haproxy", "reload", "", r.Result, "haproxy reload %s in %.0f ms%s", r.Result, r.Seconds*1000, suffix(r.Message)))
	}
	if prev.Maintenance != cur.Maintenance {
		out = append(out, ev("node", "maintenance", onOff(prev.Maintenance), onOff(cur.Maintenance), "node maintenance %s", onOff(cur.Maintenance)))
	}
	if prev.ConfigValid != cur.ConfigValid {
		msg := "halo.yaml on disk valid again"
		if !cur.ConfigValid {
			msg = "halo.yaml on disk refused at the last reload (haloctl validate says why)"
		}
		out = append(out, ev("node", "config", fmt.Sprint(prev.ConfigValid), fmt.Sprint(cur.ConfigValid), "%s", msg))
	}
	before := map[string]supervisor.InstanceStatus{}
	for _, in := range prev.Instances {
		before[in.Name] = in
	}
	for _, in := range cur.Instances {
		was, ok := before[in.Name]
		delete(before, in.Name)
		if !ok {
			out = append(out, ev(in.Name, "instance", "", in.State, "%s added: %s%s", in.Name, in.State, instanceDetail(in)))
			continue
		}
		out = append(out, instanceChanges(was, in)...)
	}
	for _, in := range prev.Instances {
		if _, gone := before[in.Name]; gone {
			out = append(out, ev(in.Name, "instance", in.State, "", "%s removed", in.Name))
		}
	}
	groups := map[string]string{}
	for _, g := range prev.SyncGroups {
		groups[g.Name] = g.State
	}
	for _, g := range cur.SyncGroups {
		if was, ok := groups[g.Name]; ok && was != g.State {
			out = append(out, ev(g.Name, "state", was, g.State, "%s %s -> %s (sync group)", g.Name, was, g.State))
		}
	}
	return out
}

func instanceChanges(was, in supervisor.InstanceStatus) []event {
	var out []event
	n := in.Name
	if was.State != in.State {
		out = append(out, ev(n, "state", was.State, in.State, "%s %s -> %s%s", n, was.State, in.State, instanceDetail(in)))
	}
	if was.HoldsVIPs != in.HoldsVIPs {
		if in.HoldsVIPs {
			out = append(out, ev(n, "vips", "released", "held", "%s holds %s now", n, strings.Join(in.VIPs, " ")))
		} else {
			out = append(out, ev(n, "vips", "held", "released", "%s released %s", n, strings.Join(in.VIPs, " ")))
		}
	}
	// The master as a backup hears it; a node's own address while MASTER is in its state line.
	if in.State != "MASTER" && (was.MasterSeen != in.MasterSeen || was.MasterPriority != in.MasterPriority) {
		switch {
		case in.MasterSeen == "" && was.State == "MASTER":
			// This node left MASTER: its state line says so; no other master heard yet.
		case in.MasterSeen == "":
			out = append(out, ev(n, "master", was.MasterSeen, "", "%s no master heard", n))
		default:
			out = append(out, ev(n, "master", was.MasterSeen, in.MasterSeen, "%s master %s prio %d", n, in.MasterSeen, in.MasterPriority))
		}
	}
	if was.EffectivePriority != in.EffectivePriority {
		out = append(out, ev(n, "priority", fmt.Sprint(was.EffectivePriority), fmt.Sprint(in.EffectivePriority), "%s priority %d -> %d (base %d)", n, was.EffectivePriority, in.EffectivePriority, in.Priority))
	}
	if was.Resigned != in.Resigned {
		if in.Resigned {
			out = append(out, ev(n, "resigned", "false", "true", "%s RESIGNED: stays BACKUP until its master fails or `haloctl resume %s`", n, n))
		} else {
			out = append(out, ev(n, "resigned", "true", "false", "%s resignation over: competes for MASTER again", n))
		}
	}
	if !slices.Equal(was.Faults, in.Faults) {
		if len(in.Faults) == 0 {
			out = append(out, ev(n, "faults", strings.Join(was.Faults, "; "), "", "%s faults cleared", n))
		} else {
			out = append(out, ev(n, "faults", strings.Join(was.Faults, "; "), strings.Join(in.Faults, "; "), "%s fault: %s", n, strings.Join(in.Faults, "; ")))
		}
	}
	return out
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
