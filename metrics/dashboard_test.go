package metrics_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

const dashboardPath = "../configs/grafana/halo-dashboard.json"

type dashboard struct {
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID        string `json:"refId"`
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// dashboardTarget is one query of the dashboard, named for messages.
type dashboardTarget struct {
	where, expr, legend string
}

func (d dashboard) targets() []dashboardTarget {
	var out []dashboardTarget
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, dashboardTarget{fmt.Sprintf("%s: panel %q query %s", dashboardPath, p.Title, tg.RefID), tg.Expr, tg.LegendFormat})
		}
	}
	return out
}

var labelValues = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// variableQueries returns the variables' label_values queries as expressions to check,
// the label each lists as an extra label.
func (d dashboard) variableQueries(t *testing.T) []dashboardTarget {
	var out []dashboardTarget
	for _, v := range d.Templating.List {
		q, ok := v.Query.(string)
		if v.Type != "query" || !ok {
			continue
		}
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("%s: variable %s: query %q is not label_values(SELECTOR, LABEL)", dashboardPath, v.Name, q)
			continue
		}
		out = append(out, dashboardTarget{fmt.Sprintf("%s: variable %s", dashboardPath, v.Name), m[1], "{{" + m[2] + "}}"})
	}
	return out
}

// dashboardVariables are the variables every query must honour, and the label each filters.
var dashboardVariables = map[string]string{"job": "job", "instance": "instance", "cluster": "cluster"}

// TestDashboardHonoursVariables: every query filters on $job, $instance and $cluster, so
// that choosing a cluster or a node in the dashboard's menus shows that cluster or node
// only. The job and instance matchers sit on every selector of a halod metric; the cluster
// is a label of halo_node_info only, so each query joins a halo_node_info selector that
// matches it.
func TestDashboardHonoursVariables(t *testing.T) {
	d := loadDashboard(t)
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for name := range dashboardVariables {
		if !vars[name] {
			t.Errorf("%s: no $%s variable", dashboardPath, name)
		}
	}
	targets := d.targets()
	if len(targets) < 10 {
		t.Fatalf("%s: %d queries found; the panels moved?", dashboardPath, len(targets))
	}
	for _, tg := range targets {
		for _, p := range varProblems(tg.expr) {
			t.Errorf("%s: %s", tg.where, p)
		}
	}
	// The check itself: the old dashboard's queries fail it.
	for _, bad := range []string{
		`halo_haproxy_healthy`,
		`halo_haproxy_healthy{job=~"$job", instance=~"$instance"}`,
		`rate(halo_vrrp_adverts_sent_total{job=~"$job"}[1m]) and on (job, instance) halo_node_info{job=~"$job", instance=~"$instance", cluster=~"$cluster"}`,
		`halo_maintenance{job=~"$job", instance=~"$instance"} and on (job, instance) halo_node_info{job=~"$job", instance=~"$instance", cluster="$cluster"}`,
	} {
		if len(varProblems(bad)) == 0 {
			t.Errorf("varProblems(%s) found nothing", bad)
		}
	}
}

// varProblems says which variables expr does not honour.
func varProblems(expr string) []string {
	r, err := parseRefs(expr)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	cluster := false
	for _, s := range r.selectors {
		for v, label := range dashboardVariables {
			want := `=~"$` + v + `"`
			got, ok := s.match[label]
			switch {
			case v == "cluster":
				if ok && got == want && s.name == "halo_node_info" {
					cluster = true
				}
			case got != want:
				problems = append(problems, fmt.Sprintf("%s does not filter %s%s (has %q)", s.name, label, want, got))
			}
		}
	}
	if !cluster {
		problems = append(problems, `no halo_node_info{cluster=~"$cluster"} joined: $cluster is ignored`)
	}
	return problems
}

// checkDashboard checks every query and variable of the dashboard against ex.
func checkDashboard(t *testing.T, ex exported) []string {
	d := loadDashboard(t)
	var problems []string
	for _, tg := range append(d.targets(), d.variableQueries(t)...) {
		expr := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m").Replace(tg.expr)
		problems = append(problems, ex.check(tg.where, expr, labelsIn(tg.legend), nil)...)
	}
	return problems
}
