package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/halo-lb/halo/supervisor"
)

type fixed supervisor.Status

func (f fixed) Status() supervisor.Status { return supervisor.Status(f) }

func sample() fixed {
	return fixed{
		Version: "v1.2.3", ConfigFile: "/etc/halo/halo.yaml", ConfigValid: true, Cluster: "eu-west",
		HAProxy: supervisor.HAProxyStatus{
			Mode: "managed", PID: 10, Running: true, Healthy: true, Restarts: 2,
			ReloadsByResult:  map[string]uint64{"ok": 3, "invalid": 1},
			CheckFailures:    map[string]uint64{"timeout": 4},
			LastCheckSeconds: 0.0005,
			LastReload:       &supervisor.Reload{At: time.Unix(1700000000, 0), OK: true, Result: "ok", Seconds: 0.25},
			CheckDuration:    &supervisor.Histogram{Bounds: []float64{0.001, 0.01, 0.1}, Counts: []uint64{5, 9, 10}, Count: 10, Sum: 0.05},
		},
		Instances: []supervisor.InstanceStatus{{
			Name: "VI_1", State: "MASTER", Priority: 101, EffectivePriority: 101,
			VIPs: []string{"192.0.2.100/24"}, HoldsVIPs: true, AdvertsSent: 7, AdvertsReceived: 3,
			InvalidByReason:  map[string]uint64{"ttl": 1},
			TransitionCounts: []supervisor.TransitionCount{{From: "BACKUP", To: "MASTER", Count: 1}},
		}},
	}
}

// TestLint lints a whole scrape: halo's metrics, the Go runtime's and the process's.
func TestLint(t *testing.T) { lint(t, scrapeText(t, sample())) }

func TestValues(t *testing.T) {
	want := `
# HELP halo_vrrp_state VRRP instance state, one series per state: 1 for the current one.
# TYPE halo_vrrp_state gauge
halo_vrrp_state{state="BACKUP",vrrp_instance="VI_1"} 0
halo_vrrp_state{state="FAULT",vrrp_instance="VI_1"} 0
halo_vrrp_state{state="INIT",vrrp_instance="VI_1"} 0
halo_vrrp_state{state="MASTER",vrrp_instance="VI_1"} 1
# HELP halo_vrrp_transitions_total State changes by from and to.
# TYPE halo_vrrp_transitions_total counter
halo_vrrp_transitions_total{from="BACKUP",to="FAULT",vrrp_instance="VI_1"} 0
halo_vrrp_transitions_total{from="BACKUP",to="INIT",vrrp_instance="VI_1"} 0
halo_vrrp_transitions_total{from="BACKUP",to="MASTER",vrrp_instance="VI_1"} 1
halo_vrrp_transitions_total{from="FAULT",to="BACKUP",vrrp_instance="VI_1"} 0
halo_vrrp_transitions_total{from="FAULT",to="INIT",vrrp_instance="VI_1"} 0
halo_vrrp_transitions_total{from="FAULT",to="MASTER",vrrp_instance="VI_1"} 0
halo_vrrp_transitions_total{from="INIT",to="BACKUP",vrrp_instance="VI_1"} 0
halo_vrrp_transitions_total{from="INIT",to="FAULT",vrrp_instance="VI_1"} 0
halo_vrrp_transitions_total{from="INIT",to="MASTER",vrrp_instance="VI_1"} 0
halo_vrrp_transitions_total{from="MASTER",to="BACKUP",vrrp_instance="VI_1"} 0
halo_vrrp_transitions_total{from="MASTER",to="FAULT",vrrp_instance="VI_1"} 0
halo_vrrp_transitions_total{from="MASTER",to="INIT",vrrp_instance="VI_1"} 0
# HELP halo_node_info The node's place in halo.yaml, as labels (cluster: its cluster name, empty when none is set); always 1. The alert rules group by its cluster label.
# TYPE halo_node_info gauge
halo_node_info{cluster="eu-west"} 1
# HELP halo_haproxy_reloads_total HAProxy reload attempts by result.
# TYPE halo_haproxy_reloads_total counter
halo_haproxy_reloads_total{result="invalid"} 1
halo_haproxy_reloads_total{result="ok"} 3
# HELP halo_vrrp_vips_held VIPs this node holds now for the instance.
# TYPE halo_vrrp_vips_held gauge
halo_vrrp_vips_held{vrrp_instance="VI_1"} 1
# HELP halo_haproxy_check_duration_seconds Duration of HAProxy health checks.
# TYPE halo_haproxy_check_duration_seconds histogram
halo_haproxy_check_duration_seconds_bucket{le="0.001"} 5
halo_haproxy_check_duration_seconds_bucket{le="0.01"} 9
halo_haproxy_check_duration_seconds_bucket{le="0.1"} 10
halo_haproxy_check_duration_seconds_bucket{le="+Inf"} 10
halo_haproxy_check_duration_seconds_sum 0.05
halo_haproxy_check_duration_seconds_count 10
`
	compareFamilies(t, scrapeText(t, sample()), want,
		"halo_vrrp_state", "halo_vrrp_transitions_total", "halo_node_info", "halo_haproxy_reloads_total",
		"halo_vrrp_vips_held", "halo_haproxy_check_duration_seconds")
}

func TestHandlerServesEverything(t *testing.T) {
	body := scrapeText(t, sample())
	for _, want := range []string{"halo_build_info{goversion=", "halo_haproxy_healthy 1", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
