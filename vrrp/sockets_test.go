package vrrp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeConn is a shared raw socket in memory: the test pushes packets, closes or breaks it.
type fakeConn struct {
	in     chan Packet
	errc   chan error
	mu     sync.Mutex
	joins  int
	closed bool
	sent   []netip.Addr // sources of what was written
}

func newFakeConn() *fakeConn { return &fakeConn{in: make(chan Packet, 16), errc: make(chan error, 1)} }

// readBatch returns what is queued, at least one packet: a burst is read in one call.
func (c *fakeConn) readBatch(bufs [][]byte, pks []Packet) (int, error) {
	var pk Packet
	select {
	case pk = <-c.in:
	case err := <-c.errc:
		return 0, err
	}
	for n := 0; ; {
		pk.Data = bufs[n][:copy(bufs[n], pk.Data)]
		pks[n] = pk
		if n++; n == len(bufs) {
			return n, nil
		}
		select {
		case pk = <-c.in:
		default:
			return n, nil
		}
	}
}

func (c *fakeConn) writeFrom(msg []byte, src, dst netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, src)
	return nil
}

func (c *fakeConn) join() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.joins++
	return nil
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.errc <- net.ErrClosed
	}
	return nil
}

func (c *fakeConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func advertFor(t *testing.T, vrid uint8, src, dst netip.Addr) Packet {
	t.Helper()
	a := Advert{Version: 3, VRID: vrid, Priority: 100, Interval: time.Second, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	b, err := a.Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	return Packet{Data: b, Src: src, Dst: dst, TTL: TTL}
}

// feed takes tr's packets as an instance does, into a channel.
func feed(tr Transport) <-chan Packet {
	ch := make(chan Packet, 16)
	tr.(packetFeed).deliverTo(func(pk Packet) {
		pk.Data = append([]byte(nil), pk.Data...)
		ch <- pk
	})
	return ch
}

func nextPacket(t *testing.T, ch <-chan Packet) (Packet, bool) {
	t.Helper()
	select {
	case pk := <-ch:
		return pk, true
	case <-time.After(100 * time.Millisecond): // a packet that is not coming: bounded wait
		return Packet{}, false
	}
}

// TestSocketsShareOneSocket: instances of one interface share one socket; each gets the
// adverts of its own VRID only, a unicast instance none sent to the group, and the socket
// closes with its last instance.
func TestSocketsShareOneSocket(t *testing.T) {
	conns := 0
	fc := newFakeConn()
	s := NewSockets()
	s.open = func(context.Context, string, bool) (sharedConn, error) { conns++; return fc, nil }
	src1, src2 := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")
	peer := netip.MustParseAddr("192.0.2.13")
	a, err := s.Listen(t.Context(), TransportConfig{Interface: "eth0", VRID: 51, Source: src1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Listen(t.Context(), TransportConfig{Interface: "eth0", VRID: 52, Source: src2, Peers: []netip.Addr{peer}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Listen(t.Context(), TransportConfig{Interface: "eth0", VRID: 51, Source: src1}); err == nil {
		t.Error("a second instance of VRID 51 on eth0 was accepted")
	}
	if conns != 1 || fc.joins != 1 {
		t.Fatalf("%d sockets opened, %d group joins; want 1, 1", conns, fc.joins)
	}
	group := MulticastGroup(false)
	fa, fb := feed(a), feed(b)
	fc.in <- advertFor(t, 52, peer, group) // to the group: not for the unicast instance
	fc.in <- advertFor(t, 51, peer, group)
	fc.in <- advertFor(t, 52, peer, src2)
	fc.in <- advertFor(t, 53, peer, group) // nobody's
	if pk, ok := nextPacket(t, fa); !ok || pk.Data[1] != 51 {
		t.Errorf("VRID 51 got %v, %v", pk, ok)
	}
	if pk, ok := nextPacket(t, fb); !ok || pk.Data[1] != 52 || pk.Dst != src2 {
		t.Errorf("VRID 52 got %+v, %v; want the unicast advert", pk, ok)
	}
	if pk, ok := nextPacket(t, fb); ok {
		t.Errorf("VRID 52 got another packet: %+v", pk)
	}
	if err := a.WriteTo([]byte{1}, group); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteTo([]byte{1}, peer); err != nil {
		t.Fatal(err)
	}
	if fc.sent[0] != src1 || fc.sent[1] != src2 {
		t.Errorf("sent from %v, want each instance's own source", fc.sent)
	}
	a.Close()
	if fc.isClosed() {
		t.Fatal("the socket closed while an instance still uses it")
	}
	b.Close()
	if !fc.isClosed() {
		t.Fatal("the socket stayed open after its last instance left")
	}
	if _, err := b.ReadPacket(make([]byte, 64)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadPacket after Close = %v, want net.ErrClosed", err)
	}
}

// TestSocketsFailureReachesEveryInstance: a socket that fails for good fails every
// instance on it (each restarts and opens a new one), never leaving one deaf.
func TestSocketsFailureReachesEveryInstance(t *testing.T) {
	fc := newFakeConn()
	s := NewSockets()
	s.open = func(context.Context, string, bool) (sharedConn, error) { return fc, nil }
	a, _ := s.Listen(t.Context(), TransportConfig{Interface: "eth0", VRID: 51, Source: netip.MustParseAddr("192.0.2.11")})
	b, _ := s.Listen(t.Context(), TransportConfig{Interface: "eth0", VRID: 52, Source: netip.MustParseAddr("192.0.2.11")})
	fc.errc <- errors.New("no buffer space available")
	for _, tr := range []Transport{a, b} {
		closed, errf := tr.(packetFeed).deliverTo(func(Packet) {})
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("an instance was not told its socket failed")
		}
		if errf() == nil {
			t.Error("a failed socket closed an instance's feed with no error")
		}
	}
	fresh := newFakeConn()
	s.open = func(context.Context, string, bool) (sharedConn, error) { return fresh, nil }
	c, err := s.Listen(t.Context(), TransportConfig{Interface: "eth0", VRID: 51, Source: netip.MustParseAddr("192.0.2.11")})
	if err != nil {
		t.Fatalf("a restarted instance cannot listen again: %v", err)
	}
	c.Close()
}
