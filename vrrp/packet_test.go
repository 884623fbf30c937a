package vrrp

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// equateAddr compares netip values by ==, since cmp cannot see their unexported fields.
func equateAddr() cmp.Option {
	return cmp.Options{
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	}
}

// TestKeepalivedVectors parses adverts captured from Debian's keepalived 2.2.7
// (testdata/capture.sh) and checks that marshalling the parsed advert gives back the very
// bytes keepalived sent, checksum included.
func TestKeepalivedVectors(t *testing.T) {
	pass := Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second,
		Addresses: addrs("192.0.2.100", "192.0.2.101")}
	pass.SetPassword("s3cret")
	tests := []struct {
		file string
		want Advert
		src  netip.Addr
	}{
		{"testdata/keepalived-v2-pass.pcap", pass, netip.MustParseAddr("192.0.2.11")},
		{"testdata/keepalived-v3-ipv4.pcap", Advert{Version: 3, VRID: 52, Priority: 120,
			Interval: 500 * time.Millisecond, Addresses: addrs("192.0.2.102")}, netip.MustParseAddr("192.0.2.11")},
		{"testdata/keepalived-v3-ipv6.pcap", Advert{Version: 3, VRID: 53, Priority: 200,
			Interval: time.Second, Addresses: addrs("2001:db8::100", "2001:db8::101")}, netip.MustParseAddr("fe80::ff:fe00:1")},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			pkts := readPcap(t, tt.file)
			sawZero := false
			for i, p := range pkts {
				if p.ttl != TTL {
					t.Errorf("packet %d: TTL %d", i, p.ttl)
				}
				if p.src != tt.src || p.dst != MulticastGroup(tt.src.Is6()) {
					t.Errorf("packet %d: %s > %s", i, p.src, p.dst)
				}
				var got Advert
				if err := got.Unmarshal(p.payload, p.src, p.dst); err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				want := tt.want
				if got.Priority == 0 {
					// keepalived's last advert on shutdown (RFC 5798 §6.4.3).
					sawZero = true
					want.Priority = 0
				}
				if diff := cmp.Diff(want, got, equateAddr()); diff != "" {
					t.Errorf("packet %d (-want +got):\n%s", i, diff)
				}
				b, err := want.Marshal(p.src, p.dst)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b, p.payload) {
					t.Errorf("packet %d: marshal\n got  % x\n want % x", i, b, p.payload)
				}
			}
			if !sawZero {
				t.Errorf("no priority-0 advert in the capture")
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	v4src, v4dst := netip.MustParseAddr("192.0.2.1"), MulticastGroup(false)
	v6src, v6dst := netip.MustParseAddr("fe80::1"), MulticastGroup(true)
	good := func(a Advert, src, dst netip.Addr) []byte {
		b, err := a.Marshal(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v3 := good(Advert{Version: 3, VRID: 7, Priority: 100, Interval: time.Second, Addresses: addrs("192.0.2.100")}, v4src, v4dst)
	v2 := good(Advert{Version: 2, VRID: 7, Priority: 100, Interval: time.Second, Addresses: addrs("192.0.2.100")}, v4src, v4dst)
	mut := func(b []byte, f func([]byte)) []byte {
		c := bytes.Clone(b)
		f(c)
		return c
	}
	tests := []struct {
		name     string
		b        []byte
		src, dst netip.Addr
		want     error
	}{
		{"empty", nil, v4src, v4dst, ErrTooShort},
		{"header only", v3[:7], v4src, v4dst, ErrTooShort},
		{"truncated address", v3[:10], v4src, v4dst, ErrTooShort},
		{"trailing byte", append(bytes.Clone(v3), 0), v4src, v4dst, ErrLength},
		{"version 1", mut(v3, func(b []byte) { b[0] = 0x11 }), v4src, v4dst, ErrVersion},
		{"version 4", mut(v3, func(b []byte) { b[0] = 0x41 }), v4src, v4dst, ErrVersion},
		{"type 2", mut(v3, func(b []byte) { b[0] = 0x32 }), v4src, v4dst, ErrType},
		{"vrid 0", mut(v3, func(b []byte) { b[1] = 0 }), v4src, v4dst, ErrVRID},
		{"count too high", mut(v3, func(b []byte) { b[3] = 2 }), v4src, v4dst, ErrTooShort},
		{"count too low", mut(v3, func(b []byte) { b[3] = 0 }), v4src, v4dst, ErrLength},
		{"v3 checksum", mut(v3, func(b []byte) { b[6] ^= 1 }), v4src, v4dst, ErrChecksum},
		{"v3 wrong pseudo-header", v3, netip.MustParseAddr("192.0.2.2"), v4dst, ErrChecksum},
		{"v3 interval 0", fixChecksum(mut(v3, func(b []byte) { b[4], b[5] = 0, 0 }), v4src, v4dst), v4src, v4dst, ErrInterval},
		{"v3 no pseudo-header", v3, netip.Addr{}, netip.Addr{}, ErrAddressFamily},
		{"v3 mixed families", v3, v4src, v6dst, ErrAddressFamily},
		{"v3 over IPv6 with IPv4 length", v3, v6src, v6dst, ErrTooShort},
		{"v2 checksum", mut(v2, func(b []byte) { b[13] ^= 0x80 }), v4src, v4dst, ErrChecksum},
		{"v2 over IPv6", v2, v6src, v6dst, ErrAddressFamily},
		{"v2 without auth data", v2[:12], v4src, v4dst, ErrTooShort},
		{"v2 interval 0", fixChecksum(mut(v2, func(b []byte) { b[5] = 0 }), netip.Addr{}, netip.Addr{}), v4src, v4dst, ErrInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Advert
			err := a.Unmarshal(tt.b, tt.src, tt.dst)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unmarshal: %v, want %v", err, tt.want)
			}
		})
	}
}

