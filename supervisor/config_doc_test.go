package supervisor

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const configDoc = "../configs/README.md"

// docRow is one row of a key table of configs/README.md.
type docRow struct {
	def, meaning string
	line         int
	// heading is the section's, prefix what its keys are relative to ("haproxy.", or "").
	heading, prefix string
}

// docTables reads the key tables of configs/README.md: full key path → row. A section
// whose heading is a key path ("## haproxy", "## vrrp.instances[]") holds keys relative
// to it; any other section holds full keys. A first cell "`notify.master`, `.backup`"
// documents notify.master and notify.backup.
func docTables(t *testing.T) (rows map[string]docRow, headings []string) {
	heading := ""
	t.Helper()
	data, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	rows = map[string]docRow{}
	prefix := ""
	keyPath := regexp.MustCompile(`^[a-z_]+(\[\])?(\.[a-z_]+(\[\])?)*$`)
	code := regexp.MustCompile("`([^`]*)`")
	for n, line := range strings.Split(string(data), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			headings = append(headings, h)
			heading, prefix = h, ""
			if keyPath.MatchString(h) {
				prefix = h + "."
			}
			continue
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 3 {
			t.Errorf("%s:%d: a key row needs 3 cells (key, default, meaning): %q", configDoc, n+1, line)
			continue
		}
		last := ""
		for _, m := range code.FindAllStringSubmatch(cells[0], -1) {
			k := m[1]
			if strings.HasPrefix(k, ".") && last != "" {
				k = parentPath(last) + k
			}
			last = k
			rows[prefix+k] = docRow{def: strings.TrimSpace(cells[1]), meaning: strings.Join(cells[2:], " | "), line: n + 1,
				heading: heading, prefix: prefix}
		}
	}
	return rows, headings
}

// effectiveDefaults give the default of a key whose field is a pointer, nil standing for
// a default that is not the zero value.
var effectiveDefaults = map[string]func(c *Config) any{
	"vrrp.instances[].preempt":                       func(c *Config) any { return c.VRRP.Instances[0].PreemptEnabled() },
	"vrrp.instances[].garp.delay":                    func(c *Config) any { return c.VRRP.Instances[0].GARP.GARPDelay() },
	"vrrp.instances[].track_haproxy.degraded_weight": func(*Config) any { return -50 },
	"haproxy.restart_in_place.enabled":               func(c *Config) any { return c.HAProxy.RestartInPlace.On() },
}

// TestConfigDocCoversEveryKey: every key of halo.yaml (walked from the Config type) has a
// row in configs/README.md with a default, durations in a unit, and the default the row
// gives is the one the code applies.
func TestConfigDocCoversEveryKey(t *testing.T) {
	rows, _ := docTables(t)
	c, err := ParseConfig("/etc/halo/halo.yaml", []byte(`vrrp:
  instances:
    - {name: VI_1, interface: eth0, vrid: 51, vips: [192.0.2.100/24]}
    - {name: VI_2, interface: eth0, vrid: 52, vips: [192.0.2.101/24]}
  sync_groups:
    - {name: VG_1, instances: [VI_1, VI_2]}
`))
	if err != nil {
		t.Fatal(err)
	}
	keys := configKeys()
	if len(keys) < 40 {
		t.Fatalf("only %d keys found: the walk of Config is broken", len(keys))
	}
	for _, k := range keys {
		row, ok := rows[k.path]
		if !ok {
			t.Error(missingRow(k, rows))
			continue
		}
		where := fmt.Sprintf("%s:%d: %s", configDoc, row.line, k.path)
		if row.def == "" {
			t.Errorf("%s: the default cell is empty: write the default, or required, none or absent", where)
			continue
		}
		if isDuration(k.typ) && !durationDefault.MatchString(row.def) && !keyReference.MatchString(row.def) {
			t.Errorf("%s: a duration whose default %q has no unit: write it as `0s`, `200ms`, ...", where, row.def)
		}
		if msg := compareDefault(c, k, row.def, rows); msg != "" {
			t.Errorf("%s: %s", where, msg)
		}
	}
}

var (
	durationDefault = regexp.MustCompile("^`-?[0-9.]+(ns|us|µs|ms|s|m|h)([0-9.]+(ns|us|µs|ms|s|m|h))*`")
	keyReference    = regexp.MustCompile("^`[a-z_]+(\\.[a-z_]+)+`$")
)

