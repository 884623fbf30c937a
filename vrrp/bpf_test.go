package vrrp

import (
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// TestVRIDFilter runs the kernel filter in x/net's BPF VM over real adverts: the instance's
// VRID passes, another VRID and a truncated packet do not.
func TestVRIDFilter(t *testing.T) {
	src, dst := netip.MustParseAddr("192.0.2.11"), MulticastGroup(false)
	msg, err := (&Advert{Version: 3, VRID: 51, Priority: 100, Interval: 1e9, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}).Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	// The IPv4 filter sees the IP header first: a 20-byte one, and one with options.
	ip20 := append([]byte{0x45, 0xc0, 0, 0, 0, 0, 0, 0, 255, 112, 0, 0, 192, 0, 2, 11, 224, 0, 0, 18}, msg...)
	ip24 := append([]byte{0x46, 0xc0, 0, 0, 0, 0, 0, 0, 255, 112, 0, 0, 192, 0, 2, 11, 224, 0, 0, 18, 1, 1, 1, 1}, msg...)
	for _, tc := range []struct {
		name   string
		ipv6   bool
		vrid   uint8
		packet []byte
		pass   bool
	}{
		{"v4 same vrid", false, 51, ip20, true},
		{"v4 with IP options", false, 51, ip24, true},
		{"v4 other vrid", false, 52, ip20, false},
		{"v4 truncated", false, 51, ip20[:21], false},
		{"v6 same vrid", true, 51, msg, true},
		{"v6 other vrid", true, 7, msg, false},
		{"v6 truncated", true, 51, msg[:1], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := vridFilter(tc.vrid, tc.ipv6)
			if err != nil {
				t.Fatal(err)
			}
			prog, ok := bpf.Disassemble(raw)
			if !ok {
				t.Fatal("filter does not disassemble")
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatal(err)
			}
			n, err := vm.Run(tc.packet)
			if err != nil {
				t.Fatal(err)
			}
			if got := n > 0; got != tc.pass {
				t.Errorf("passed %v, want %v", got, tc.pass)
			}
		})
	}
}
