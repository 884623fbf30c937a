package metrics_test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// The rules and the dashboard are checked against what halod exports by a small PromQL
// reader: it finds the metric names, the label matchers and the labels named in
// by/without/on/ignoring/group_left/group_right. github.com/prometheus/prometheus's parser
// would do it exactly, but it drags most of Prometheus into go.mod for a test; the subset
// used here (no subqueries' own syntax beyond [...] ranges, no @ modifiers) is read
// completely, and anything it cannot read is an error rather than a silent pass.

// selector is one vector selector: a metric name and its matchers' label names.
type selector struct {
	name   string
	labels []string
	// match maps each matcher's label to its operator and value: `=~"$job"`.
	match map[string]string
}

// exprRefs is what one expression references.
type exprRefs struct {
	selectors []selector
	grouping  []string // labels named in by, without, on, ignoring, group_left, group_right
}

var groupingKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
var operatorKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true}

type token struct {
	kind byte // 'i' identifier, 's' string, 'n' number or duration, 'p' punctuation
	text string
}

func lexPromQL(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '[':
			// A range or a subquery's range: durations, skipped whole.
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unclosed [ at %d", i)
			}
			toks = append(toks, token{'n', s[i : i+j+1]})
			i += j + 1
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(s) && rune(s[j]) != c {
				if s[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unclosed string at %d", i)
			}
			toks = append(toks, token{'s', s[i+1 : j]})
			i = j + 1
		case c == '_' || c == ':' || unicode.IsLetter(c):
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == ':' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			toks = append(toks, token{'i', s[i:j]})
			i = j
		case unicode.IsDigit(c) || c == '.':
			j := i
			for j < len(s) && (s[j] == '.' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			toks = append(toks, token{'n', s[i:j]})
			i = j
		default:
			for _, op := range []string{"=~", "!~", "!=", "==", ">=", "<=", "=", "{", "}", "(", ")", ",", "+", "-", "*", "/", "%", "^", ">", "<"} {
				if strings.HasPrefix(s[i:], op) {
					toks = append(toks, token{'p', op})
					i += len(op)
					goto next
				}
			}
			return nil, fmt.Errorf("unexpected %q at %d", c, i)
		next:
		}
	}
	return toks, nil
}

// parseRefs reads the references of one PromQL expression.
func parseRefs(expr string) (exprRefs, error) {
	toks, err := lexPromQL(expr)
	if err != nil {
		return exprRefs{}, fmt.Errorf("%s: %w", expr, err)
	}
	var r exprRefs
	at := func(i int, kind byte, text string) bool {
		return i < len(toks) && toks[i].kind == kind && (text == "" || toks[i].text == text)
	}
	// labelList reads "( a, b )" at i, returning the labels and the index after it.
	labelList := func(i int) ([]string, int, error) {
		if !at(i, 'p', "(") {
			return nil, i, nil
		}
		var out []string
		for i++; !at(i, 'p', ")"); i++ {
			switch {
			case at(i, 'i', ""):
				out = append(out, toks[i].text)
			case at(i, 'p', ","):
			default:
				return nil, i, fmt.Errorf("%s: unexpected %q in a label list", expr, toksText(toks, i))
			}
		}
		return out, i + 1, nil
	}
	// matchers reads "{ a="x", b=~"y" }" at i.
	matchers := func(i int, match map[string]string) ([]string, int, error) {
		var out []string
		for i++; !at(i, 'p', "}"); i++ {
			if at(i, 'p', ",") {
				continue
			}
			if !at(i, 'i', "") || i+2 >= len(toks) || toks[i+1].kind != 'p' || toks[i+2].kind != 's' {
				return nil, i, fmt.Errorf("%s: unexpected %q in a selector", expr, toksText(toks, i))
			}
			out = append(out, toks[i].text)
			match[toks[i].text] = toks[i+1].text + `"` + toks[i+2].text + `"`
			i += 2
		}
		return out, i + 1, nil
	}
	for i := 0; i < len(toks); {
		t := toks[i]
		switch {
		case t.kind == 'i' && groupingKeywords[t.text]:
			ls, j, err := labelList(i + 1)
			if err != nil {
				return r, err
			}
			r.grouping = append(r.grouping, ls...)
			i = j
		case t.kind == 'i' && operatorKeywords[t.text]:
			i++
		case t.kind == 'i' && (at(i+1, 'p', "(") || at(i+1, 'i', "by") || at(i+1, 'i', "without")):
			i++ // a function or an aggregation
		case t.kind == 'i':
			sel := selector{name: t.text, match: map[string]string{}}
			i++
			if at(i, 'p', "{") {
				ls, j, err := matchers(i, sel.match)
				if err != nil {
					return r, err
				}
				sel.labels, i = ls, j
			}
			r.selectors = append(r.selectors, sel)
		case t.kind == 'p' && t.text == "{":
			return r, fmt.Errorf("%s: a selector without a metric name", expr)
		default:
			i++
		}
	}
	return r, nil
}