// missingRow says which row to add for k, and where: in the section that documents its
// nearest documented relative (a sibling, or a key of its parent section), written as
// that section writes its keys.
func missingRow(k configKey, rows map[string]docRow) string {
	unit := "DEFAULT"
	if isDuration(k.typ) {
		unit = "DEFAULT with its unit, e.g. 5s"
	}
	for p := parentPath(k.path); p != ""; p = parentPath(p) {
		best := ""
		for path := range rows {
			// The smallest path, so that the suggestion does not depend on map order.
			if strings.HasPrefix(path, p+".") && (best == "" || path < best) {
				best = path
			}
		}
		if best != "" {
			r := rows[best]
			return fmt.Sprintf("%s: no row for halo.yaml key %s: add\n| `%s` | %s | MEANING, with its limits |\nto the table under \"## %s\"",
				configDoc, k.path, strings.TrimPrefix(k.path, r.prefix), unit, r.heading)
		}
	}
	if top, rest, ok := strings.Cut(k.path, "."); ok {
		return fmt.Sprintf("%s: no row for halo.yaml key %s: add a section \"## %s\" with a table | key | default | meaning | and the row\n| `%s` | %s | MEANING, with its limits |",
			configDoc, k.path, top, rest, unit)
	}
	return fmt.Sprintf("%s: no row for halo.yaml key %s: add\n| `%s` | %s | MEANING, with its limits |\nto the table under \"## Top-level keys\"", configDoc, k.path, k.path, unit)
}

// compareDefault checks the documented default def of k against the default c carries.
func compareDefault(c *Config, k configKey, def string, rows map[string]docRow) string {
	var got any
	if f, ok := effectiveDefaults[k.path]; ok {
		got = f(c)
	} else {
		v, ok := k.valueAt(c)
		if !ok {
			return "" // under an absent optional section: nothing to compare
		}
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			return fmt.Sprintf("a pointer field with a value by default: add it to effectiveDefaults in %s", "config_doc_test.go")
		}
		if v.Kind() == reflect.Pointer {
			if _, ok := effectiveDefaults[k.path]; !ok && !wordDefault(def) {
				return fmt.Sprintf("the field is a pointer, nil by default, documented as %s: add its effective default to effectiveDefaults in config_doc_test.go", def)
			}
			return ""
		}
		got = v.Interface()
	}
	lower := strings.ToLower(def)
	if strings.HasPrefix(lower, "required") {
		return ""
	}
	if wordDefault(def) {
		if !reflect.ValueOf(got).IsZero() {
			return fmt.Sprintf("documented as %s, but the default is %v", def, got)
		}
		return ""
	}
	m := regexp.MustCompile("^`([^`]*)`").FindStringSubmatch(def)
	if m == nil {
		return fmt.Sprintf("cannot read the default %q: write it in backticks, or required, none or absent", def)
	}
	want := strings.Trim(m[1], `"`)
	if keyReference.MatchString(def) {
		section := k.path[:strings.LastIndex(k.path, ".")+1]
		for _, ref := range []string{topSection(k.path) + want, section + want, want} {
			for _, o := range configKeys() {
				if o.path == ref {
					v, _ := o.valueAt(c)
					if !reflect.DeepEqual(v.Interface(), got) {
						return fmt.Sprintf("documented as %s (%v), but the default is %v", def, v.Interface(), got)
					}
					return ""
				}
			}
		}
		return fmt.Sprintf("the default names %s, no key of halo.yaml", want)
	}
	var gotText string
	switch g := got.(type) {
	case time.Duration:
		d, err := time.ParseDuration(want)
		if err != nil || d != g {
			return fmt.Sprintf("documented default %s, the code's is %s", def, g)
		}
		return ""
	case []string:
		gotText = "[" + strings.Join(g, ", ") + "]"
	case map[string]int:
		if len(g) == 0 {
			gotText = "{}"
		}
	default:
		gotText = fmt.Sprint(got)
		if b, ok := got.(bool); ok {
			gotText = strconv.FormatBool(b)
		}
	}
	if gotText != want {
		return fmt.Sprintf("documented default %s, the code's is %q", def, gotText)
	}
	return ""
}

// wordDefault: the default is written as a word (none, absent) for a zero value.
func wordDefault(def string) bool {
	lower := strings.ToLower(def)
	return strings.HasPrefix(lower, "none") || strings.HasPrefix(lower, "absent")
}

// topSection returns the key of the first section of path, with its dot: "haproxy.".
func topSection(path string) string {
	top, _, _ := strings.Cut(path, ".")
	return top + "."
}

// TestConfigDocCheckFindsGaps: the check above names the missing row and where it goes.
func TestConfigDocCheckFindsGaps(t *testing.T) {
	rows := map[string]docRow{
		"haproxy.mode":           {heading: "haproxy", prefix: "haproxy."},
		"haproxy.check.interval": {heading: "haproxy", prefix: "haproxy."},
		"vrrp.instances[].name":  {heading: "vrrp.instances[]", prefix: "vrrp.instances[]."},
		"control.socket":         {heading: "control, metrics, log"},
		"cluster":                {heading: "Top-level keys"},
	}
	for _, c := range []struct {
		k    configKey
		want string
	}{
		{configKey{path: "haproxy.restart_in_place", typ: reflect.TypeFor[bool]()}, "| `restart_in_place` | DEFAULT | MEANING, with its limits |\nto the table under \"## haproxy\""},
		{configKey{path: "haproxy.check.grace", typ: reflect.TypeFor[time.Duration]()}, "| `check.grace` | DEFAULT with its unit, e.g. 5s |"},
		{configKey{path: "vrrp.instances[].track_bgp.weight", typ: reflect.TypeFor[int]()}, "| `track_bgp.weight` | DEFAULT |"},
		{configKey{path: "control.timeout", typ: reflect.TypeFor[time.Duration]()}, "| `control.timeout` | DEFAULT with its unit, e.g. 5s | MEANING, with its limits |\nto the table under \"## control, metrics, log\""},
		{configKey{path: "bgp.neighbors[].bfd.interval", typ: reflect.TypeFor[time.Duration]()}, "add a section \"## bgp\""},
		{configKey{path: "zone", typ: reflect.TypeFor[string]()}, "under \"## Top-level keys\""},
	} {
		if got := missingRow(c.k, rows); !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want it to contain %q", c.k.path, got, c.want)
		}
	}
	if durationDefault.MatchString("`10`") || !durationDefault.MatchString("`1m30s`") {
		t.Error("durationDefault accepts a bare number or refuses 1m30s")
	}
}

