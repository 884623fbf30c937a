package engine

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	halo "github.com/halo-lb/halo/bgp"
)

// Session timers halo sets rather than GoBGP's defaults (120 s between connection
// attempts, 30 s idle after a reset): a load balancer back from a fault must be offered
// to the router again in seconds, not minutes. GoBGP's floor is 2 s.
const (
	connectRetry = 2 // seconds
	idleHold     = 2 // seconds
)

// startServer starts a GoBGP speaker in this process with the config's global settings
// and neighbours.
func startServer(ctx context.Context, c *halo.Config, logger *slog.Logger) (*server.BgpServer, error) {
	// GoBGP logs every FSM step and peer change at info; halo logs the transitions that
	// matter itself, so GoBGP's own lines pass from warn up (debug when halo's is).
	lvl := new(slog.LevelVar)
	lvl.Set(slog.LevelWarn)
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		lvl.Set(slog.LevelDebug)
	}
	gl := slog.New(&levelHandler{min: lvl, h: logger.Handler()}).With("engine", "gobgp")
	s := server.NewBgpServer(server.LoggerOption(gl, lvl))
	go s.Serve()
	port := int32(-1) // GoBGP: a negative port does not listen
	if c.ListenPort > 0 {
		port = int32(c.ListenPort)
	}
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: c.ASN, RouterId: c.RouterID, ListenPort: port,
	}}); err != nil {
		s.Stop()
		return nil, fmt.Errorf("bgp: start: %w", err)
	}
	for _, n := range c.Neighbors {
		if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: peerOf(n, false)}); err != nil {
			s.Stop()
			return nil, fmt.Errorf("bgp: neighbour %s: %w", n.Address, err)
		}
	}
	return s, nil
}

// bfdArmDelay is how long after a session first comes up halo turns BFD on for it. FRR
// (8.4) re-creates its BFD session for a neighbour when the BGP session comes up (it then
// knows the session's interface): a GoBGP BFD session already up takes the old session's
// Down for a dead router and resets BGP, and one still in Init stays bound to the old
// session's discriminator, ignores the new one and expires. Either way every start cost a
// session flap (seen in the lab: "1 flaps" on every neighbour). Armed once the session is
// up, BFD meets the router's final session.
const bfdArmDelay = time.Second

// peerOf is the GoBGP peer of a neighbour, with its BFD configuration when bfd is set.
func peerOf(n halo.NeighborConfig, bfd bool) *api.Peer {
	addr := netip.MustParseAddr(n.Address).Unmap()
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if addr.Is6() {
		fam.Afi = api.Family_AFI_IP6
	}
	hold := uint64(n.HoldTime / time.Second)
	p := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: addr.String(), PeerAsn: n.ASN, AuthPassword: n.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime: hold, KeepaliveInterval: max(hold/3, 1),
			ConnectRetry: connectRetry, IdleHoldTimeAfterReset: idleHold,
		}},
		Transport: &api.Transport{RemotePort: uint32(n.Port)},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
	}
	if bfd && n.BFDOn() {
		us := uint32(n.BFD.Interval / time.Microsecond)
		p.Bfd = &api.BfdPeerConfig{
			Enabled: true, DesiredMinimumTxInterval: us, RequiredMinimumReceive: us,
			DetectionMultiplier: uint32(n.BFD.Multiplier),
		}
	}
	return p
}

// pathsFor builds the routes of every prefix: draining adds GRACEFUL_SHUTDOWN and
// LOCAL_PREF 0 (RFC 8326 §4; GoBGP strips LOCAL_PREF toward eBGP peers). The next hop is
// left unspecified so that GoBGP puts the session's own address in it.
func pathsFor(c *halo.Config, p halo.Phase, degraded bool) ([]*apiutil.Path, error) {
	out := make([]*apiutil.Path, 0, len(c.Prefixes))
	for _, pc := range c.Prefixes {
		pf, err := netip.ParsePrefix(pc.Prefix)
		if err != nil {
			return nil, err
		}
		nlri, err := bgp.NewIPAddrPrefix(pf)
		if err != nil {
			return nil, err
		}
		attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
		fam := bgp.RF_IPv4_UC
		if pf.Addr().Is6() {
			fam = bgp.RF_IPv6_UC
			mp, err := bgp.NewPathAttributeMpReachNLRI(fam, []bgp.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
			if err != nil {
				return nil, err
			}
			attrs = append(attrs, mp)
		} else {
			nh, err := bgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
			if err != nil {
				return nil, err
			}
			attrs = append(attrs, nh)
		}
		var comms []uint32
		for _, s := range pc.Communities {
			v, err := halo.ParseCommunity(s)
			if err != nil {
				return nil, err
			}
			comms = append(comms, v)
		}
		lp := pc.LocalPref
		if p == halo.PhaseDraining {
			comms = append(comms, halo.GracefulShutdown)
			zero := uint32(0)
			lp = &zero
		}
		if len(comms) > 0 {
			attrs = append(attrs, bgp.NewPathAttributeCommunities(comms))
		}
		if lp != nil {
			attrs = append(attrs, bgp.NewPathAttributeLocalPref(*lp))
		}
		if pc.MED != nil || degraded {
			var med uint32
			if pc.MED != nil {
				med = *pc.MED
			}
			if degraded {
				med = uint32(min(uint64(med)+halo.DegradedMED, math.MaxUint32))
			}
			attrs = append(attrs, bgp.NewPathAttributeMultiExitDisc(med))
		}
		out = append(out, &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs})
	}
	return out, nil
}