func toksText(toks []token, i int) string {
	if i >= len(toks) {
		return "end of expression"
	}
	return toks[i].text
}

// exported is what a scrape holds: every series name and the labels it carries.
type exported map[string]map[string]bool

// exportedBy lists the series names and labels of a scrape.
func exportedBy(series []scraped) exported {
	ex := exported{}
	for _, s := range series {
		if ex[s.name] == nil {
			ex[s.name] = map[string]bool{}
		}
		for l := range s.labels {
			ex[s.name][l] = true
		}
	}
	return ex
}

// targetLabels are added by Prometheus to every series it scrapes; "up" is its own.
var targetLabels = []string{"job", "instance"}

// check returns what expr references that ex lacks. records maps the names of recording
// rules to the labels their series carry.
func (ex exported) check(where, expr string, extraLabels []string, records map[string][]string) []string {
	r, err := parseRefs(expr)
	if err != nil {
		return []string{where + ": " + err.Error()}
	}
	var problems []string
	avail := map[string]bool{}
	for _, l := range targetLabels {
		avail[l] = true
	}
	for _, s := range r.selectors {
		var have map[string]bool
		switch {
		case s.name == "up":
			have = map[string]bool{}
		case records[s.name] != nil:
			have = map[string]bool{}
			for _, l := range records[s.name] {
				have[l] = true
			}
		case ex[s.name] != nil:
			have = ex[s.name]
		default:
			problems = append(problems, fmt.Sprintf("%s: metric %s is not exported by halod", where, s.name))
			continue
		}
		for l := range have {
			avail[l] = true
		}
		for _, l := range s.labels {
			if !have[l] && !slices.Contains(targetLabels, l) {
				problems = append(problems, fmt.Sprintf("%s: %s has no label %q (it has %s)", where, s.name, l, keys(have)))
			}
		}
	}
	for _, l := range append(r.grouping, extraLabels...) {
		if !avail[l] {
			problems = append(problems, fmt.Sprintf("%s: label %q is on none of the metrics the expression reads (%s)", where, l, keys(avail)))
		}
	}
	return problems
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// templateLabels finds {{ $labels.x }} (alert annotations) and {{x}} (Grafana legends).
var templateLabels = regexp.MustCompile(`\{\{\s*(?:\$labels\.)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

func labelsIn(tmpl string) []string {
	var out []string
	for _, m := range templateLabels.FindAllStringSubmatch(tmpl, -1) {
		out = append(out, m[1])
	}
	return out
}

type rulesFile struct {
	Groups []struct {
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// checkRules checks every rule of the alert rules file against ex.
func checkRules(ex exported, path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rf rulesFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	records := map[string][]string{}
	var problems []string
	for _, g := range rf.Groups {
		for _, rule := range g.Rules {
			name := rule.Alert
			if rule.Record != "" {
				name = rule.Record
			}
			var extra []string
			for _, a := range rule.Annotations {
				extra = append(extra, labelsIn(a)...)
			}
			problems = append(problems, ex.check(path+": "+name, rule.Expr, extra, records)...)
			if rule.Record != "" {
				r, err := parseRefs(rule.Expr)
				if err != nil {
					return nil, err
				}
				records[rule.Record] = append(r.grouping, targetLabels...)
			}
		}
	}
	return problems, nil
}