// TestConfigDocListsIntegerLimits probes every integer key of halo.yaml with values around
// the usual bounds and checks that its row states the range the code accepts: "1..100",
// "at least N", or each value of a small set.
func TestConfigDocListsIntegerLimits(t *testing.T) {
	rows, _ := docTables(t)
	// Each bound of the code (0, 1, 2..3, 100, 254, 255, ±253) with its neighbours.
	probes := []int{-100000, -1000, -256, -255, -254, -253, -252, -101, -100, -99, -2, -1, 0, 1, 2, 3, 4,
		5, 8, 10, 99, 100, 101, 127, 128, 252, 253, 254, 255, 256, 1000, 65535, 65536, 100000}
	for _, k := range configKeys() {
		kind := k.typ.Kind()
		if kind == reflect.Pointer {
			kind = k.typ.Elem().Kind()
		}
		if !isIntKind(kind) || isDuration(k.typ) {
			continue
		}
		row, ok := rows[k.path]
		if !ok {
			continue // TestConfigDocCoversEveryKey names it
		}
		var accepted []int
		for _, v := range probes {
			tree := baseConfig()
			setKey(tree, k.path, v)
			if _, err := ParseConfig("halo.yaml", mustYAML(t, tree)); err == nil {
				accepted = append(accepted, v)
			}
		}
		if len(accepted) == 0 {
			t.Errorf("%s: no value accepted with the test's base halo.yaml", k.path)
			continue
		}
		text := strings.ReplaceAll(row.meaning+" "+row.def, "−", "-")
		lo, hi := accepted[0], accepted[0]
		for _, v := range accepted {
			lo, hi = min(lo, v), max(hi, v)
		}
		var want []string
		switch {
		case len(accepted) <= 3:
			for _, v := range accepted {
				want = append(want, strconv.Itoa(v))
			}
		case hi >= 100000:
			want = []string{fmt.Sprintf("%d or more", lo)}
			if !strings.Contains(text, want[0]) {
				want = []string{fmt.Sprintf("at least %d", lo)}
			}
		default:
			want = []string{fmt.Sprintf("%d..%d", lo, hi)}
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s:%d: %s: the code accepts %s; the row does not say %q", configDoc, row.line, k.path, rangeText(accepted), w)
			}
		}
	}
}

func rangeText(vs []int) string {
	if len(vs) <= 3 {
		return fmt.Sprint(vs)
	}
	return fmt.Sprintf("%d values from %d to %d", len(vs), slicesMin(vs), slicesMax(vs))
}

func slicesMin(vs []int) int {
	m := vs[0]
	for _, v := range vs {
		m = min(m, v)
	}
	return m
}

func slicesMax(vs []int) int {
	m := vs[0]
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}

// TestConfigDocSaysWhatZeroMeans: configs/README.md says that 0 for a key whose default is
// not 0 is refused unless the key's row says what 0 means. Every numeric key whose 0 is
// accepted, with a default other than 0, must have a row that says it.
func TestConfigDocSaysWhatZeroMeans(t *testing.T) {
	rows, _ := docTables(t)
	zeroWord := regexp.MustCompile(`(^|[^0-9.])0s?([^0-9.]|$)`)
	for _, k := range configKeys() {
		if !isNumber(k.typ) && !isDuration(k.typ) {
			continue
		}
		row, ok := rows[k.path]
		if !ok || wordDefault(row.def) || strings.HasPrefix(strings.ToLower(row.def), "required") {
			continue
		}
		if zeroWord.MatchString(strings.Trim(row.def, "`")) && !strings.Contains(row.def, "..") {
			continue // the default is 0 itself
		}
		tree := baseConfig()
		zero := any(0)
		if isDuration(k.typ) {
			zero = "0s"
		}
		setKey(tree, k.path, zero)
		if _, err := ParseConfig("halo.yaml", mustYAML(t, tree)); err != nil {
			continue // refused, as the README says
		}
		if !zeroWord.MatchString(row.meaning) {
			t.Errorf("%s:%d: %s: 0 is accepted though the default is %s, and the row does not say what 0 means", configDoc, row.line, k.path, row.def)
		}
	}
}
