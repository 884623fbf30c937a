package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Owner adds, removes and announces an instance's virtual addresses. The netlink
// implementation comes from NewNetlinkOwner; tests pass a recording one.
type Owner interface {
	// AddVIPs adds every VIP to its interface; adding one already present is no error.
	AddVIPs() error
	// RemoveVIPs removes every VIP; removing one that is absent is no error, so it also
	// clears what a crashed run left behind.
	RemoveVIPs() error
	// Announce sends one gratuitous ARP (IPv4) or unsolicited neighbour advertisement
	// (IPv6) per VIP; the runner repeats it per the GARP configuration.
	Announce() error
	Close() error
}

// Wire constants of the announcements.
const (
	etherTypeARP  = 0x0806 // IEEE 802 numbers
	etherTypeIPv6 = 0x86dd
	protoICMPv6   = 58   // IANA
	icmpNA        = 136  // neighbour advertisement, RFC 4861 §4.4
	naOverride    = 0x20 // the O flag: replace cached link-layer addresses, RFC 4861 §4.4
	optTargetLL   = 2    // target link-layer address option, RFC 4861 §4.6.1
	arpRequest    = 1    // RFC 826; a gratuitous ARP is a request for one's own address (RFC 5227 §3)
)

// netlinkOwner is the Owner over rtnetlink and AF_PACKET.
type netlinkOwner struct {
	vips  []VIP
	iface string

	mu    sync.Mutex
	conns map[string]*announcer // by interface name, opened on first use
}

type announcer struct {
	ifi  *net.Interface
	conn *packet.Conn
}

var _ Owner = (*netlinkOwner)(nil)

// NewNetlinkOwner returns the Owner of vips; a VIP without Dev goes to iface. Nothing is
// opened until the first call.
func NewNetlinkOwner(iface string, vips []VIP) Owner {
	return &netlinkOwner{vips: vips, iface: iface, conns: map[string]*announcer{}}
}

func (o *netlinkOwner) dev(v VIP) string {
	if v.Dev != "" {
		return v.Dev
	}
	return o.iface
}

func (o *netlinkOwner) addr(v VIP) *netlink.Addr {
	a := &netlink.Addr{
		IPNet: &net.IPNet{IP: v.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(v.Prefix.Bits(), v.Prefix.Addr().BitLen())},
		Label: v.Label,
	}
	if v.Prefix.Addr().Is6() {
		// Without NODAD the address sits tentative for the DAD time and cannot be used
		// (keepalived issue #565).
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

func (o *netlinkOwner) AddVIPs() error {
	var errs []error
	for _, v := range o.vips {
		link, err := netlink.LinkByName(o.dev(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp: add %s: %w", v.Prefix, err))
			continue
		}
		if err := netlink.AddrReplace(link, o.addr(v)); err != nil {
			errs = append(errs, fmt.Errorf("vrrp: add %s to %s: %w", v.Prefix, o.dev(v), err))
		}
	}
	return errors.Join(errs...)
}

func (o *netlinkOwner) RemoveVIPs() error {
	var errs []error
	for _, v := range o.vips {
		link, err := netlink.LinkByName(o.dev(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp: remove %s: %w", v.Prefix, err))
			continue
		}
		err = netlink.AddrDel(link, o.addr(v))
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("vrrp: remove %s from %s: %w", v.Prefix, o.dev(v), err))
		}
	}
	return errors.Join(errs...)
}

func (o *netlinkOwner) Announce() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for _, v := range o.vips {
		a, err := o.announcer(o.dev(v))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var frame []byte
		var to net.HardwareAddr
		if v.Prefix.Addr().Is6() {
			frame, to = unsolicitedNA(a.ifi.HardwareAddr, v.Prefix.Addr()), net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
		} else {
			frame, to = gratuitousARP(a.ifi.HardwareAddr, v.Prefix.Addr()), broadcastMAC()
		}
		if _, err := a.conn.WriteTo(frame, &packet.Addr{HardwareAddr: to}); err != nil {
			errs = append(errs, fmt.Errorf("vrrp: announce %s on %s: %w", v.Prefix, a.ifi.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (o *netlinkOwner) announcer(dev string) (*announcer, error) {
	if a, ok := o.conns[dev]; ok {
		return a, nil
	}
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, fmt.Errorf("vrrp: announce on %s: %w", dev, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("vrrp: announce on %s: not an Ethernet interface", dev)
	}
	// Protocol 0: the socket sends frames and receives none, so no queue fills up.
	c, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("vrrp: announce on %s: %w", dev, err)
	}
	a := &announcer{ifi: ifi, conn: c}
	o.conns[dev] = a
	return a, nil
}

func (o *netlinkOwner) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for dev, a := range o.conns {
		errs = append(errs, a.conn.Close())
		delete(o.conns, dev)
	}
	return errors.Join(errs...)
}

func broadcastMAC() net.HardwareAddr { return net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} }

// gratuitousARP builds the Ethernet frame of a gratuitous ARP request for vip (RFC 5227
// §3: sender and target protocol address both the VIP), broadcast, as keepalived sends it.
func gratuitousARP(mac net.HardwareAddr, vip netip.Addr) []byte {
	b := make([]byte, 0, 42)
	b = append(b, broadcastMAC()...)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, etherTypeARP)
	b = binary.BigEndian.AppendUint16(b, 1)      // hardware type Ethernet
	b = binary.BigEndian.AppendUint16(b, 0x0800) // protocol IPv4
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, arpRequest)
	ip := vip.As4()
	b = append(b, mac...)
	b = append(b, ip[:]...)
	b = append(b, broadcastMAC()...) // target hardware address: ignored by receivers
	b = append(b, ip[:]...)
	return b
}

// unsolicitedNA builds the Ethernet frame of an unsolicited neighbour advertisement for vip
// to all nodes (RFC 4861 §7.2.6), override flag set, with the target link-layer option.
func unsolicitedNA(mac net.HardwareAddr, vip netip.Addr) []byte {
	dst := netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 1})
	icmp := make([]byte, 0, 32)
	icmp = append(icmp, icmpNA, 0, 0, 0, naOverride, 0, 0, 0)
	t := vip.As16()
	icmp = append(icmp, t[:]...)
	icmp = append(icmp, optTargetLL, 1)
	icmp = append(icmp, mac...)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp, vip, dst, protoICMPv6))

	b := make([]byte, 0, 14+40+len(icmp))
	b = append(b, 0x33, 0x33, 0, 0, 0, 1)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv6)
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(icmp)))
	b = append(b, protoICMPv6, HopLimit) // RFC 4861 §7.1.2: hop limit 255
	d := dst.As16()
	b = append(b, t[:]...)
	b = append(b, d[:]...)
	return append(b, icmp...)
}
