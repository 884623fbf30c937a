package supervisor

import (
	"strings"
	"testing"
	"time"
)

func TestRestartInPlaceConfig(t *testing.T) {
	c, err := ParseConfig("halo.yaml", []byte(oneInstance))
	if err != nil {
		t.Fatal(err)
	}
	ip := c.HAProxy.RestartInPlace
	if !ip.On() || ip.Within != time.Second || ip.MaxCrashes != 3 || ip.Window != time.Minute {
		t.Errorf("restart_in_place defaults: %+v", ip)
	}
	c, err = ParseConfig("halo.yaml", []byte(oneInstance+"haproxy:\n  restart_in_place: {enabled: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.HAProxy.RestartInPlace.On() {
		t.Error("enabled: false left the policy on")
	}
	tests := []struct{ yaml, want string }{
		{"haproxy:\n  restart_in_place: {within: 10ms}\n", "halo.yaml:2: haproxy.restart_in_place.within: 10ms not between 50ms and 1m"},
		{"haproxy:\n  check: {interval: 1s, timeout: 500ms}\n  restart_in_place:\n    within: 400ms\n", "halo.yaml:4: haproxy.restart_in_place.within: 400ms is not longer than check.fast_interval 500ms"},
		{"haproxy:\n  restart_in_place:\n    max_crashes: 0\n", "halo.yaml:3: haproxy.restart_in_place.max_crashes: 0"},
		{"haproxy:\n  restart_in_place:\n    max_crashes: 101\n", "halo.yaml:3: haproxy.restart_in_place.max_crashes: 101 not in 1..100"},
		{"haproxy:\n  restart_in_place:\n    within: 2s\n    window: 1s\n", "halo.yaml:4: haproxy.restart_in_place.window: 1s not between restart_in_place.within 2s and 24h"},
		{"haproxy:\n  restart_in_place:\n    enabled: sometimes\n", "halo.yaml:3:"},
		{"haproxy:\n  restart_in_place:\n    max_crash: 2\n", `halo.yaml:3: unknown key "max_crash"`},
	}
	for _, tt := range tests {
		_, err := ParseConfig("halo.yaml", []byte(tt.yaml+oneInstance))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestStatusTableRestartInPlace(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := Status{HAProxy: HAProxyStatus{Mode: "managed", Healthy: true, RestartingInPlace: true, RestartsInPlace: 2}}
	var b strings.Builder
	st.WriteTable(&b, now)
	if want := "haproxy  RESTARTING  managed, restarted in place 2×"; !strings.Contains(b.String(), want) {
		t.Errorf("want %q in:\n%s", want, b.String())
	}
}
