// Package metrics exports halo's status snapshot to Prometheus. It keeps no state of its
// own: every scrape reads the supervisor's snapshot, so haloctl and /metrics can never
// disagree and nothing is counted twice.
package metrics

import (
	"runtime"
	"sort"

	"github.com/halo-lb/halo/supervisor"
)

// Source gives the current snapshot; *supervisor.Supervisor is one.
type Source interface {
	Status() supervisor.Status
}

// states are the VRRP states exported one-hot, as keepalived names them.
func states() []string { return []string{"INIT", "BACKUP", "MASTER", "FAULT"} }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// haloFamilies turns one snapshot into halo's metric families (BGP's are bgpFamilies').
func haloFamilies(st supervisor.Status) []family {
	d := func(name, typ, help string) *family {
		return &family{name: "halo_" + name, typ: typ, help: help}
	}
	buildInfo := d("build_info", typeGauge, "halod's version, as labels; always 1.")
	configValid := d("config_valid", typeGauge, "1 when the running configuration loaded and validated.")
	maintenance := d("maintenance", typeGauge, "1 while the node is in maintenance (kept out of MASTER).")
	nodeInfo := d("node_info", typeGauge, "The node's place in halo.yaml, as labels (cluster: its cluster name, empty when none is set); always 1. The alert rules group by its cluster label.")
	haproxyUp := d("haproxy_up", typeGauge, "1 when HAProxy runs (managed) or answers (external).")
	haproxyHealthy := d("haproxy_healthy", typeGauge, "1 when HAProxy passed its health check (after rise/fall).")
	haproxyDegraded := d("haproxy_degraded", typeGauge, "1 when HAProxy serves but a backend is under its minimum (check.backend_severity degraded).")
	haproxyRestarts := d("haproxy_restarts_total", typeCounter, "Restarts of a managed HAProxy after it exited.")
	haproxyReload := d("haproxy_reloads_total", typeCounter, "HAProxy reload attempts by result.")
	reloadTime := d("haproxy_last_reload_timestamp_seconds", typeGauge, "Unix time of the last reload attempt.")
	reloadDuration := d("haproxy_last_reload_duration_seconds", typeGauge, "Duration of the last reload attempt, validation included.")
	checkDuration := d("haproxy_check_duration_seconds", typeHistogram, "Duration of HAProxy health checks.")
	checkFailures := d("haproxy_check_failures_total", typeCounter, "Failed HAProxy health checks by kind.")
	lastCheck := d("haproxy_last_check_duration_seconds", typeGauge, "Duration of the last HAProxy health check.")
	state := d("vrrp_state", typeGauge, "VRRP instance state, one series per state: 1 for the current one.")
	priority := d("vrrp_priority", typeGauge, "Configured base priority.")
	effPriority := d("vrrp_effective_priority", typeGauge, "Priority advertised now (after tracking, maintenance).")
	transitions := d("vrrp_transitions_total", typeCounter, "State changes by from and to.")
	sent := d("vrrp_adverts_sent_total", typeCounter, "VRRP advertisements sent.")
	received := d("vrrp_adverts_received_total", typeCounter, "Valid VRRP advertisements received for this instance.")
	invalid := d("vrrp_invalid_packets_total", typeCounter, "Packets dropped as invalid, by reason.")
	vipsHeld := d("vrrp_vips_held", typeGauge, "VIPs this node holds now for the instance.")
	vipsConfigured := d("vrrp_vips", typeGauge, "VIPs configured for the instance.")
	hookRuns := d("vrrp_notify_hooks_total", typeCounter, "Notify hooks started.")
	hookFailures := d("vrrp_notify_hook_failures_total", typeCounter, "Notify hooks that failed or were killed at their timeout.")
	vipErrors := d("vrrp_vip_errors_total", typeCounter, "Failed additions or removals of the instance's VIPs.")
	vipRestores := d("vrrp_vip_restores_total", typeCounter, "Times the master found its VIPs removed behind its back and put them back.")
	sendErrors := d("vrrp_send_errors_total", typeCounter, "Adverts that could not be sent.")

	buildInfo.add(1, "version", st.Version, "goversion", runtime.Version())
	configValid.add(b2f(st.ConfigValid), "file", st.ConfigFile)
	maintenance.add(b2f(st.Maintenance))
	nodeInfo.add(1, "cluster", st.Cluster)

	h := st.HAProxy
	haproxyUp.add(b2f(h.Running))
	haproxyHealthy.add(b2f(h.Healthy))
	haproxyDegraded.add(b2f(h.Degraded))
	haproxyRestarts.add(float64(h.Restarts))
	for _, r := range sortedKeys(h.ReloadsByResult) {
		haproxyReload.add(float64(h.ReloadsByResult[r]), "result", r)
	}
	if r := h.LastReload; r != nil {
		reloadTime.add(float64(r.At.UnixNano()) / 1e9)
		reloadDuration.add(r.Seconds)
	}
	lastCheck.add(h.LastCheckSeconds)
	for _, k := range sortedKeys(h.CheckFailures) {
		checkFailures.add(float64(h.CheckFailures[k]), "kind", k)
	}
	// Counts are cumulative already (supervisor.Histogram), as the format wants them.
	if hist := h.CheckDuration; hist != nil && len(hist.Bounds) == len(hist.Counts) {
		s := series{count: hist.Count, sum: hist.Sum}
		for i, b := range hist.Bounds {
			s.buckets = append(s.buckets, bucket{le: b, count: hist.Counts[i]})
		}
		checkDuration.series = append(checkDuration.series, s)
	}

	for _, in := range st.Instances {
		for _, s := range states() {
			state.add(b2f(in.State == s), "vrrp_instance", in.Name, "state", s)
		}
		priority.add(float64(in.Priority), "vrrp_instance", in.Name)
		effPriority.add(float64(in.EffectivePriority), "vrrp_instance", in.Name)
		for _, tc := range allTransitions(in.TransitionCounts) {
			transitions.add(float64(tc.Count), "vrrp_instance", in.Name, "from", tc.From, "to", tc.To)
		}
		sent.add(float64(in.AdvertsSent), "vrrp_instance", in.Name)
		received.add(float64(in.AdvertsReceived), "vrrp_instance", in.Name)
		for _, r := range sortedKeys(in.InvalidByReason) {
			invalid.add(float64(in.InvalidByReason[r]), "vrrp_instance", in.Name, "reason", r)
		}
		held := 0
		if in.HoldsVIPs {
			held = len(in.VIPs)
		}
		vipsHeld.add(float64(held), "vrrp_instance", in.Name)
		vipsConfigured.add(float64(len(in.VIPs)), "vrrp_instance", in.Name)
		hookRuns.add(float64(in.HookRuns), "vrrp_instance", in.Name)
		hookFailures.add(float64(in.HookFailures), "vrrp_instance", in.Name)
		vipErrors.add(float64(in.VIPErrors), "vrrp_instance", in.Name)
		vipRestores.add(float64(in.VIPRestores), "vrrp_instance", in.Name)
		sendErrors.add(float64(in.SendErrors), "vrrp_instance", in.Name)
	}

	var out []family
	for _, f := range []*family{buildInfo, configValid, maintenance, nodeInfo, haproxyUp,
		haproxyHealthy, haproxyDegraded, haproxyRestarts, haproxyReload, reloadTime,
		reloadDuration, checkDuration, checkFailures, lastCheck, state, priority, effPriority,
		transitions, sent, received, invalid, vipsHeld, vipsConfigured, hookRuns, hookFailures,
		vipErrors, vipRestores, sendErrors} {
		out = append(out, *f)
	}
	return out
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
