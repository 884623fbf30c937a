// Package engine is halo's BGP engine: GoBGP v4 in the calling process, behind the
// bgp.Engine interface. Only halo-bgp (cmd/halo-bgp) and tests import it, so that halod,
// which runs it as that child process, carries none of GoBGP's code or package
// initialisers (grpc, protobuf, viper) when no bgp section asks for it.
package engine

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	halo "github.com/halo-lb/halo/bgp"
)

// GoBGP is the in-process engine.
type GoBGP struct{}

// New returns the in-process engine.
func New() halo.Engine { return GoBGP{} }

// Start starts a GoBGP speaker and the watcher of its sessions.
func (GoBGP) Start(ctx context.Context, spec halo.EngineSpec) (halo.EngineRun, error) {
	if spec.Log == nil {
		spec.Log = slog.New(slog.DiscardHandler)
	}
	srv, err := startServer(ctx, spec.Config, spec.Log)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	r := &run{srv: srv, spec: spec, cancel: cancel}
	if r.spec.RefreshInterval <= 0 {
		r.spec.RefreshInterval = time.Second
	}
	r.wg.Go(func() { r.watch(wctx) })
	return r, nil
}

type run struct {
	srv    *server.BgpServer
	spec   halo.EngineSpec
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func (r *run) Apply(_ context.Context, p halo.Phase, degraded bool) error {
	return applyPhase(r.srv, r.spec.Config, p, degraded)
}

// Stop withdraws before the CEASE, so that a router that keeps a closed session's routes
// as stale (graceful restart) has none to keep.
func (r *run) Stop(context.Context) error {
	var err error
	r.once.Do(func() {
		r.cancel()
		r.wg.Wait()
		err = applyPhase(r.srv, r.spec.Config, halo.PhaseWithdrawn, false)
		r.srv.Stop() // a CEASE to every established neighbour: the routers withdraw at once
	})
	return err
}

// Done is nil: GoBGP inside this process ends only with it.
func (r *run) Done() <-chan struct{} { return nil }

func (r *run) Err() error { return nil }

// watch reports the neighbours' states when they change: at once on a session event
// (logged), else every RefreshInterval, which picks up BFD and counter changes. It arms
// each neighbour's BFD once its session first comes up (bfdArmDelay).
func (r *run) watch(ctx context.Context) {
	refresh := make(chan struct{}, 1)
	var armMu sync.Mutex
	armed := map[netip.Addr]bool{}
	closed := false // no arming once the watch ends: arms.Wait may have begun
	var arms sync.WaitGroup
	defer func() {
		armMu.Lock()
		closed = true
		armMu.Unlock()
		arms.Wait()
	}()
	err := r.srv.WatchEvent(ctx, server.WatchEventMessageCallbacks{
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
			if ev.Type == apiutil.PEER_EVENT_STATE {
				st := ev.Peer.State
				r.spec.Log.Info("bgp session", "neighbor", st.NeighborAddress, "state", st.SessionState.String(),
					"reason", st.DisconnectMessage)
				if st.SessionState == bgp.BGP_FSM_ESTABLISHED {
					armMu.Lock()
					n, ok := r.neighbor(st.NeighborAddress)
					if ok && n.BFDOn() && !armed[st.NeighborAddress] && !closed {
						armed[st.NeighborAddress] = true
						arms.Go(func() { r.armBFD(ctx, n) })
					}
					armMu.Unlock()
				}
			}
			select {
			case refresh <- struct{}{}:
			default:
			}
		},
	}, server.WatchPeer())
	if err != nil && !errors.Is(err, context.Canceled) {
		r.spec.Log.Warn("bgp: session events not watched; polling only", "err", err)
	}
	t := time.NewTicker(r.spec.RefreshInterval)
	defer t.Stop()
	var last []halo.NeighborStatus
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		ns, err := listNeighbors(rctx, r.srv, r.spec.Config)
		cancel()
		if err == nil && !slices.EqualFunc(ns, last, sameNeighbor) {
			last = ns
			if r.spec.OnNeighbors != nil {
				r.spec.OnNeighbors(slices.Clone(ns))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-refresh:
		}
	}
}

// neighbor returns the configured neighbour at addr.
func (r *run) neighbor(addr netip.Addr) (halo.NeighborConfig, bool) {
	for _, n := range r.spec.Config.Neighbors {
		if a, err := netip.ParseAddr(n.Address); err == nil && a.Unmap() == addr.Unmap() {
			return n, true
		}
	}
	return halo.NeighborConfig{}, false
}

// armBFD turns BFD on for n, bfdArmDelay after its session first came up.
func (r *run) armBFD(ctx context.Context, n halo.NeighborConfig) {
	t := time.NewTimer(bfdArmDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	if _, err := r.srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: peerOf(n, true)}); err != nil {
		r.spec.Log.Warn("bgp: BFD not turned on", "neighbor", n.Address, "err", err)
		return
	}
	r.spec.Log.Debug("bgp: BFD on", "neighbor", n.Address)
}

func sameNeighbor(a, b halo.NeighborStatus) bool {
	return a.Since.Equal(b.Since) && a.Address == b.Address && a.ASN == b.ASN && a.State == b.State &&
		a.BFD == b.BFD && a.Received == b.Received && a.Advertised == b.Advertised && a.Flaps == b.Flaps
}
