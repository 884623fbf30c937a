package bgp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/bgptest"
	"github.com/halo-lb/halo/internal/poll"
)

// The speaker announces while healthy, withdraws at once when not, and drains a
// planned withdrawal with GRACEFUL_SHUTDOWN before withdrawing: all seen from a real
// GoBGP peer, over a real session on loopback.
func TestSpeakerAgainstGoBGP(t *testing.T) {
	r := bgptest.NewRouter(t, 65001)
	port := r.Port
	drain := 700 * time.Millisecond
	cfg := Config{ASN: 65001, RouterID: "192.0.2.11", Drain: &drain,
		Neighbors: []NeighborConfig{{Address: "127.0.0.1", ASN: 65000, Port: port}},
		Prefixes:  []PrefixConfig{{Prefix: "198.51.100.10/32", Communities: []string{"65001:100"}}},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b := &bgptest.Binder{}
	sp := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Binder: b, RefreshInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	poll.Until(t, 20*time.Second, "session established", func() error {
		st := sp.Status()
		if n := st.Neighbors[0]; n.State != "ESTABLISHED" || n.Since.IsZero() {
			return fmt.Errorf("neighbour %+v", n)
		}
		if !st.Prefixes[0].Bound {
			return fmt.Errorf("prefix not bound: %+v", st.Prefixes[0])
		}
		return nil
	})
	if got, _ := r.Route("198.51.100.10/32"); got != "" {
		t.Fatalf("announced before any verdict: %q", got)
	}

	sp.SetHealthy(true)
	r.Await(t, "198.51.100.10/32", "127.0.0.1 [65001:100]", "announcement")

	// Degraded: still announced, with the MED raised so that healthy nodes win.
	sp.SetDegraded(true)
	r.Await(t, "198.51.100.10/32", "127.0.0.1 [65001:100] med=1000", "degraded MED")
	sp.SetDegraded(false)
	r.Await(t, "198.51.100.10/32", "127.0.0.1 [65001:100]", "MED gone again")

	sp.SetHealthy(false)
	if took := r.Await(t, "198.51.100.10/32", "", "withdrawal on unhealthy"); took > 2*time.Second {
		t.Errorf("withdrawal took %s", took)
	}

	sp.SetHealthy(true)
	r.Await(t, "198.51.100.10/32", "127.0.0.1 [65001:100]", "announcement again")
	start := time.Now()
	drained := make(chan error, 1)
	go func() { drained <- sp.Drain(t.Context()) }()
	r.Await(t, "198.51.100.10/32", "127.0.0.1 [65001:100 65535:0]", "graceful shutdown community")
	if st := sp.Status(); st.Prefixes[0].State != StateDraining {
		t.Errorf("prefix state %q while draining", st.Prefixes[0].State)
	}
	r.Await(t, "198.51.100.10/32", "", "withdrawal after the drain")
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < drain {
		t.Errorf("withdrawn %s after the drain began, before the %s drain", took, drain)
	}
	st := sp.Status()
	if st.Announces != 2 || st.Withdrawals != 2 || st.Drains != 1 || st.Prefixes[0].State != StateWithdrawn {
		t.Errorf("counters/state: announces %d withdrawals %d drains %d state %s", st.Announces, st.Withdrawals, st.Drains, st.Prefixes[0].State)
	}

	// Maintenance off: announced again.
	sp.SetDraining(false)
	r.Await(t, "198.51.100.10/32", "127.0.0.1 [65001:100]", "announcement after the drain ended")

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	if st := sp.Status(); st.Running || st.Prefixes[0].Bound {
		t.Errorf("after Run: running %v, bound %v", st.Running, st.Prefixes[0].Bound)
	}
	r.Await(t, "198.51.100.10/32", "", "withdrawal on stop")
}
