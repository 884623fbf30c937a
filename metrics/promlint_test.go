package metrics_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPromtoolCheckMetrics runs `promtool check metrics` (Prometheus' own linter) over a
// scrape of halod's handler: names, units, HELP and TYPE as Prometheus wants them.
func TestPromtoolCheckMetrics(t *testing.T) {
	t.Parallel() // promtool runs beside the namespace test
	pt := promtool(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pt, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape(t, freshNode()))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
