package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// halod runs BGP through the halo-bgp process and must not link GoBGP itself: its package
// initialisers alone (grpc, viper, GoBGP's API) doubled halod's size and idle RSS for
// every operator, BGP or not (docs/BGP.md).
func TestHalodDoesNotLinkGoBGP(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/halo-lb/halo/cmd/halod").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 50 || !slices.Contains(pkgs, "github.com/halo-lb/halo/bgp") {
		t.Fatalf("go list -deps answered %d packages without the bgp package: not halod's list", len(pkgs))
	}
	for _, p := range pkgs {
		for _, bad := range []string{"github.com/osrg/gobgp", "google.golang.org/grpc", "github.com/spf13/viper", "github.com/halo-lb/halo/bgp/engine"} {
			if strings.HasPrefix(p, bad) {
				t.Errorf("halod depends on %s: only halo-bgp may", p)
			}
		}
	}
}

// halod writes the Prometheus text format itself (metrics/text.go): client_golang's
// package initialisers (protobuf, procfs, prometheus/common) cost it 2.1 MB of stripped binary
// and about 2 MiB of idle RSS (issue #11). The tests may use them; halod must not link them.
func TestHalodDoesNotLinkPrometheusClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/halo-lb/halo/cmd/halod").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 50 || !slices.Contains(pkgs, "github.com/halo-lb/halo/metrics") {
		t.Fatalf("go list -deps answered %d packages without the metrics package: not halod's list", len(pkgs))
	}
	for _, p := range pkgs {
		for _, bad := range []string{"github.com/prometheus/", "google.golang.org/protobuf"} {
			if strings.HasPrefix(p, bad) {
				t.Errorf("halod depends on %s: metrics/ writes the exposition itself", p)
			}
		}
	}
}
