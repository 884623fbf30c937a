package vrrp

import (
	"encoding/binary"
	"net"
	"net/netip"
)

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
