package haproxy

import (
	"errors"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
)

// TestStopJustAfterStart: HAProxy 2.6 loses a SIGUSR1 that reaches its master just after
// it forked its worker; a stop at that moment (a halod stopped while HAProxy restarts)
// must still be a soft stop, not a kill after stop_timeout.
func TestStopJustAfterStart(t *testing.T) {
	for i := range 4 {
		l := newLab(t)
		r := start(t, l.cfg)
		poll.Until(t, 10*time.Second, "the worker forked", func() error {
			if _, ok := r.log.find("Loading success."); !ok {
				return errors.New("not yet")
			}
			return nil
		})
		t0 := time.Now()
		r.cancel()
		err := <-r.done
		r.done <- nil // for start's cleanup
		if err != nil {
			t.Fatalf("stop %d, %s after the start: %v", i, time.Since(t0).Round(time.Millisecond), err)
		}
		if d := time.Since(t0); d > 3*time.Second {
			t.Errorf("stop %d took %s", i, d)
		}
	}
}
