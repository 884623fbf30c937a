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

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/halo-lb/halo/metrics"
)

// TestDashboardQueriesAnswer evaluates every dashboard query with promtool over the series
// a node exports (the collector's, as scraped by a job "halo"): with the variables set to
// that node each must return data, and with any one variable set elsewhere none. A query
// that can never match (two series with different labels added together) or that ignores
// a variable fails here.
func TestDashboardQueriesAnswer(t *testing.T) {
	pt := promtool(t)
	reg := prometheus.NewRegistry()
	node := freshNode()
	node.Instances[0].State = "MASTER"
	if err := metrics.New(reg, node); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	type series struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	var input []series
	for _, f := range fams {
		for _, m := range f.Metric {
			labels := []string{`job="halo"`, `instance="lb1:9110"`}
			for _, lp := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			sel := func(name string, extra ...string) string {
				return name + "{" + strings.Join(append(append([]string(nil), labels...), extra...), ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				input = append(input, series{sel(f.GetName()), "0+1x40"})
			case dto.MetricType_HISTOGRAM:
				for _, b := range m.Histogram.Bucket {
					input = append(input, series{sel(f.GetName()+"_bucket", fmt.Sprintf("le=%q", fmt.Sprint(b.GetUpperBound()))), "0+1x40"})
				}
				input = append(input, series{sel(f.GetName()+"_bucket", `le="+Inf"`), "0+1x40"},
					series{sel(f.GetName() + "_count"), "0+1x40"}, series{sel(f.GetName() + "_sum"), "0+1x40"})
			case dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
				v := m.GetGauge().GetValue()
				if f.GetType() == dto.MetricType_UNTYPED {
					v = m.GetUntyped().GetValue()
				}
				input = append(input, series{sel(f.GetName()), fmt.Sprintf("%gx40", v)})
			}
		}
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
