// Package poll waits for a condition with a deadline, for tests that must not sleep.
package poll

import (
	"testing"
	"time"
)

// Interval is how often Until re-checks its condition.
const Interval = 10 * time.Millisecond

// Until calls cond every Interval until it returns nil, and fails t naming what was
// awaited and cond's last error when timeout passes first. It returns how long it waited.
func Until(t testing.TB, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %v", timeout, what, err)
		}
		time.Sleep(Interval)
	}
}
