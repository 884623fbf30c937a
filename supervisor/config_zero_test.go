package supervisor

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// baseConfig is a valid halo.yaml with a sync group, as a tree the zero test sets keys in.
func baseConfig() map[string]any {
	inst := func(name string, vrid int) map[string]any {
		return map[string]any{"name": name, "interface": "eth0", "vrid": vrid, "vips": []any{"192.0.2.100/24"},
			"track_haproxy": map[string]any{"weight": -50}, "unicast": map[string]any{"peers": []any{"192.0.2.12"}}}
	}
	return map[string]any{"vrrp": map[string]any{
		"instances":   []any{inst("VI_1", 51), inst("VI_2", 52)},
		"sync_groups": []any{map[string]any{"name": "VG_1", "instances": []any{"VI_1", "VI_2"}}},
	}, "bgp": map[string]any{
		"asn": 65001, "router_id": "192.0.2.11",
		"neighbors": []any{map[string]any{"address": "192.0.2.1", "asn": 65000,
			"bfd": map[string]any{"interval": "300ms", "multiplier": 3}}},
		"prefixes": []any{map[string]any{"prefix": "198.51.100.10/32"}},
	}}
}

// setKey sets path (list elements written []: the first element) to value in tree.
func setKey(tree map[string]any, path string, value any) {
	parts := strings.Split(path, ".")
	m := tree
	for i, p := range parts {
		name, list := strings.CutSuffix(p, "[]")
		if i == len(parts)-1 {
			m[name] = value
			return
		}
		if list {
			l, _ := m[name].([]any)
			if len(l) == 0 {
				l = []any{map[string]any{}}
				m[name] = l
			}
			m = l[0].(map[string]any)
			continue
		}
		next, ok := m[name].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[name] = next
		}
		m = next
	}
}

// TestZeroNeverBecomesADefault writes 0 for every numeric key of halo.yaml, one at a
// time: either halod refuses it, naming the key, or the key keeps 0. A 0 that silently
// turns into the key's default (check.fast_interval: 0s used to become check.timeout)
// fails, naming the key to add to defaultedKeys.
func TestZeroNeverBecomesADefault(t *testing.T) {
	if _, err := ParseConfig("halo.yaml", mustYAML(t, baseConfig())); err != nil {
		t.Fatalf("the test's base halo.yaml is invalid: %v", err)
	}
	tested := 0
	for _, k := range configKeys() {
		if !isNumber(k.typ) && !isDuration(k.typ) {
			continue
		}
		tested++
		zero := any(0)
		if isDuration(k.typ) {
			zero = "0s"
		}
		tree := baseConfig()
		setKey(tree, k.path, zero)
		c, err := ParseConfig("halo.yaml", mustYAML(t, tree))
		field := strings.ReplaceAll(k.path, "[]", "[0]")
		if err != nil {
			// The key's own path, or its parent's for a rule on the pair (track_haproxy:
			// weight or fault).
			if !strings.Contains(err.Error(), field+":") && !strings.Contains(err.Error(), parentPath(field)+":") {
				t.Errorf("%s: 0: refused, but not for this key: give baseConfig() (config_zero_test.go) what the %q section needs to be valid: %v", k.path, topSection(k.path), err)
			} else if defaultedKeys[k.path] && !strings.Contains(err.Error(), field+": 0 is out of range; leave the key out") {
				t.Errorf("%s: 0: refused, not with the defaulted-key message: %v", k.path, err)
			}
			continue
		}
		v, ok := k.valueAt(c)
		if !ok {
			t.Errorf("%s: cannot find the key in the parsed config", k.path)
			continue
		}
		for v.Kind() == reflect.Pointer && !v.IsNil() {
			v = v.Elem()
		}
		if !v.IsZero() {
			t.Errorf("%s: 0 is accepted and becomes %v: add %q to defaultedKeys (supervisor/config.go), or make 0 mean 0", k.path, v, k.path)
		}
	}
	if tested < 20 {
		t.Errorf("only %d numeric keys found: the walk of Config is broken", tested)
	}
	// Every defaulted key names a key that exists.
	paths := map[string]bool{}
	for _, k := range configKeys() {
		paths[k.path] = true
	}
	for p := range defaultedKeys {
		if !paths[p] {
			t.Errorf("defaultedKeys lists %q, no key of halo.yaml", p)
		}
	}
}

// TestDefaultedKeyMatchesItsPathOnly: "timeout" is defaulted under haproxy.check, but a key
// of that name elsewhere is judged by its own path.
func TestDefaultedKeyMatchesItsPathOnly(t *testing.T) {
	for path, want := range map[string]bool{
		"haproxy.check.fast_interval":        true,
		"vrrp.instances[3].notify.timeout":   true,
		"vrrp.instances[0].garp.delay":       false,
		"vrrp.instances[0].preempt_delay":    false,
		"bgp.drain":                          false,
		"vrrp.instances[12].advert_interval": true,
		"vrrp.sync_groups[1].notify.timeout": true,
		"haproxy.check.backends.interval":    false,
	} {
		if got := defaultedKeys[keyPattern(path)]; got != want {
			t.Errorf("%s: defaulted %v, want %v", path, got, want)
		}
	}
}

func mustYAML(t *testing.T, v any) []byte {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFastIntervalZeroRefused: configs/README.md says 0 for a defaulted key is refused;
// check.fast_interval: 0s used to be taken as "check.timeout".
func TestFastIntervalZeroRefused(t *testing.T) {
	_, err := ParseConfig("halo.yaml", []byte("haproxy:\n  check:\n    fast_interval: 0s\n"+oneInstance))
	if err == nil || !strings.Contains(err.Error(), "halo.yaml:3: haproxy.check.fast_interval: 0 is out of range") {
		t.Fatalf("got %v, want check.fast_interval: 0s refused at line 3", err)
	}
}
