package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/halo-lb/halo/internal/tier"
)

func TestCheckExample(t *testing.T) {
	tier.HAProxy(t) // -t runs haproxy -c on the haproxy.cfg the example names
	var out, errOut bytes.Buffer
	if code := run([]string{"-t", "-config", "../../configs/two-node/lb1.yaml"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "configuration valid") {
		t.Errorf("stdout: %q", out.String())
	}
}

func TestCheckListsEveryProblem(t *testing.T) {
	f := filepath.Join(t.TempDir(), "halo.yaml")
	os.WriteFile(f, []byte("vrrp:\n  instances:\n    - name: VI_1\n      interface: eth0\n      vrid: 300\n      priority: 400\n      vips: [192.0.2.1]\n"), 0o644)
	var out, errOut bytes.Buffer
	if code := run([]string{"-t", "-config", f}, &out, &errOut); code == 0 {
		t.Fatal("exit 0 for an invalid config")
	}
	for _, want := range []string{f + ":5: vrrp.instances[0].vrid: 300 not in 1..255", f + ":6: vrrp.instances[0].priority: 400 not in 1..254", "configuration invalid"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("want %q in:\n%s", want, errOut.String())
		}
	}
}

func TestCheckUnknownKey(t *testing.T) {
	f := filepath.Join(t.TempDir(), "halo.yaml")
	os.WriteFile(f, []byte("log:\n  level: info\n  colour: blue\n"), 0o644)
	var out, errOut bytes.Buffer
	if code := run([]string{"-t", "-config", f}, &out, &errOut); code == 0 {
		t.Fatal("exit 0 for an unknown key")
	}
	if want := f + `:3: unknown key "colour"`; !strings.Contains(errOut.String(), want) {
		t.Errorf("want %q in %q", want, errOut.String())
	}
}

func TestCheckHAProxyConfig(t *testing.T) {
	tier.HAProxy(t)
	dir := t.TempDir()
	good, err := os.ReadFile("../../configs/haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), "mode 660 level admin", "mode 660 level user", 1)
	bad = strings.Replace(bad, "balance roundrobin", "balance roundrobin\n    server x 192.0.2.9:80 chek", 1)
	os.WriteFile(filepath.Join(dir, "haproxy.cfg"), []byte(bad), 0o644)
	f := filepath.Join(dir, "halo.yaml")
	os.WriteFile(f, []byte("haproxy: {config: [haproxy.cfg]}\n"+oneInstance), 0o644)
	var out, errOut bytes.Buffer
	if code := run([]string{"-t", "-config", f}, &out, &errOut); code == 0 {
		t.Fatal("exit 0 for a broken haproxy.cfg")
	}
	for _, want := range []string{"haproxy.cfg:", "unknown keyword 'chek'", "level admin"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("want %q in:\n%s", want, errOut.String())
		}
	}
}

const oneInstance = "vrrp:\n  instances:\n    - {name: VI_1, interface: eth0, vrid: 51, vips: [192.0.2.100/24]}\n"

// TestCheckEmptyConfig: `halod -t` on a truncated (empty) halo.yaml must refuse it.
func TestCheckEmptyConfig(t *testing.T) {
	f := filepath.Join(t.TempDir(), "halo.yaml")
	os.WriteFile(f, nil, 0o644)
	var out, errOut bytes.Buffer
	if code := run([]string{"-t", "-config", f}, &out, &errOut); code == 0 {
		t.Fatalf("exit 0 for an empty halo.yaml: %s", out.String())
	}
	if want := f + ": vrrp.instances: no VRRP instance"; !strings.Contains(errOut.String(), want) {
		t.Errorf("want %q in %q", want, errOut.String())
	}
}
