package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckExample(t *testing.T) {
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
