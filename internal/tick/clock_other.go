//go:build !linux

package tick

import (
	"context"
	"time"
)

// Clock is a one-shot timer for a goroutine that waits for nothing else; off Linux, a Go
// timer (on Linux, a timerfd: see clock_linux.go).
type Clock struct{ t *time.Timer }

// NewClock returns a clock that is not set.
func NewClock() *Clock {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Clock{t: t}
}

// Set makes the clock fire once, d from now, replacing any earlier setting.
func (c *Clock) Set(d time.Duration) { c.t.Reset(d) }

// Wait blocks until the clock fires (true) or ctx ends (false).
func (c *Clock) Wait(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-c.t.C:
		return true
	}
}

// Close releases the clock, once its waiter has returned (end its ctx first).
func (c *Clock) Close() { c.t.Stop() }
