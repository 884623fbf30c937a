package bgp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/halo-lb/halo/bgp"
	"github.com/halo-lb/halo/bgp/engine"
	"github.com/halo-lb/halo/internal/bgptest"
	"github.com/halo-lb/halo/internal/poll"
)

func TestMain(m *testing.M) { bgptest.Main(m) }

// engines are the speaker's two engines: halod's (halo-bgp, a child process) and the
// in-process one halo-bgp serves.
func engines(t *testing.T) map[string]bgp.Engine {
	return map[string]bgp.Engine{
		"process":    bgp.ProcessEngine{Path: bgptest.EngineBinary(t)},
		"in-process": engine.New(),
	}
}

// The speaker announces while healthy, withdraws at once when not, and drains a
// planned withdrawal with GRACEFUL_SHUTDOWN before withdrawing: all seen from a real
// GoBGP peer, over a real session on loopback, with either engine.
func TestSpeakerAgainstGoBGP(t *testing.T) {
	for name, eng := range engines(t) {
		t.Run(name, func(t *testing.T) { testSpeaker(t, eng) })
	}
}

func testSpeaker(t *testing.T, eng bgp.Engine) {
	r := bgptest.NewRouter(t, 65001)
	port := r.Port
	drain := 700 * time.Millisecond
	cfg := bgp.Config{ASN: 65001, RouterID: "192.0.2.11", Drain: &drain,
		Neighbors: []bgp.NeighborConfig{{Address: "127.0.0.1", ASN: 65000, Port: port}},
		Prefixes:  []bgp.PrefixConfig{{Prefix: "198.51.100.10/32", Communities: []string{"65001:100"}}},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b := &bgptest.Binder{}
	sp := bgp.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), bgp.Options{Binder: b, Engine: eng, RefreshInterval: 50 * time.Millisecond})
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
	if st := sp.Status(); st.Prefixes[0].State != bgp.StateDraining {
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
	if st.Announces != 2 || st.Withdrawals != 2 || st.Drains != 1 || st.Prefixes[0].State != bgp.StateWithdrawn {
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
