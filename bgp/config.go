package bgp

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config is the bgp section of halo.yaml. Its absence means no BGP at all: nothing of
// GoBGP is started and no address is bound.
type Config struct {
	// ASN is this node's autonomous system number, 1..4294967295. Required.
	ASN uint32 `yaml:"asn"`
	// RouterID is the BGP identifier, an IPv4 address unique among the router's peers
	// (usually the node's own address toward the router). Required.
	RouterID string `yaml:"router_id"`
	// ListenPort is the TCP port on which peers may open sessions; 0 (default) does not
	// listen: halo dials out to every neighbour, as kube-vip and MetalLB do, and the
	// router needs no route back to an open port on the load balancer.
	ListenPort int `yaml:"listen_port"`
	// Interface holds the service addresses on this node (default "lo"; a name that does
	// not exist is created as a dummy interface and deleted on stop). Every node binds
	// every service address, announced or not, so HAProxy binds it without
	// ip_nonlocal_bind.
	Interface string `yaml:"interface"`
	// Neighbors are the routers to announce to. At least one.
	Neighbors []NeighborConfig `yaml:"neighbors"`
	// Prefixes are the service addresses, each a /32 or a /128. At least one.
	Prefixes []PrefixConfig `yaml:"prefixes"`
	// Drain is how long a planned withdrawal (maintenance, resign, clean stop) keeps
	// the prefixes announced with the GRACEFUL_SHUTDOWN community (RFC 8326) before it
	// withdraws them, so that the routers move new flows away first (default 5s; 0s
	// withdraws at once; at most 10m).
	Drain *time.Duration `yaml:"drain"`
}

// NeighborConfig is one BGP peer.
type NeighborConfig struct {
	// Address is the peer's IPv4 or IPv6 address. An IPv4 session carries the IPv4
	// prefixes, an IPv6 session the IPv6 ones. Required, unique.
	Address string `yaml:"address"`
	// ASN is the peer's AS number; equal to bgp.asn makes an iBGP session. Required.
	ASN uint32 `yaml:"asn"`
	// Port is the peer's TCP port (default 179).
	Port int `yaml:"port"`
	// Password enables TCP MD5 signatures (RFC 2385) on the session; empty: none.
	Password string `yaml:"password"`
	// HoldTime is the proposed hold time, whole seconds from 3s to 65535s (default 9s;
	// keepalives every third of it). Without BFD it bounds the detection of a dead node.
	HoldTime time.Duration `yaml:"hold_time"`
	// BFD, when present, runs single-hop BFD (RFC 5880/5881) with the peer, and a BFD
	// down resets the session at once.
	BFD *BFDConfig `yaml:"bfd"`
}

// BFDConfig tunes BFD on one session.
type BFDConfig struct {
	// Enabled turns BFD on or off without removing the block (default true).
	Enabled *bool `yaml:"enabled"`
	// Interval is both the desired transmit and the required receive interval, 10ms to
	// 10s, whole milliseconds (default 300ms, FRR's default).
	Interval time.Duration `yaml:"interval"`
	// Multiplier is the detection multiplier, 2..255 (default 3): a session is down
	// after Interval × Multiplier without a packet.
	Multiplier int `yaml:"multiplier"`
}

// PrefixConfig is one service prefix.
type PrefixConfig struct {
	// Prefix is a host route, 198.51.100.10/32 or 2001:db8::10/128. Required, unique.
	Prefix string `yaml:"prefix"`
	// Communities are standard communities "ASN:value" (each part 0..65535) sent with
	// the prefix.
	Communities []string `yaml:"communities"`
	// LocalPref is sent on iBGP sessions (RFC 4271 LOCAL_PREF); absent: not sent.
	LocalPref *uint32 `yaml:"local_pref"`
	// MED is the MULTI_EXIT_DISC sent with the prefix; absent: not sent. Give every node
	// the same MED, or the router prefers the lowest and ECMP ends.
	MED *uint32 `yaml:"med"`
}

// Defaults, documented in configs/README.md.
const (
	DefaultInterface     = "lo"
	DefaultPort          = 179
	DefaultHoldTime      = 9 * time.Second
	DefaultDrain         = 5 * time.Second
	DefaultBFDInterval   = 300 * time.Millisecond
	DefaultBFDMultiplier = 3
	MaxDrain             = 10 * time.Minute
)

// DegradedMED is added to a prefix's MED while the node is degraded (SetDegraded).
const DegradedMED = 1000

// GracefulShutdown is the well-known GRACEFUL_SHUTDOWN community 65535:0 (RFC 8326 §5).
const GracefulShutdown uint32 = 0xFFFF0000

// ApplyDefaults fills unset fields with their documented defaults.
func (c *Config) ApplyDefaults() {
	if c.Interface == "" {
		c.Interface = DefaultInterface
	}
	if c.Drain == nil {
		d := DefaultDrain
		c.Drain = &d
	}
	for i := range c.Neighbors {
		n := &c.Neighbors[i]
		if n.Port == 0 {
			n.Port = DefaultPort
		}
		if n.HoldTime == 0 {
			n.HoldTime = DefaultHoldTime
		}
		if n.BFD != nil {
			if n.BFD.Enabled == nil {
				t := true
				n.BFD.Enabled = &t
			}
			if n.BFD.Interval == 0 {
				n.BFD.Interval = DefaultBFDInterval
			}
			if n.BFD.Multiplier == 0 {
				n.BFD.Multiplier = DefaultBFDMultiplier
			}
		}
	}
}

// DrainTime returns the configured or default drain time.
func (c *Config) DrainTime() time.Duration {
	if c.Drain == nil {
		return DefaultDrain
	}
	return *c.Drain
}

// BFDOn reports whether BFD runs with this neighbour.
func (n *NeighborConfig) BFDOn() bool {
	return n.BFD != nil && (n.BFD.Enabled == nil || *n.BFD.Enabled)
}

// ParseCommunity reads a standard community "ASN:value" (RFC 1997), each part 0..65535.
func ParseCommunity(s string) (uint32, error) {
	a, v, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("%q: want ASN:value, such as \"65001:100\"", s)
	}
	hi, err1 := strconv.ParseUint(a, 10, 16)
	lo, err2 := strconv.ParseUint(v, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q: both parts must be integers 0..65535", s)
	}
	return uint32(hi)<<16 | uint32(lo), nil
}

// ServicePrefixes returns the parsed prefixes of a validated config.
func (c *Config) ServicePrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(c.Prefixes))
	for _, p := range c.Prefixes {
		if pf, err := netip.ParsePrefix(p.Prefix); err == nil {
			out = append(out, pf)
		}
	}
	return out
}
