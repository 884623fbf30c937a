package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/vrrp"
)

// TestHalodExportsWhatRulesRead scrapes a real halod (tier 3: a namespace lab, real
// HAProxy) and fails when the alert rules or the dashboard read a metric or a label it
// does not export, or when a counter they read is missing before its first event.
func TestHalodExportsWhatRulesRead(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace tier skipped in -short mode")
	}
	// Extra goes after the instance's keys; at column 0 it is a top-level key of halo.yaml.
	c := cluster.New(t, t.TempDir(), cluster.Options{LBs: 1, Backends: 1, Extra: "cluster: lab-a"})
	lb := c.LBs[0]
	if err := c.StartHalod(t.Context(), lb); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "lb1 MASTER", func() error {
		if s := lb.State(t.Context(), "VI_1"); s != "MASTER" {
			return fmt.Errorf("state %q", s)
		}
		return nil
	})
	url := fmt.Sprintf("http://%s:9110/metrics", lb.Node.IPv4[0].Addr())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := lb.Node.Exec(ctx, "curl", "-sf", "--max-time", "5", url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	// Prometheus' own linter over the real scrape, where promtool is installed (the tier-1
	// TestPromtoolCheckMetrics requires it under CI). It gets its own minute, as in
	// TestAlertRules: under make test's load a 48 MB promtool once outlived what was left of
	// the scrape's 10 s and was killed, failing CI on a scrape that was fine.
	if pt, err := exec.LookPath("promtool"); err == nil {
		lintCtx, cancelLint := context.WithTimeout(t.Context(), time.Minute)
		defer cancelLint()
		cmd := exec.CommandContext(lintCtx, pt, "check", "metrics")
		cmd.Stdin = bytes.NewReader(out)
		start := time.Now()
		if lint, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on halod's scrape (after %v): %v\n%s", time.Since(start).Round(time.Millisecond), err, lint)
		}
	}
	series, err := parseExposition(string(out))
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	ex := exportedBy(series)
	problems, err := checkRules(ex, rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	problems = append(problems, checkDashboard(t, ex)...)
	for _, p := range problems {
		t.Error(p)
	}

	value := func(name string, labels map[string]string) (float64, bool) {
		for _, s := range series {
			if s.name != name || len(s.labels) != len(labels) {
				continue
			}
			match := true
			for k, v := range labels {
				match = match && s.labels[k] == v
			}
			if match {
				return s.value, true
			}
		}
		return 0, false
	}
	if v, ok := value("halo_node_info", map[string]string{"cluster": "lab-a"}); !ok || v != 1 {
		t.Errorf(`halo_node_info{cluster="lab-a"}: %v (present %v), want 1`, v, ok)
	}
	if v, ok := value("halo_vrrp_state", map[string]string{"vrrp_instance": "VI_1", "state": "MASTER"}); !ok || v != 1 {
		t.Errorf(`halo_vrrp_state{state="MASTER"}: %v (present %v), want 1`, v, ok)
	}
	// No packet was dropped in this lab (lb1 is alone on it): every reason is at 0.
	for _, r := range vrrp.InvalidReasons() {
		if v, ok := value("halo_vrrp_invalid_packets_total", map[string]string{"vrrp_instance": "VI_1", "reason": r}); !ok || v != 0 {
			t.Errorf(`halo_vrrp_invalid_packets_total{reason=%q}: %v (present %v), want 0`, r, v, ok)
		}
	}
	transitions := 0
	for _, s := range series {
		if s.name == "halo_vrrp_transitions_total" && s.labels["vrrp_instance"] == "VI_1" {
			transitions++
		}
	}
	if transitions != 12 {
		t.Errorf("%d halo_vrrp_transitions_total series for VI_1, want one per change between two of the 4 states (12)", transitions)
	}
}

type scraped struct {
	name   string
	labels map[string]string
	value  float64
}

// typesOf reads the text format's "# TYPE name type" lines.
func typesOf(text string) map[string]string {
	types := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	return types
}

// familyOf returns the family a sample belongs to: histogram and summary samples carry
// a suffix.
func familyOf(name string, types map[string]string) string {
	if _, ok := types[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(name, suffix); ok {
			if _, ok := types[f]; ok {
				return f
			}
		}
	}
	return name
}

// parseExposition reads the Prometheus text format's samples (comments skipped).
func parseExposition(text string) ([]scraped, error) {
	var out []scraped
	for n, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := scraped{labels: map[string]string{}}
		i := strings.IndexAny(line, "{ ")
		if i <= 0 {
			return nil, fmt.Errorf("line %d: %q", n+1, line)
		}
		s.name, line = line[:i], line[i:]
		if strings.HasPrefix(line, "{") {
			line = line[1:]
			for !strings.HasPrefix(line, "}") {
				k, rest, ok := strings.Cut(line, `="`)
				if !ok {
					return nil, fmt.Errorf("line %d: bad labels", n+1)
				}
				var v strings.Builder
				j := 0
				for ; j < len(rest) && rest[j] != '"'; j++ {
					if rest[j] == '\\' && j+1 < len(rest) {
						j++
					}
					v.WriteByte(rest[j])
				}
				if j >= len(rest) {
					return nil, fmt.Errorf("line %d: unclosed label value", n+1)
				}
				s.labels[strings.TrimPrefix(k, ",")] = v.String()
				line = strings.TrimPrefix(rest[j+1:], ",")
			}
			line = line[1:]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			return nil, fmt.Errorf("line %d: no value", n+1)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n+1, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, nil
}
