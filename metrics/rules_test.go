package metrics_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/tier"
)

// promtool finds promtool: Debian's prometheus package carries it, and `make deps` (or
// `make promtool`) extracts it without installing the package, whose server would start.
func promtool(t *testing.T) string {
	return tier.Tool(t, "promtool", "make promtool (extracts it from Debian's prometheus package)")
}

// TestAlertRules runs the rules' own unit tests, configs/prometheus/halo-alerts.test.yml:
// every rule firing and not firing, split brain and no-master per cluster.
func TestAlertRules(t *testing.T) {
	pt := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "halo-alerts.yml"},
		{"test", "rules", "halo-alerts.test.yml"},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		cmd := exec.CommandContext(ctx, pt, args...)
		cmd.Dir = "../configs/prometheus"
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
