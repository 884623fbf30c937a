// Package bgptest runs what BGP tests need in memory and on loopback, without root: a
// second GoBGP playing the upstream router, a service-address binder in memory, and the
// halo-bgp engine built for the test.
package bgptest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/halo-lb/halo/internal/poll"
)

// Binder is a bgp.Binder in memory.
type Binder struct {
	mu    sync.Mutex
	bound map[netip.Prefix]bool
}

// Bind records the prefixes as bound.
func (b *Binder) Bind(ps []netip.Prefix) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bound = map[netip.Prefix]bool{}
	for _, p := range ps {
		b.bound[p] = true
	}
	return nil
}

// Unbind forgets them.
func (b *Binder) Unbind([]netip.Prefix) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bound = nil
	return nil
}

// Bound reports which are bound.
func (b *Binder) Bound(ps []netip.Prefix) map[netip.Prefix]bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[netip.Prefix]bool{}
	for _, p := range ps {
		out[p] = b.bound[p]
	}
	return out
}

// Router is a GoBGP speaker in AS 65000 listening on 127.0.0.1:Port that accepts one
// passive session from 127.0.0.1 in AS peerASN.
type Router struct {
	S    *server.BgpServer
	Port int
}

// NewRouter starts a Router; it stops with the test.
func NewRouter(t *testing.T, peerASN uint32) *Router {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
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
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: peerASN},
		Transport: &api.Transport{PassiveMode: true},
	}}); err != nil {
		t.Fatal(err)
	}
	return &Router{S: r, Port: port}
}

// Route returns what the router holds for prefix: "" when nothing, else "NEXTHOP
// [COMMUNITIES]" with the communities sorted, and " med=N" when a MED is sent, as
// "127.0.0.1 [65001:100 65535:0]".
func (r *Router) Route(prefix string) (string, error) {
	var out []string
	err := r.S.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: bgp.RF_IPv4_UC},
		func(nlri bgp.NLRI, paths []*apiutil.Path) {
			if nlri.String() != prefix {
				return
			}
			for _, p := range paths {
				var nh netip.Addr
				var comms []string
				med := ""
				for _, a := range p.Attrs {
					switch a := a.(type) {
					case *bgp.PathAttributeNextHop:
						nh = a.Value
					case *bgp.PathAttributeMultiExitDisc:
						med = fmt.Sprintf(" med=%d", a.Value)
					case *bgp.PathAttributeCommunities:
						for _, c := range a.Value {
							comms = append(comms, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
						}
					}
				}
				slices.Sort(comms)
				out = append(out, fmt.Sprintf("%s %v%s", nh, comms, med))
			}
		})
	return strings.Join(out, "; "), err
}

// Await waits until Route(prefix) is want, and returns how long that took.
func (r *Router) Await(t testing.TB, prefix, want, what string) time.Duration {
	t.Helper()
	return poll.Until(t, 20*time.Second, what, func() error {
		got, err := r.Route(prefix)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("router holds %q, want %q", got, want)
		}
		return nil
	})
}

var (
	engineOnce sync.Once
	engineDir  string
	enginePath string
	engineErr  error
)

// EngineBinary builds halo-bgp once per test binary and returns its path; Main removes
// it.
func EngineBinary(t testing.TB) string {
	t.Helper()
	engineOnce.Do(func() {
		gomod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			engineErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		if engineDir, engineErr = os.MkdirTemp("", "halo-bgp-"); engineErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", engineDir+"/", "./cmd/halo-bgp")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
		if out, err := cmd.CombinedOutput(); err != nil {
			engineErr = fmt.Errorf("go build ./cmd/halo-bgp: %v\n%s", err, out)
			return
		}
		enginePath = filepath.Join(engineDir, "halo-bgp")
	})
	if engineErr != nil {
		t.Fatal(engineErr)
	}
	return enginePath
}

// Main runs the tests and removes what EngineBinary built; call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if engineDir != "" {
		os.RemoveAll(engineDir)
	}
	os.Exit(code)
}
