package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestHalodLinksNoHeavyLibraries: what halod must not link, and why.
//   - GoBGP (with grpc and viper): halod runs BGP through the halo-bgp process; GoBGP's
//     package initialisers alone doubled halod's size and idle RSS for every operator, BGP
//     or not (docs/BGP.md).
//   - client_golang (with protobuf, procfs, prometheus/common): metrics/ writes the text
//     format itself; they cost halod 2.1 MB of stripped binary and about 2 MiB of idle RSS
//     (issue #11). The tests may use them.
func TestHalodLinksNoHeavyLibraries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/halo-lb/halo/cmd/halod").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := strings.Fields(string(out))
	for _, own := range []string{"github.com/halo-lb/halo/bgp", "github.com/halo-lb/halo/metrics"} {
		if len(pkgs) < 50 || !slices.Contains(pkgs, own) {
			t.Fatalf("go list -deps answered %d packages without %s: not halod's list", len(pkgs), own)
		}
	}
	banned := map[string]string{
		"github.com/osrg/gobgp":              "only halo-bgp may",
		"google.golang.org/grpc":             "only halo-bgp may",
		"github.com/spf13/viper":             "only halo-bgp may",
		"github.com/halo-lb/halo/bgp/engine": "only halo-bgp may",
		"github.com/prometheus/":             "metrics/ writes the exposition itself",
		"google.golang.org/protobuf":         "metrics/ writes the exposition itself",
	}
	for _, p := range pkgs {
		for prefix, why := range banned {
			if strings.HasPrefix(p, prefix) {
				t.Errorf("halod depends on %s: %s", p, why)
			}
		}
	}
}
