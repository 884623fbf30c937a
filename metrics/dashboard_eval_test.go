package metrics_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestDashboardQueriesAnswer evaluates every dashboard query with promtool over the series
// a node exports (the collector's, as scraped by a job "halo"): with the variables set to
// that node each must return data, and with any one variable set elsewhere none. A query
// that can never match (two series with different labels added together) or that ignores
// a variable fails here.
func TestDashboardQueriesAnswer(t *testing.T) {
	t.Parallel() // promtool runs beside the namespace test
	pt := promtool(t)
	node := freshNode()
	node.Instances[0].State = "MASTER"
	text := scrape(t, node)
	scraped, err := parseExposition(text)
	if err != nil {
		t.Fatal(err)
	}
	types := typesOf(text)
	type series struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	var input []series
	for _, sm := range scraped {
		labels := []string{`job="halo"`, `instance="lb1:9110"`}
		for k, v := range sm.labels {
			labels = append(labels, fmt.Sprintf("%s=%q", k, v))
		}
		sort.Strings(labels)
		values := fmt.Sprintf("%gx40", sm.value)
		switch types[familyOf(sm.name, types)] {
		case "counter", "histogram", "summary":
			values = "0+1x40" // moving, so that rate() and increase() answer
		}
		input = append(input, series{sm.name + "{" + strings.Join(labels, ",") + "}", values})
	}
	sort.Slice(input, func(i, j int) bool { return input[i].Series < input[j].Series })

	match := map[string]string{"job": "halo", "instance": "lb1:9110", "cluster": "a"}
	cases := map[string]map[string]string{"match": match}
	for v := range match {
		other := map[string]string{}
		for k, val := range match {
			other[k] = val
		}
		other[v] = "elsewhere"
		cases["other_"+v] = other
	}
	type rule struct {
		Alert string `yaml:"alert"`
		Expr  string `yaml:"expr"`
	}
	type alertTest struct {
		EvalTime  string           `yaml:"eval_time"`
		AlertName string           `yaml:"alertname"`
		ExpAlerts []map[string]any `yaml:"exp_alerts"`
	}
	var rules []rule
	var tests []alertTest
	targets := loadDashboard(t).targets()
	names := map[string]string{}
	for i, tg := range targets {
		for c, vars := range cases {
			expr := tg.expr
			for k, v := range vars {
				expr = strings.ReplaceAll(expr, "$"+k, v)
			}
			name := fmt.Sprintf("Q%d_%s", i, c)
			names[name] = tg.where + " with " + c
			rules = append(rules, rule{name, "count(" + expr + ") > 0"})
			want := []map[string]any{}
			if c == "match" {
				want = []map[string]any{{"exp_labels": map[string]string{}}}
			}
			tests = append(tests, alertTest{"8m", name, want})
		}
	}
	dir := t.TempDir()
	write := func(name string, v any) {
		data, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("rules.yml", map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	write("test.yml", map[string]any{
		"rule_files": []string{"rules.yml"}, "evaluation_interval": "1m",
		"tests": []any{map[string]any{"interval": "15s", "input_series": input, "alert_rule_test": tests}},
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pt, "test", "rules", "test.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		// Name the dashboard queries behind promtool's Q<n>_<case>.
		msg := string(out)
		for n, where := range names {
			if strings.Contains(msg, "alertname: "+n+",") {
				t.Errorf("%s: wrong answer", where)
			}
		}
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
