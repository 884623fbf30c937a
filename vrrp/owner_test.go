package vrrp

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

func TestGratuitousARP(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	b := gratuitousARP(mac, netip.MustParseAddr("192.0.2.100"))
	want := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, // Ethernet
		0, 1, 0x08, 0, 6, 4, 0, 1, // Ethernet/IPv4, request
		2, 0, 0, 0, 0, 1, 192, 0, 2, 100, // sender
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 192, 0, 2, 100, // target: the VIP again
	}
	if !bytes.Equal(b, want) {
		t.Errorf("got  % x\nwant % x", b, want)
	}
}

func TestUnsolicitedNA(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	vip := netip.MustParseAddr("2001:db8::100")
	b := unsolicitedNA(mac, vip)
	if len(b) != 14+40+32 {
		t.Fatalf("length %d", len(b))
	}
	if !bytes.Equal(b[:6], []byte{0x33, 0x33, 0, 0, 0, 1}) || binary.BigEndian.Uint16(b[12:]) != etherTypeIPv6 {
		t.Errorf("Ethernet header % x", b[:14])
	}
	ip := b[14:54]
	if ip[0]>>4 != 6 || ip[6] != protoICMPv6 || ip[7] != 255 || binary.BigEndian.Uint16(ip[4:]) != 32 {
		t.Errorf("IPv6 header % x", ip)
	}
	src, dst := netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
	if src != vip || dst != netip.MustParseAddr("ff02::1") {
		t.Errorf("%s > %s", src, dst)
	}
	icmp := b[54:]
	if icmp[0] != icmpNA || icmp[4] != naOverride || netip.AddrFrom16([16]byte(icmp[8:24])) != vip {
		t.Errorf("NA % x", icmp)
	}
	if !bytes.Equal(icmp[24:], append([]byte{optTargetLL, 1}, mac...)) {
		t.Errorf("option % x", icmp[24:])
	}
	// A correct checksum makes the sum over pseudo-header and message zero.
	if c := checksum(icmp, src, dst, protoICMPv6); c != 0 {
		t.Errorf("ICMPv6 checksum does not verify: %#04x", c)
	}
}
