package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// rawTransport is the Transport over raw IP protocol 112 sockets.
type rawTransport struct {
	ifi   *net.Interface
	src   netip.Addr
	dsts  []netip.Addr
	p4    *ipv4.PacketConn // socket options; reads and writes go through rc
	p6    *ipv6.PacketConn
	rc    syscall.RawConn
	close func() error
	// batch, one and onePk are the read scratch: one goroutine reads a transport.
	batch *recvBatch
	one   [1][]byte
	onePk [1]Packet
}

var _ Transport = (*rawTransport)(nil)

// ListenTransport opens a raw VRRP socket bound to the interface, joins the multicast
// group unless peers are given, and sets TTL / hop limit 255 and keepalived's TOS.
func ListenTransport(ctx context.Context, cfg TransportConfig) (Transport, error) {
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %q: %w", cfg.Interface, err)
	}
	src, dsts, err := endpoints(cfg)
	if err != nil {
		return nil, err
	}
	t, err := openRaw(ctx, ifi, cfg.IPv6)
	if err != nil {
		return nil, err
	}
	t.src, t.dsts = src, dsts
	if len(cfg.Peers) == 0 {
		err = t.join()
	}
	if err == nil && cfg.VRID != 0 {
		err = t.setVRIDFilter(cfg.VRID)
	}
	if err != nil {
		t.close()
		return nil, fmt.Errorf("vrrp: set up the socket on %s: %w", ifi.Name, err)
	}
	return t, nil
}

// openRaw opens a raw IP protocol 112 socket bound to ifi, with TTL / hop limit 255 and
// keepalived's TOS, multicast looped back to nobody.
func openRaw(ctx context.Context, ifi *net.Interface, ipv6only bool) (*rawTransport, error) {
	t := &rawTransport{ifi: ifi, batch: newRecvBatch(readBatchSize)}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		// Bound to the device, the socket sees only this link's adverts: the same VRID
		// may run on another interface.
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifi.Name)
		}); err != nil {
			return err
		}
		return serr
	}}
	network, wildcard := "ip4:112", "0.0.0.0"
	if ipv6only {
		network, wildcard = "ip6:112", "::"
	}
	pc, err := lc.ListenPacket(ctx, network, wildcard)
	if err != nil {
		return nil, fmt.Errorf("vrrp: listen %s on %s: %w", network, ifi.Name, err)
	}
	t.close = pc.Close
	if rc, err := pc.(*net.IPConn).SyscallConn(); err == nil {
		t.rc = rc
	} else {
		pc.Close()
		return nil, fmt.Errorf("vrrp: %s socket on %s: %w", network, ifi.Name, err)
	}
	if ipv6only {
		p := ipv6.NewPacketConn(pc)
		t.p6 = p
		err = errors.Join(
			p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
			p.SetHopLimit(HopLimit),
			p.SetMulticastHopLimit(HopLimit),
			p.SetTrafficClass(tosInternetControl),
			p.SetMulticastInterface(ifi),
			p.SetMulticastLoopback(false),
		)
	} else {
		p := ipv4.NewPacketConn(pc)
		t.p4 = p
		err = errors.Join(
			p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true),
			p.SetTTL(TTL),
			p.SetMulticastTTL(TTL),
			p.SetTOS(tosInternetControl),
			p.SetMulticastInterface(ifi),
			p.SetMulticastLoopback(false),
		)
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("vrrp: set up %s socket on %s: %w", network, ifi.Name, err)
	}
	return t, nil
}

// join joins the VRRP multicast group on the socket's interface.
func (t *rawTransport) join() error {
	group := &net.IPAddr{IP: MulticastGroup(t.p6 != nil).AsSlice()}
	if t.p6 != nil {
		return t.p6.JoinGroup(t.ifi, group)
	}
	return t.p4.JoinGroup(t.ifi, group)
}

// setVRIDFilter attaches vridFilter to the socket.
func (t *rawTransport) setVRIDFilter(vrid uint8) error {
	prog, err := vridFilter(vrid, t.p6 != nil)
	if err != nil {
		return err
	}
	if t.p6 != nil {
		return t.p6.SetBPF(prog)
	}
	return t.p4.SetBPF(prog)
}

func (t *rawTransport) Source() netip.Addr         { return t.src }
func (t *rawTransport) Destinations() []netip.Addr { return t.dsts }
func (t *rawTransport) Close() error               { return t.close() }

func (t *rawTransport) ReadPacket(b []byte) (Packet, error) {
	t.one[0] = b
	if _, err := rawRecvBatch(t.rc, t.p6 != nil, t.batch, t.one[:], t.onePk[:]); err != nil {
		return Packet{}, err
	}
	return t.onePk[0], nil
}

// readBatch reads at least one packet, at most len(bufs), into bufs, and returns how many
// it put in pks (see rawRecvBatch).
func (t *rawTransport) readBatch(bufs [][]byte, pks []Packet) (int, error) {
	return rawRecvBatch(t.rc, t.p6 != nil, t.batch, bufs, pks)
}

func (t *rawTransport) WriteTo(msg []byte, dst netip.Addr) error {
	return t.writeFrom(msg, t.src, dst)
}

// writeFrom sends msg from src: a shared socket sends for instances of several sources.
// The source is pinned: the checksum was computed with it.
func (t *rawTransport) writeFrom(msg []byte, src, dst netip.Addr) error {
	if t.p6 != nil {
		var scope uint32
		if dst.IsLinkLocalMulticast() || dst.IsLinkLocalUnicast() {
			scope = uint32(t.ifi.Index)
		}
		oob := (&ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: t.ifi.Index, HopLimit: HopLimit}).Marshal()
		return rawSend(t.rc, msg, oob, dst, scope)
	}
	oob := (&ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: t.ifi.Index}).Marshal()
	return rawSend(t.rc, msg, oob, dst, 0)
}

// PrimaryAddress chooses the address adverts are sent from as keepalived does: the first
// primary (not secondary) IPv4 address of the interface, or its first IPv6 link-local
// address (RFC 5798 §5.1.2.1 requires a link-local source). Addresses inside vips are
// skipped.
func PrimaryAddress(iface string, ipv6 bool, vips []netip.Prefix) (netip.Addr, error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: interface %q: %w", iface, err)
	}
	family := netlink.FAMILY_V4
	if ipv6 {
		family = netlink.FAMILY_V6
	}
	list, err := netlink.AddrList(link, family)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: addresses of %s: %w", iface, err)
	}
	isVIP := func(a netip.Addr) bool {
		return slices.ContainsFunc(vips, func(p netip.Prefix) bool { return p.Addr() == a })
	}
	var fallback netip.Addr
	for _, ad := range list {
		a, ok := netip.AddrFromSlice(ad.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		if isVIP(a) {
			continue
		}
		if ipv6 {
			if a.IsLinkLocalUnicast() && ad.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
				return a, nil
			}
			continue
		}
		if ad.Flags&unix.IFA_F_SECONDARY == 0 {
			return a, nil
		}
		if !fallback.IsValid() {
			fallback = a
		}
	}
	if fallback.IsValid() {
		return fallback, nil
	}
	return netip.Addr{}, fmt.Errorf("%w: %s (IPv6: %v)", ErrNoAddress, iface, ipv6)
}

// openShared opens the raw socket a Sockets shares.
func openShared(ctx context.Context, iface string, ipv6only bool) (sharedConn, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %q: %w", iface, err)
	}
	return openRaw(ctx, ifi, ipv6only)
}
