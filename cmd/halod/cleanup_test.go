package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/halo-lb/halo/internal/netlab"
)

// TestCleanupRemovesVIPs: `halod cleanup` takes the VIPs a dead halod left off the
// interface (tier 3: a namespace of its own).
func TestCleanupRemovesVIPs(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Nodes: 1})
	n := lab.Nodes[0]
	dir := t.TempDir()
	bin := filepath.Join(dir, "halod")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "halo.yaml")
	yaml := fmt.Sprintf("vrrp:\n  instances:\n    - {name: VI_1, interface: eth0, vrid: 51, vips: [192.0.2.100/24, 192.0.2.101/24]}\ncontrol: {socket: %s/halo.sock}\n", dir)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("192.0.2.100")
	if out, err := n.Exec(t.Context(), "ip", "addr", "add", "192.0.2.100/24", "dev", "eth0"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// Run twice: removing VIPs that are already gone is no error.
	for range 2 {
		if out, err := n.Exec(t.Context(), bin, "cleanup", "-config", cfg); err != nil {
			t.Fatalf("halod cleanup: %v\n%s", err, out)
		}
		if held, err := n.HasAddr(t.Context(), vip); err != nil || held {
			t.Fatalf("VIP still on eth0 after halod cleanup (%v)", err)
		}
	}
}
