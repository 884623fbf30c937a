package vrrp

import (
	"errors"
	"net/netip"

	"golang.org/x/net/bpf"
)

// tosInternetControl is the TOS / traffic class keepalived sends adverts with (precedence 6,
// "internetwork control"), so that queues that honour it keep adverts ahead of data.
const tosInternetControl = 0xc0

// ErrNoAddress is returned when the interface has no address to send adverts from: no
// IPv4 address, or no IPv6 link-local address.
var ErrNoAddress = errors.New("vrrp: interface has no usable source address")

// Packet is one received VRRP message with what its IP header said.
type Packet struct {
	// Data is the VRRP message; it aliases the buffer passed to ReadPacket.
	Data []byte
	// Src and Dst are the IP source and destination.
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or the IPv6 hop limit, -1 when the kernel did not say.
	TTL int
	// IfIndex is the receiving interface, 0 when unknown.
	IfIndex int
}

// Transport moves the VRRP messages of one instance. The raw-socket implementation comes
// from ListenTransport; tests pass an in-memory one.
type Transport interface {
	// ReadPacket blocks until a message arrives; after Close it returns net.ErrClosed.
	ReadPacket(b []byte) (Packet, error)
	// WriteTo sends one message to dst with TTL / hop limit 255.
	WriteTo(msg []byte, dst netip.Addr) error
	// Source is the primary address adverts are sent from: it enters the VRRPv3
	// pseudo-header and decides ties of priority.
	Source() netip.Addr
	// Destinations are where adverts go: the multicast group or the unicast peers.
	Destinations() []netip.Addr
	Close() error
}

// TransportConfig says where a raw transport listens and sends.
type TransportConfig struct {
	// Interface is the link to speak on.
	Interface string
	// IPv6 selects VRRPv3 over IPv6 (ff02::12) instead of IPv4 (224.0.0.18).
	IPv6 bool
	// Source overrides the primary address (unicast_src_ip); zero: chosen as keepalived does.
	Source netip.Addr
	// Peers, when not empty, replace the multicast group (unicast).
	Peers []netip.Addr
	// VIPs are never chosen as the primary address, so that a VIP left by a crashed run
	// cannot become the source of adverts.
	VIPs []netip.Prefix
	// VRID, when not 0, has the kernel drop every packet of another virtual router before
	// it reaches the socket (a BPF filter): with many instances on one link, each
	// instance's socket would otherwise wake for every instance's adverts.
	VRID uint8
}

// vridFilter is a classic BPF program that accepts only packets whose VRRP VRID (the
// second byte of the VRRP header) is vrid. An IPv4 raw socket's filter sees the IP header
// first (its length in the low nibble of byte 0); an IPv6 one sees the VRRP header at
// once. A packet too short to hold the byte is dropped too (an out-of-bounds load ends the
// program with 0).
func vridFilter(vrid uint8, ipv6 bool) ([]bpf.RawInstruction, error) {
	var prog []bpf.Instruction
	if ipv6 {
		prog = append(prog, bpf.LoadAbsolute{Off: 1, Size: 1})
	} else {
		prog = append(prog, bpf.LoadMemShift{Off: 0}, bpf.LoadIndirect{Off: 1, Size: 1})
	}
	prog = append(prog,
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(vrid), SkipFalse: 1},
		bpf.RetConstant{Val: 1 << 16},
		bpf.RetConstant{Val: 0},
	)
	return bpf.Assemble(prog)
}

// endpoints returns the source and destinations of cfg's adverts.
func endpoints(cfg TransportConfig) (netip.Addr, []netip.Addr, error) {
	src := cfg.Source
	if !src.IsValid() {
		var err error
		if src, err = PrimaryAddress(cfg.Interface, cfg.IPv6, cfg.VIPs); err != nil {
			return src, nil, err
		}
	}
	dsts := cfg.Peers
	if len(dsts) == 0 {
		dsts = []netip.Addr{MulticastGroup(cfg.IPv6)}
	}
	return src, dsts, nil
}
