// Package metrics exports halo's status snapshot to Prometheus. It keeps no state of its
// own: every scrape reads the supervisor's snapshot, so haloctl and /metrics can never
// disagree and nothing is counted twice.
package metrics

import (
	"net/http"
	"runtime"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/halo-lb/halo/supervisor"
)

// Source gives the current snapshot; *supervisor.Supervisor is one.
type Source interface {
	Status() supervisor.Status
}

// states are the VRRP states exported one-hot, as keepalived names them.
func states() []string { return []string{"INIT", "BACKUP", "MASTER", "FAULT"} }

// Collector builds halo's metrics from the snapshot at scrape time.
type Collector struct {
	src Source

	buildInfo, configValid, maintenance                                        *prometheus.Desc
	haproxyUp, haproxyHealthy, haproxyDegraded, haproxyRestarts, haproxyReload *prometheus.Desc
	reloadTime, reloadDuration, checkDuration, checkFailures                   *prometheus.Desc
	lastCheck                                                                  *prometheus.Desc
	state, priority, effPriority, transitions, sent, received                  *prometheus.Desc
	invalid, vipsHeld, vipsConfigured, hookRuns, hookFailures                  *prometheus.Desc
	vipErrors, sendErrors, vipRestores                                         *prometheus.Desc
	nodeInfo                                                                   *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector reading src.
func NewCollector(src Source) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("halo_"+name, help, labels, nil)
	}
	return &Collector{
		src:             src,
		buildInfo:       d("build_info", "halod's version, as labels; always 1.", "version", "goversion"),
		configValid:     d("config_valid", "1 when the running configuration loaded and validated.", "file"),
		maintenance:     d("maintenance", "1 while the node is in maintenance (kept out of MASTER)."),
		haproxyUp:       d("haproxy_up", "1 when HAProxy runs (managed) or answers (external)."),
		haproxyHealthy:  d("haproxy_healthy", "1 when HAProxy passed its health check (after rise/fall)."),
		haproxyDegraded: d("haproxy_degraded", "1 when HAProxy serves but a backend is under its minimum (check.backend_severity degraded)."),
		haproxyRestarts: d("haproxy_restarts_total", "Restarts of a managed HAProxy after it exited."),
		haproxyReload:   d("haproxy_reloads_total", "HAProxy reload attempts by result.", "result"),
		reloadTime:      d("haproxy_last_reload_timestamp_seconds", "Unix time of the last reload attempt."),
		reloadDuration:  d("haproxy_last_reload_duration_seconds", "Duration of the last reload attempt, validation included."),
		checkDuration:   d("haproxy_check_duration_seconds", "Duration of HAProxy health checks."),
		checkFailures:   d("haproxy_check_failures_total", "Failed HAProxy health checks by kind.", "kind"),
		lastCheck:       d("haproxy_last_check_duration_seconds", "Duration of the last HAProxy health check."),
		state:           d("vrrp_state", "VRRP instance state, one series per state: 1 for the current one.", "vrrp_instance", "state"),
		priority:        d("vrrp_priority", "Configured base priority.", "vrrp_instance"),
		effPriority:     d("vrrp_effective_priority", "Priority advertised now (after tracking, maintenance).", "vrrp_instance"),
		transitions:     d("vrrp_transitions_total", "State changes by from and to.", "vrrp_instance", "from", "to"),
		sent:            d("vrrp_adverts_sent_total", "VRRP advertisements sent.", "vrrp_instance"),
		received:        d("vrrp_adverts_received_total", "Valid VRRP advertisements received for this instance.", "vrrp_instance"),
		invalid:         d("vrrp_invalid_packets_total", "Packets dropped as invalid, by reason.", "vrrp_instance", "reason"),
		vipsHeld:        d("vrrp_vips_held", "VIPs this node holds now for the instance.", "vrrp_instance"),
		vipsConfigured:  d("vrrp_vips", "VIPs configured for the instance.", "vrrp_instance"),
		hookRuns:        d("vrrp_notify_hooks_total", "Notify hooks started.", "vrrp_instance"),
		hookFailures:    d("vrrp_notify_hook_failures_total", "Notify hooks that failed or were killed at their timeout.", "vrrp_instance"),
		vipErrors:       d("vrrp_vip_errors_total", "Failed additions or removals of the instance's VIPs.", "vrrp_instance"),
		vipRestores:     d("vrrp_vip_restores_total", "Times the master found its VIPs removed behind its back and put them back.", "vrrp_instance"),
		sendErrors:      d("vrrp_send_errors_total", "Adverts that could not be sent.", "vrrp_instance"),
		nodeInfo:        d("node_info", "The node's place in halo.yaml, as labels (cluster: its cluster name, empty when none is set); always 1. The alert rules group by its cluster label.", "cluster"),
	}
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.buildInfo, c.configValid, c.maintenance, c.haproxyUp,
		c.haproxyHealthy, c.haproxyDegraded, c.haproxyRestarts, c.haproxyReload, c.reloadTime, c.reloadDuration,
		c.checkDuration, c.checkFailures, c.lastCheck, c.state, c.priority, c.effPriority,
		c.transitions, c.sent, c.received, c.invalid, c.vipsHeld, c.vipsConfigured, c.hookRuns, c.hookFailures, c.vipErrors, c.sendErrors, c.vipRestores, c.nodeInfo} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect reads the snapshot once and turns it into metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.buildInfo, 1, st.Version, runtime.Version())
	gauge(c.configValid, b2f(st.ConfigValid), st.ConfigFile)
	gauge(c.maintenance, b2f(st.Maintenance))
	gauge(c.nodeInfo, 1, st.Cluster)

	h := st.HAProxy
	gauge(c.haproxyUp, b2f(h.Running))
	gauge(c.haproxyHealthy, b2f(h.Healthy))
	gauge(c.haproxyDegraded, b2f(h.Degraded))
	counter(c.haproxyRestarts, float64(h.Restarts))
	for _, r := range sortedKeys(h.ReloadsByResult) {
		counter(c.haproxyReload, float64(h.ReloadsByResult[r]), r)
	}
	if r := h.LastReload; r != nil {
		gauge(c.reloadTime, float64(r.At.UnixNano())/1e9)
		gauge(c.reloadDuration, r.Seconds)
	}
	gauge(c.lastCheck, h.LastCheckSeconds)
	for _, k := range sortedKeys(h.CheckFailures) {
		counter(c.checkFailures, float64(h.CheckFailures[k]), k)
	}
	if hist := h.CheckDuration; hist != nil && len(hist.Bounds) == len(hist.Counts) {
		buckets := make(map[float64]uint64, len(hist.Bounds))
		for i, b := range hist.Bounds {
			buckets[b] = hist.Counts[i]
		}
		ch <- prometheus.MustNewConstHistogram(c.checkDuration, hist.Count, hist.Sum, buckets)
	}

	for _, in := range st.Instances {
		for _, s := range states() {
			gauge(c.state, b2f(in.State == s), in.Name, s)
		}
		gauge(c.priority, float64(in.Priority), in.Name)
		gauge(c.effPriority, float64(in.EffectivePriority), in.Name)
		for _, tc := range allTransitions(in.TransitionCounts) {
			counter(c.transitions, float64(tc.Count), in.Name, tc.From, tc.To)
		}
		counter(c.sent, float64(in.AdvertsSent), in.Name)
		counter(c.received, float64(in.AdvertsReceived), in.Name)
		for _, r := range sortedKeys(in.InvalidByReason) {
			counter(c.invalid, float64(in.InvalidByReason[r]), in.Name, r)
		}
		held := 0
		if in.HoldsVIPs {
			held = len(in.VIPs)
		}
		gauge(c.vipsHeld, float64(held), in.Name)
		gauge(c.vipsConfigured, float64(len(in.VIPs)), in.Name)
		counter(c.hookRuns, float64(in.HookRuns), in.Name)
		counter(c.hookFailures, float64(in.HookFailures), in.Name)
		counter(c.vipErrors, float64(in.VIPErrors), in.Name)
		counter(c.vipRestores, float64(in.VIPRestores), in.Name)
		counter(c.sendErrors, float64(in.SendErrors), in.Name)
	}
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// New registers halo's collector, and the Go and process collectors, with reg.
func New(reg prometheus.Registerer, src Source) error {
	for _, c := range []prometheus.Collector{
		NewCollector(src),
		newBGPCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Handler serves the metrics gathered from g.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
