package bgp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// halo-bgp is found where it was asked for, else in $PATH (the test binary has none next
// to it), and its absence is an error that says what is missing and where it was sought.
func TestLookEngine(t *testing.T) {
	if _, err := os.Stat(filepath.Join("/usr/lib/halo", EngineName)); err == nil {
		t.Skip("a halo-bgp is installed in /usr/lib/halo")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, EngineName)
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := LookEngine(bin); err != nil || got != bin {
		t.Errorf("LookEngine(%s) = %q, %v", bin, got, err)
	}
	if _, err := LookEngine(filepath.Join(dir, "nothing")); err == nil || !strings.Contains(err.Error(), "nothing") {
		t.Errorf("a missing path: %v", err)
	}
	if _, err := LookEngine(dir); err == nil {
		t.Error("a directory taken for the engine")
	}
	t.Setenv("PATH", dir)
	if got, err := LookEngine(""); err != nil || got != bin {
		t.Errorf("from $PATH: %q, %v", got, err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err := LookEngine("")
	if err == nil || !strings.Contains(err.Error(), "halo-bgp") || !strings.Contains(err.Error(), "$PATH") {
		t.Errorf("nowhere: %v", err)
	}
}
