package vrrp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// invalidLabels are the reasons Counters.Invalid documents; accept may return no other.
var invalidLabels = map[string]bool{
	"ttl": true, "too_short": true, "checksum": true, "version": true, "type": true,
	"length": true, "interval": true, "address_family": true, "vrid": true, "auth": true,
	"peer": true,
}

// acceptCase is one instance the receive check is fuzzed against: the four kinds halod
// runs (the VRIDs and the password are those of the testdata/capture.sh vectors, so the
// captured adverts are accepted as seeds).
type acceptCase struct {
	cfg   InstanceConfig
	peers map[netip.Addr]bool
}

func acceptCases() []acceptCase {
	vip := func(s string) []VIP { return []VIP{{Prefix: netip.MustParsePrefix(s)}} }
	return []acceptCase{
		{cfg: InstanceConfig{Name: "v2pass", VRID: 51, Version: 2, Priority: 100, AdvertInterval: time.Second,
			AuthPass: "s3cret", VIPs: vip("192.0.2.100/24")}},
		{cfg: InstanceConfig{Name: "v3mcast", VRID: 52, Version: 3, Priority: 100, AdvertInterval: 500 * time.Millisecond,
			VIPs: vip("192.0.2.102/24")}},
		{cfg: InstanceConfig{Name: "v3ucast", VRID: 52, Version: 3, Priority: 100, AdvertInterval: time.Second,
			VIPs: vip("192.0.2.102/24"), Unicast: &Unicast{Source: "192.0.2.11", Peers: []string{"192.0.2.12"}}},
			peers: map[netip.Addr]bool{netip.MustParseAddr("192.0.2.12"): true}},
		{cfg: InstanceConfig{Name: "v3ipv6", VRID: 53, Version: 3, Priority: 100, AdvertInterval: time.Second,
			VIPs: vip("2001:db8::100/64")}},
	}
}

// fuzzAddr turns fuzzed bytes into an address: 4 bytes IPv4, 16 bytes IPv6, anything else
// the zero Addr (a Dst the kernel did not report).
func fuzzAddr(b []byte) netip.Addr {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b))
	case 16:
		return netip.AddrFrom16([16]byte(b))
	}
	return netip.Addr{}
}

// FuzzAccept fuzzes the whole receive check, accept, with the packet bytes, TTL, source
// and destination, for a VRRPv2 instance with a password, a VRRPv3 IPv4 multicast one, a
// VRRPv3 unicast one and an IPv6 one. When fix is set the harness writes the right
// checksum into the message first, so that the fuzzer gets past it to the fields behind.
// Properties: accept never panics; a refusal is one of the documented counter labels; an
// accepted advert has the instance's version and the VRID its header carries (accept does
// not compare the VRID with the instance's: receiver.check drops other VRIDs with
// PeekVRID first, so that path is modelled here too), and re-marshalled with the same
// source and destination it is the same message, which accept accepts again.
func FuzzAccept(f *testing.F) {
	cases := acceptCases()
	mcast4, mcast6 := MulticastGroup(false).AsSlice(), MulticastGroup(true).AsSlice()
	src4, peer4 := []byte{192, 0, 2, 12}, []byte{192, 0, 2, 12}
	src6 := netip.MustParseAddr("fe80::ff:fe00:2").AsSlice()
	for i, name := range []string{"testdata/keepalived-v2-pass.pcap", "testdata/keepalived-v3-ipv4.pcap", "testdata/keepalived-v3-ipv6.pcap"} {
		kind := []uint8{0, 1, 3}[i]
		for _, p := range readPcap(f, name)[:1] {
			f.Add(kind, p.payload, p.src.AsSlice(), p.dst.AsSlice(), int16(p.ttl), false)
		}
	}
	for kind, c := range cases {
		src, dst := src4, mcast4
		switch {
		case c.cfg.IPv6():
			src, dst = src6, mcast6
		case c.peers != nil:
			src, dst = peer4, []byte{192, 0, 2, 11}
		}
		a := Advert{Version: c.cfg.Version, VRID: uint8(c.cfg.VRID), Priority: 100, Interval: c.cfg.AdvertInterval,
			Addresses: []netip.Addr{c.cfg.VIPs[0].Prefix.Addr()}}
		if c.cfg.AuthPass != "" {
			a.SetPassword(c.cfg.AuthPass)
		}
		b, err := a.Marshal(fuzzAddr(src), fuzzAddr(dst))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(kind), b, src, dst, int16(TTL), false)
		f.Add(uint8(kind), b, src, []byte(nil), int16(-1), true) // no Dst reported
	}
	f.Fuzz(func(t *testing.T, kind uint8, data, srcB, dstB []byte, ttl int16, fix bool) {
		c := cases[int(kind)%len(cases)]
		pk := Packet{Data: data, Src: fuzzAddr(srcB), Dst: fuzzAddr(dstB), TTL: int(ttl)}
		dst := pk.Dst
		if !dst.IsValid() {
			dst = MulticastGroup(c.cfg.IPv6()) // what accept assumes
		}
		if fix && len(data) >= headerLen {
			data = bytes.Clone(data)
			data[6], data[7] = 0, 0
			var sum uint32
			if data[0]>>4 == 3 && pk.Src.IsValid() && pk.Src.Is6() == dst.Is6() {
				sum = pseudoSum(pk.Src, dst, len(data))
			}
			c := fold(sum + onesSum(data))
			data[6], data[7] = byte(c>>8), byte(c)
			pk.Data = data
		}
		var adv Advert
		reason := accept(&c.cfg, pk, c.peers, &adv)
		if reason != "" {
			if !invalidLabels[reason] {
				t.Fatalf("accept returned %q, not a documented Counters.Invalid label", reason)
			}
			return
		}
		if adv.Version != c.cfg.Version {
			t.Fatalf("accepted a version %d advert for a version %d instance", adv.Version, c.cfg.Version)
		}
		if adv.VRID != data[1] {
			t.Fatalf("advert VRID %d, header says %d", adv.VRID, data[1])
		}
		if vrid, ok := PeekVRID(data); ok && int(vrid) == c.cfg.VRID && int(adv.VRID) != c.cfg.VRID {
			t.Fatalf("receive path accepted VRID %d for instance VRID %d", adv.VRID, c.cfg.VRID)
		}
		out, err := adv.Marshal(pk.Src, dst)
		if err != nil {
			t.Fatalf("Marshal of an accepted advert: %v (%+v)", err, adv)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("re-marshalled advert differs\n got  % x\n want % x", out, data)
		}
		var again Advert
		pk.Data = out
		if r := accept(&c.cfg, pk, c.peers, &again); r != "" {
			t.Fatalf("re-marshalled advert refused: %s", r)
		}
	})
}