// applyPhase offers (announced, draining) or withdraws every prefix. Adding a path for a
// prefix already offered replaces it, so the move to draining is one UPDATE per prefix
// with the new attributes, never a withdraw and re-announce.
func applyPhase(s *server.BgpServer, c *halo.Config, p halo.Phase, degraded bool) error {
	if p == halo.PhaseWithdrawn {
		if err := s.DeletePath(apiutil.DeletePathRequest{DeleteAll: true}); err != nil {
			return fmt.Errorf("bgp: withdraw: %w", err)
		}
		return nil
	}
	paths, err := pathsFor(c, p, degraded)
	if err != nil {
		return fmt.Errorf("bgp: build routes: %w", err)
	}
	if _, err := s.AddPath(apiutil.AddPathRequest{Paths: paths}); err != nil {
		return fmt.Errorf("bgp: announce: %w", err)
	}
	return nil
}

// listNeighbors reads every session's state from GoBGP.
func listNeighbors(ctx context.Context, s *server.BgpServer, c *halo.Config) ([]halo.NeighborStatus, error) {
	byAddr := map[string]halo.NeighborStatus{}
	err := s.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		st := p.GetState()
		ns := halo.NeighborStatus{
			Address: st.GetNeighborAddress(), ASN: st.GetPeerAsn(),
			State: sessionState(st.GetSessionState()), BFD: halo.BFDOff, Flaps: uint64(st.GetFlops()),
		}
		if ns.State == "ESTABLISHED" {
			if up := p.GetTimers().GetState().GetUptime(); up != nil {
				ns.Since = up.AsTime()
			}
		}
		for _, af := range p.GetAfiSafis() {
			ns.Received += af.GetState().GetReceived()
			ns.Advertised += af.GetState().GetAdvertised()
		}
		if p.GetConf() != nil && ns.Address == "" {
			ns.Address = p.GetConf().GetNeighborAddress()
		}
		if b := st.GetBfdState(); b != nil {
			ns.BFD = bfdState(b.GetSessionState())
		}
		byAddr[ns.Address] = ns
	})
	if err != nil {
		return nil, err
	}
	// Config order, and BFD "off" where it is not configured whatever GoBGP reports.
	out := make([]halo.NeighborStatus, 0, len(c.Neighbors))
	for _, n := range c.Neighbors {
		a := netip.MustParseAddr(n.Address).Unmap().String()
		ns, ok := byAddr[a]
		if !ok {
			ns = halo.NeighborStatus{Address: a, ASN: n.ASN, State: "IDLE"}
		}
		if !n.BFDOn() {
			ns.BFD = halo.BFDOff
		}
		out = append(out, ns)
	}
	return out, nil
}

func sessionState(s api.PeerState_SessionState) string {
	switch s {
	case api.PeerState_SESSION_STATE_IDLE:
		return "IDLE"
	case api.PeerState_SESSION_STATE_CONNECT:
		return "CONNECT"
	case api.PeerState_SESSION_STATE_ACTIVE:
		return "ACTIVE"
	case api.PeerState_SESSION_STATE_OPENSENT:
		return "OPENSENT"
	case api.PeerState_SESSION_STATE_OPENCONFIRM:
		return "OPENCONFIRM"
	case api.PeerState_SESSION_STATE_ESTABLISHED:
		return "ESTABLISHED"
	}
	return "UNKNOWN"
}

func bfdState(s api.BfdSessionState) string {
	switch s {
	case api.BfdSessionState_BFD_SESSION_STATE_UP:
		return halo.BFDUp
	case api.BfdSessionState_BFD_SESSION_STATE_INIT:
		return halo.BFDInit
	case api.BfdSessionState_BFD_SESSION_STATE_ADMIN_DOWN:
		return halo.BFDAdminDown
	}
	return halo.BFDDown
}

// levelHandler passes records at or above min to h.
type levelHandler struct {
	min slog.Leveler
	h   slog.Handler
}

func (l *levelHandler) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min.Level() && l.h.Enabled(ctx, lv)
}

func (l *levelHandler) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }

func (l *levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &levelHandler{min: l.min, h: l.h.WithAttrs(as)}
}

func (l *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{min: l.min, h: l.h.WithGroup(name)}
}
