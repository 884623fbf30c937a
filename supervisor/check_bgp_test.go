package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/halo-lb/halo/bgp"
)

func TestCheckBGPEngine(t *testing.T) {
	if _, err := os.Stat(filepath.Join("/usr/lib/halo", bgp.EngineName)); err == nil {
		t.Skip("a halo-bgp is installed in /usr/lib/halo")
	}
	t.Setenv("PATH", t.TempDir())
	if err := CheckBGPEngine(&Config{}); err != nil {
		t.Errorf("no bgp section: %v", err)
	}
	err := CheckBGPEngine(&Config{BGP: &bgp.Config{}})
	if err == nil || !strings.Contains(err.Error(), "halo-bgp") {
		t.Errorf("bgp section, no halo-bgp: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, bgp.EngineName), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if err := CheckBGPEngine(&Config{BGP: &bgp.Config{}}); err != nil {
		t.Errorf("halo-bgp in $PATH: %v", err)
	}
}
