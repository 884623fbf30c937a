package vrrp

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// cmsg appends one control message as the kernel lays it out.
func cmsg(b []byte, level, typ int32, data []byte) []byte {
	m := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&m[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(m[unix.CmsgLen(0):], data)
	return append(b, m...)
}

func int32Bytes(v int32) []byte { return binary.NativeEndian.AppendUint32(nil, uint32(v)) }

// TestParseCmsgsAgreesWithXNet: what the receive path reads of the control messages is
// what x/net's parser reads, for IPv4 and IPv6, in either order, for any values.
func TestParseCmsgsAgreesWithXNet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		ttl, ifi := int32(r.IntN(256)), int32(1+r.IntN(1<<20))
		var a4 [4]byte
		var a6 [16]byte
		binary.NativeEndian.PutUint32(a4[:], r.Uint32())
		binary.NativeEndian.PutUint64(a6[:8], r.Uint64())
		binary.NativeEndian.PutUint64(a6[8:], r.Uint64())

		pi4 := make([]byte, unix.SizeofInet4Pktinfo)
		binary.NativeEndian.PutUint32(pi4, uint32(ifi))
		copy(pi4[8:], a4[:]) // ipi_addr, after ipi_spec_dst
		msgs4 := [][]byte{cmsg(nil, unix.IPPROTO_IP, unix.IP_TTL, int32Bytes(ttl)), cmsg(nil, unix.IPPROTO_IP, unix.IP_PKTINFO, pi4)}
		pi6 := make([]byte, unix.SizeofInet6Pktinfo)
		copy(pi6, a6[:])
		binary.NativeEndian.PutUint32(pi6[16:], uint32(ifi))
		msgs6 := [][]byte{cmsg(nil, unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT, int32Bytes(ttl)), cmsg(nil, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, pi6)}
		if i%2 == 1 {
			msgs4[0], msgs4[1] = msgs4[1], msgs4[0]
			msgs6[0], msgs6[1] = msgs6[1], msgs6[0]
		}
		oob4, oob6 := append(msgs4[0], msgs4[1]...), append(msgs6[0], msgs6[1]...)

		var cm4 ipv4.ControlMessage
		if err := cm4.Parse(oob4); err != nil {
			t.Fatal(err)
		}
		want4 := Packet{TTL: cm4.TTL, IfIndex: cm4.IfIndex}
		want4.Dst, _ = netip.AddrFromSlice(cm4.Dst)
		got4 := Packet{TTL: -1}
		parseCmsgs(oob4, &got4)
		if got4.TTL != want4.TTL || got4.IfIndex != want4.IfIndex || got4.Dst != want4.Dst {
			t.Fatalf("IPv4: got TTL %d if %d dst %v, x/net %d %d %v", got4.TTL, got4.IfIndex, got4.Dst, want4.TTL, want4.IfIndex, want4.Dst)
		}

		var cm6 ipv6.ControlMessage
		if err := cm6.Parse(oob6); err != nil {
			t.Fatal(err)
		}
		want6 := Packet{TTL: cm6.HopLimit, IfIndex: cm6.IfIndex}
		want6.Dst, _ = netip.AddrFromSlice(cm6.Dst)
		got6 := Packet{TTL: -1}
		parseCmsgs(oob6, &got6)
		if got6.TTL != want6.TTL || got6.IfIndex != want6.IfIndex || got6.Dst != want6.Dst {
			t.Fatalf("IPv6: got hop limit %d if %d dst %v, x/net %d %d %v", got6.TTL, got6.IfIndex, got6.Dst, want6.TTL, want6.IfIndex, want6.Dst)
		}
	}
}

// FuzzParseCmsgs: control messages cut anywhere or made up never make the parser read
// out of bounds; a missing TTL stays unknown.
func FuzzParseCmsgs(f *testing.F) {
	f.Add(cmsg(cmsg(nil, unix.IPPROTO_IP, unix.IP_TTL, int32Bytes(255)), unix.IPPROTO_IP, unix.IP_PKTINFO, make([]byte, unix.SizeofInet4Pktinfo)))
	f.Add(cmsg(nil, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, make([]byte, unix.SizeofInet6Pktinfo)))
	f.Fuzz(func(t *testing.T, b []byte) {
		pk := Packet{TTL: -1}
		parseCmsgs(b, &pk)
		if len(b) < unix.CmsgLen(4) && pk.TTL != -1 {
			t.Errorf("%d bytes gave TTL %d", len(b), pk.TTL)
		}
	})
}
