package metrics_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/halo-lb/halo/internal/tier"
)

// promtool finds promtool: Debian's prometheus package carries it, and `make deps` (or
// `make promtool`) extracts it without installing the package, whose server would start.
func promtool(t *testing.T) string {
	return tier.Tool(t, "promtool", "make promtool (extracts it from Debian's prometheus package)")
}

// TestAlertRules runs the rules' own unit tests, configs/prometheus/halo-alerts.test.yml:
// every rule firing and not firing, split brain and no-master per cluster.
func TestAlertRules(t *testing.T) {
	t.Parallel() // promtool runs beside the namespace test
	pt := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "halo-alerts.yml"},
		{"test", "rules", "halo-alerts.test.yml"},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		cmd := exec.CommandContext(ctx, pt, args...)
		cmd.Dir = "../configs/prometheus"
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestEveryAlertHasCases: each alert of halo-alerts.yml has a promtool case where it fires
// and one where it does not, so a rule added without both fails here.
func TestEveryAlertHasCases(t *testing.T) {
	var rules rulesFile
	readYAML(t, rulesPath, &rules)
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			Name          string `yaml:"name"`
			AlertRuleTest []struct {
				AlertName string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "../configs/prometheus/halo-alerts.test.yml", &tests)
	if len(tests.RuleFiles) != 1 || tests.RuleFiles[0] != "halo-alerts.yml" {
		t.Errorf("halo-alerts.test.yml tests %v, want [halo-alerts.yml]", tests.RuleFiles)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.AlertName] = true
			} else {
				quiet[a.AlertName] = true
			}
		}
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if !fires[r.Alert] {
				t.Errorf("%s: no case in halo-alerts.test.yml where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: no case in halo-alerts.test.yml where it stays quiet", r.Alert)
			}
		}
	}
	if alerts < 10 {
		t.Errorf("%d alerts read from %s", alerts, rulesPath)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
