package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/halo-lb/halo/internal/tier"
)

// writeCheckDir writes halo.yaml and a haproxy.cfg (the example, with a maxconn any
// host's limit allows) into a temp dir and returns halo.yaml's path.
func writeCheckDir(t *testing.T, iface, metrics string) string {
	t.Helper()
	dir := t.TempDir()
	example, err := os.ReadFile("../../configs/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(example), "maxconn 25000", "maxconn 1000", 1)
	if cfg == string(example) {
		t.Fatal("configs/haproxy.cfg no longer sets maxconn 25000: update this test")
	}
	if err := os.WriteFile(filepath.Join(dir, "haproxy.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "halo.yaml")
	y := "haproxy: {config: [haproxy.cfg], check: {frontends: [main], backends: {app: 1}}}\n" +
		"vrrp:\n  instances:\n    - {name: VI_1, interface: " + iface + ", vrid: 51, vips: [192.0.2.100/24]}\n" +
		"metrics: {listen: \"" + metrics + "\"}\n"
	if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCheckWarnings: `halod -t` prints halo's warnings with file and line and exits 0;
// with -strict (or --strict) the same file exits 1; a file without warnings passes both.
func TestCheckWarnings(t *testing.T) {
	tier.HAProxy(t)
	warned := writeCheckDir(t, "halo-nx-test0", ":9110")
	clean := writeCheckDir(t, "lo", "127.0.0.1:9110")
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"warnings", []string{"-t", "-config", warned}, 0, []string{
			warned + `:4: warning: vrrp.instances[0].interface: "halo-nx-test0": no such interface`,
			warned + `:5: warning: metrics.listen: ":9110" listens on every address`,
			"configuration valid"}},
		{"strict", []string{"-t", "--strict", "-config", warned}, 1, []string{
			warned + `:4: warning: vrrp.instances[0].interface`,
			"configuration invalid: 2 warnings, and -strict makes warnings errors"}},
		{"clean", []string{"-t", "-config", clean}, 0, []string{"configuration valid"}},
		{"clean strict", []string{"-t", "-strict", "-config", clean}, 0, []string{"configuration valid"}},
	} {
		var out, errOut bytes.Buffer
		code := run(tc.args, &out, &errOut)
		all := out.String() + errOut.String()
		if code != tc.wantCode {
			t.Errorf("%s: exit %d, want %d:\n%s", tc.name, code, tc.wantCode, all)
		}
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: want %q in:\n%s", tc.name, w, all)
			}
		}
		if strings.HasPrefix(tc.name, "clean") && strings.Contains(all, "warning") {
			t.Errorf("%s: a warning for a config that fits this host:\n%s", tc.name, all)
		}
	}
}
