package vrrp

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"
)

// capturedPacket is one IP datagram carrying VRRP, read from a pcap file.
type capturedPacket struct {
	src, dst netip.Addr
	ttl      int
	payload  []byte
}

// readPcap reads the VRRP datagrams of an Ethernet pcap written by tcpdump -w (the
// testdata/capture.sh vectors). It understands only what those files hold: the classic
// little-endian pcap format, Ethernet, IPv4 without fragmentation and IPv6 without
// extension headers. A file it cannot read fails t (the test or the fuzz target seeding
// its corpus).
func readPcap(t testing.TB, name string) []capturedPacket {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		t.Fatalf("%s: not a little-endian pcap file", name)
	}
	if lt := binary.LittleEndian.Uint32(b[20:]); lt != 1 {
		t.Fatalf("%s: link type %d, want Ethernet (1)", name, lt)
	}
	var out []capturedPacket
	for p := b[24:]; len(p) > 0; {
		if len(p) < 16 {
			t.Fatalf("%s: truncated record header", name)
		}
		n := int(binary.LittleEndian.Uint32(p[8:]))
		if len(p) < 16+n {
			t.Fatalf("%s: truncated record", name)
		}
		frame := p[16 : 16+n]
		p = p[16+n:]
		if len(frame) < 14 {
			continue
		}
		switch binary.BigEndian.Uint16(frame[12:]) {
		case 0x0800:
			ip := frame[14:]
			ihl := int(ip[0]&0x0f) * 4
			total := int(binary.BigEndian.Uint16(ip[2:]))
			if ip[9] != ProtocolNumber {
				continue
			}
			out = append(out, capturedPacket{
				src:     netip.AddrFrom4([4]byte(ip[12:16])),
				dst:     netip.AddrFrom4([4]byte(ip[16:20])),
				ttl:     int(ip[8]),
				payload: ip[ihl:total],
			})
		case 0x86dd:
			ip := frame[14:]
			plen := int(binary.BigEndian.Uint16(ip[4:]))
			if ip[6] != ProtocolNumber {
				continue
			}
			out = append(out, capturedPacket{
				src:     netip.AddrFrom16([16]byte(ip[8:24])),
				dst:     netip.AddrFrom16([16]byte(ip[24:40])),
				ttl:     int(ip[7]),
				payload: ip[40 : 40+plen],
			})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no VRRP packets", name)
	}
	return out
}
