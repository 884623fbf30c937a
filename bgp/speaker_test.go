package bgp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/halo-lb/halo/internal/poll"
)

// memBinder is a Binder in memory.
type memBinder struct {
	mu    sync.Mutex
	bound map[netip.Prefix]bool
}

func (b *memBinder) Bind(ps []netip.Prefix) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bound = map[netip.Prefix]bool{}
	for _, p := range ps {
		b.bound[p] = true
	}
	return nil
}

func (b *memBinder) Unbind([]netip.Prefix) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bound = nil
	return nil
}

func (b *memBinder) Bound(ps []netip.Prefix) map[netip.Prefix]bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[netip.Prefix]bool{}
	for _, p := range ps {
		out[p] = b.bound[p]
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// router is a second GoBGP playing the upstream router: it listens on loopback and
// only accepts halo's session (passive).
func router(t *testing.T, port int) *server.BgpServer {
	t.Helper()
	r := server.NewBgpServer()
	go r.Serve()
	ctx := t.Context()
	if err := r.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65000, RouterId: "192.0.2.1", ListenPort: int32(port), ListenAddresses: []string{"127.0.0.1"},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	if err := r.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 65001},
		Transport: &api.Transport{PassiveMode: true},
	}}); err != nil {
		t.Fatal(err)
	}
	return r
}

// routesAt returns what the router holds for 198.51.100.10/32: "" when nothing, else
// its next hop and communities.
func routesAt(r *server.BgpServer) (string, error) {
	var out string
	err := r.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: bgp.RF_IPv4_UC},
		func(prefix bgp.NLRI, paths []*apiutil.Path) {
			if prefix.String() != "198.51.100.10/32" {
				return
			}
			for _, p := range paths {
				var nh netip.Addr
				var comms []string
				for _, a := range p.Attrs {
					switch a := a.(type) {
					case *bgp.PathAttributeNextHop:
						nh = a.Value
					case *bgp.PathAttributeCommunities:
						for _, c := range a.Value {
							comms = append(comms, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
						}
					}
				}
				slices.Sort(comms)
				out = fmt.Sprintf("%s %v", nh, comms)
			}
		})
	return out, err
}

func awaitRoute(t *testing.T, r *server.BgpServer, want, what string) time.Duration {
	t.Helper()
	return poll.Until(t, 20*time.Second, what, func() error {
		got, err := routesAt(r)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("router holds %q, want %q", got, want)
		}
		return nil
	})
}

// The speaker announces while healthy, withdraws at once when not, and drains a
// planned withdrawal with GRACEFUL_SHUTDOWN before withdrawing: all seen from a real
// GoBGP peer, over a real session on loopback.
func TestSpeakerAgainstGoBGP(t *testing.T) {
	port := freePort(t)
	r := router(t, port)
	drain := 700 * time.Millisecond
	cfg := Config{ASN: 65001, RouterID: "192.0.2.11", Drain: &drain,
		Neighbors: []NeighborConfig{{Address: "127.0.0.1", ASN: 65000, Port: port}},
		Prefixes:  []PrefixConfig{{Prefix: "198.51.100.10/32", Communities: []string{"65001:100"}}},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b := &memBinder{}
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
	if got, _ := routesAt(r); got != "" {
		t.Fatalf("announced before any verdict: %q", got)
	}

	sp.SetHealthy(true)
	awaitRoute(t, r, "127.0.0.1 [65001:100]", "announcement")

	sp.SetHealthy(false)
	if took := awaitRoute(t, r, "", "withdrawal on unhealthy"); took > 2*time.Second {
		t.Errorf("withdrawal took %s", took)
	}

	sp.SetHealthy(true)
	awaitRoute(t, r, "127.0.0.1 [65001:100]", "announcement again")
	start := time.Now()
	drained := make(chan error, 1)
	go func() { drained <- sp.Drain(t.Context()) }()
	awaitRoute(t, r, "127.0.0.1 [65001:100 65535:0]", "graceful shutdown community")
	if st := sp.Status(); st.Prefixes[0].State != StateDraining {
		t.Errorf("prefix state %q while draining", st.Prefixes[0].State)
	}
	awaitRoute(t, r, "", "withdrawal after the drain")
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
	awaitRoute(t, r, "127.0.0.1 [65001:100]", "announcement after the drain ended")

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	if st := sp.Status(); st.Running || st.Prefixes[0].Bound {
		t.Errorf("after Run: running %v, bound %v", st.Running, st.Prefixes[0].Bound)
	}
	awaitRoute(t, r, "", "withdrawal on stop")
}