// fixChecksum recomputes the checksum of a hand-edited message (v3 when src is valid).
func fixChecksum(b []byte, src, dst netip.Addr) []byte {
	b[6], b[7] = 0, 0
	c := checksum(b, src, dst, ProtocolNumber)
	b[6], b[7] = byte(c>>8), byte(c)
	return b
}

func TestMarshalErrors(t *testing.T) {
	src, dst := netip.MustParseAddr("192.0.2.1"), MulticastGroup(false)
	many := make([]netip.Addr, 256)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
	}
	tests := []struct {
		name string
		a    Advert
		want error
	}{
		{"vrid 0", Advert{Version: 3, Interval: time.Second}, ErrVRID},
		{"version 4", Advert{Version: 4, VRID: 1, Interval: time.Second}, ErrVersion},
		{"v3 interval not centiseconds", Advert{Version: 3, VRID: 1, Interval: 15 * time.Millisecond}, ErrInterval},
		{"v3 interval too long", Advert{Version: 3, VRID: 1, Interval: 41 * time.Second}, ErrInterval},
		{"v2 sub-second", Advert{Version: 2, VRID: 1, Interval: 500 * time.Millisecond}, ErrInterval},
		{"v2 IPv6", Advert{Version: 2, VRID: 1, Interval: time.Second, Addresses: addrs("2001:db8::1")}, ErrAddressFamily},
		{"mixed", Advert{Version: 3, VRID: 1, Interval: time.Second, Addresses: addrs("192.0.2.1", "2001:db8::1")}, ErrAddressFamily},
		{"v3 IPv6 addresses over IPv4", Advert{Version: 3, VRID: 1, Interval: time.Second, Addresses: addrs("2001:db8::1")}, ErrAddressFamily},
		{"too many", Advert{Version: 3, VRID: 1, Interval: time.Second, Addresses: many}, ErrTooMany},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.a.Marshal(src, dst); !errors.Is(err, tt.want) {
				t.Fatalf("Marshal: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("fe80::1")
	tests := []struct {
		a        Advert
		src, dst netip.Addr
	}{
		{Advert{Version: 3, VRID: 255, Priority: 255, Interval: 10 * time.Millisecond, Addresses: addrs("192.0.2.100")}, v4, MulticastGroup(false)},
		{Advert{Version: 3, VRID: 1, Priority: 0, Interval: 40950 * time.Millisecond, Addresses: addrs("2001:db8::1", "2001:db8::2")}, v6, MulticastGroup(true)},
		{Advert{Version: 3, VRID: 1, Priority: 1, Interval: time.Second, Addresses: addrs("192.0.2.100")}, v4, netip.MustParseAddr("192.0.2.12")},
		{Advert{Version: 2, VRID: 9, Priority: 100, Interval: 255 * time.Second, Addresses: addrs("192.0.2.100")}, v4, MulticastGroup(false)},
	}
	for _, tt := range tests {
		b, err := tt.a.Marshal(tt.src, tt.dst)
		if err != nil {
			t.Fatal(err)
		}
		var got Advert
		if err := got.Unmarshal(b, tt.src, tt.dst); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.a, got, equateAddr()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if vrid, ok := PeekVRID(b); !ok || vrid != tt.a.VRID {
			t.Errorf("PeekVRID = %d, %v", vrid, ok)
		}
	}
}

// FuzzUnmarshal checks that Unmarshal never panics and that whatever it accepts, Marshal
// reproduces byte for byte (the mdlayher/arp habit).
func FuzzUnmarshal(f *testing.F) {
	v4, v6 := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("fe80::ff:fe00:1")
	for _, name := range []string{"testdata/keepalived-v2-pass.pcap", "testdata/keepalived-v3-ipv4.pcap", "testdata/keepalived-v3-ipv6.pcap"} {
		for _, p := range readPcap(f, name)[:1] {
			f.Add(p.payload, p.src.Is6())
		}
	}
	f.Add([]byte{0x31, 1, 100, 0, 0, 100, 0, 0}, false)
	f.Fuzz(func(t *testing.T, b []byte, ipv6 bool) {
		src, dst := v4, MulticastGroup(false)
		if ipv6 {
			src, dst = v6, MulticastGroup(true)
		}
		var a Advert
		if err := a.Unmarshal(b, src, dst); err != nil {
			return
		}
		out, err := a.Marshal(src, dst)
		if err != nil {
			t.Fatalf("Marshal of an accepted message: %v (%+v)", err, a)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip\n got  % x\n want % x", out, b)
		}
	})
}

func BenchmarkMarshal(b *testing.B) {
	src, dst := netip.MustParseAddr("192.0.2.11"), MulticastGroup(false)
	a := Advert{Version: 3, VRID: 51, Priority: 100, Interval: time.Second, Addresses: addrs("192.0.2.100", "192.0.2.101")}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.AppendMarshal(buf[:0], src, dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	src, dst := netip.MustParseAddr("192.0.2.11"), MulticastGroup(false)
	a := Advert{Version: 3, VRID: 51, Priority: 100, Interval: time.Second, Addresses: addrs("192.0.2.100", "192.0.2.101")}
	msg, err := a.Marshal(src, dst)
	if err != nil {
		b.Fatal(err)
	}
	var got Advert
	b.ReportAllocs()
	for b.Loop() {
		if err := got.Unmarshal(msg, src, dst); err != nil {
			b.Fatal(err)
		}
	}
}
