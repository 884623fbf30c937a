package metrics_test

import (
	"io"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/halo-lb/halo/metrics"
	"github.com/halo-lb/halo/supervisor"
	"github.com/halo-lb/halo/vrrp"
)

const rulesPath = "../configs/prometheus/halo-alerts.yml"

type fixedStatus supervisor.Status

func (f fixedStatus) Status() supervisor.Status { return supervisor.Status(f) }

// freshNode is the snapshot of a node that has just started: no event counted yet.
func freshNode() fixedStatus {
	invalid := map[string]uint64{}
	for _, r := range vrrp.InvalidReasons() {
		invalid[r] = 0
	}
	return fixedStatus{
		Version: "v0", ConfigFile: "/etc/halo/halo.yaml", ConfigValid: true, Cluster: "a",
		HAProxy: supervisor.HAProxyStatus{
			Mode: "managed", Running: true, Healthy: true,
			ReloadsByResult: map[string]uint64{"ok": 0, "invalid": 0, "failed": 0, "timeout": 0},
			CheckFailures:   map[string]uint64{"timeout": 0},
			LastReload:      &supervisor.Reload{At: time.Unix(1700000000, 0), OK: true, Result: "ok"},
			CheckDuration:   &supervisor.Histogram{Bounds: []float64{0.001}, Counts: []uint64{0}},
		},
		Instances: []supervisor.InstanceStatus{{Name: "VI_1", State: "BACKUP", Priority: 100, EffectivePriority: 100,
			VIPs: []string{"192.0.2.100/24"}, InvalidByReason: invalid}},
	}
}

// scrape serves src's metrics as halod does and returns the text a scrape gets.
func scrape(t *testing.T, src metrics.Source) string {
	t.Helper()
	srv := httptest.NewServer(metrics.Handler(src))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func gathered(t *testing.T, src metrics.Source) exported {
	t.Helper()
	series, err := parseExposition(scrape(t, src))
	if err != nil {
		t.Fatal(err)
	}
	return exportedBy(series)
}

// TestRulesAndDashboardUseExportedNames: every metric and label the alert rules and the
// dashboard read is one the collector exports (a real halod's scrape is checked the same
// way in TestHalodExportsWhatRulesRead).
func TestRulesAndDashboardUseExportedNames(t *testing.T) {
	ex := gathered(t, freshNode())
	problems, err := checkRules(ex, rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	problems = append(problems, checkDashboard(t, ex)...)
	for _, p := range problems {
		t.Error(p)
	}
}

// TestReferenceCheckFindsMistakes: the reader behind the test above catches what it is for.
func TestReferenceCheckFindsMistakes(t *testing.T) {
	ex := gathered(t, freshNode())
	for expr, want := range map[string]string{
		`rate(halo_vrrp_invalid_packet_total[5m]) > 0`:                                         "halo_vrrp_invalid_packet_total is not exported",
		`halo_vrrp_state{state="MASTER", vrrp="VI_1"}`:                                         `has no label "vrrp"`,
		`sum by (cluster, vrrp_instance) (halo_vrrp_state{state="MASTER"})`:                    `label "cluster" is on none`,
		`max by (job) (halo_vrrp_state * on (job, instance) group_left (zone) halo_node_info)`: `label "zone"`,
		`halo_haproxy_check_duration_seconds_bucket{lee="0.1"}`:                                `has no label "lee"`,
		`sum(halo_vrrp_state{state="MASTER"}`:                                                  "",
		`halo_vrrp_state{state=~"MASTER}`:                                                      "unclosed string",
	} {
		problems := ex.check("test", expr, nil, nil)
		if len(problems) == 0 {
			if want != "" {
				t.Errorf("%s: no problem found, want %q", expr, want)
			}
			continue
		}
		if want == "" || !strings.Contains(strings.Join(problems, "\n"), want) {
			t.Errorf("%s: %q, want %q", expr, problems, want)
		}
	}
	if p := ex.check("test", `halo_haproxy_healthy`, []string{"vrrp_instance"}, nil); len(p) == 0 {
		t.Error("an annotation naming a label the expression lacks passed")
	}
}

// TestCountersExistAtZero: a node that has counted nothing exports every counter the
// rules and the dashboard read, each reason and state change at 0, so that the first
// event is seen by rate() and increase().
func TestCountersExistAtZero(t *testing.T) {
	text := scrape(t, freshNode())
	scraped, err := parseExposition(text)
	if err != nil {
		t.Fatal(err)
	}
	types := typesOf(text)
	series := map[string]float64{}
	for _, sm := range scraped {
		if types[sm.name] != "counter" {
			continue
		}
		var ls []string
		for k, v := range sm.labels {
			ls = append(ls, k+"="+v)
		}
		sort.Strings(ls)
		series[sm.name+"{"+strings.Join(ls, ",")+"}"] = sm.value
	}
	var want []string
	for _, r := range vrrp.InvalidReasons() {
		want = append(want, "halo_vrrp_invalid_packets_total{reason="+r+",vrrp_instance=VI_1}")
	}
	states := []string{"INIT", "BACKUP", "MASTER", "FAULT"}
	for _, from := range states {
		for _, to := range states {
			if from != to {
				want = append(want, "halo_vrrp_transitions_total{from="+from+",to="+to+",vrrp_instance=VI_1}")
			}
		}
	}
	want = append(want, "halo_haproxy_restarts_total{}", "halo_vrrp_vip_errors_total{vrrp_instance=VI_1}",
		"halo_haproxy_reloads_total{result=invalid}", "halo_haproxy_reloads_total{result=ok}")
	for _, w := range want {
		if v, ok := series[w]; !ok || v != 0 {
			t.Errorf("%s: %v (present %v), want 0", w, v, ok)
		}
	}
}
