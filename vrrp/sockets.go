package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Sockets shares one raw VRRP socket per interface and address family among the
// instances of a process, as keepalived does. With a socket per instance the kernel
// clones every advert on the link for every instance's socket before the VRID filter
// drops it (50 instances at 100 ms: 25,000 clones a second on a backup, paid partly by
// the sender); shared, each advert is delivered once and handed to its instance by
// VRID. Give the same Sockets to every instance's Options; the zero value is not usable:
// use NewSockets.
type Sockets struct {
	open func(ctx context.Context, iface string, ipv6 bool) (sharedConn, error)

	mu    sync.Mutex
	socks map[sockKey]*sharedSock
}

// NewSockets returns an empty set of shared sockets; each opens with its first instance
// and closes with its last.
func NewSockets() *Sockets {
	return &Sockets{open: openShared, socks: map[sockKey]*sharedSock{}}
}

// sharedConn is what a shared socket needs of the raw socket (rawTransport on Linux).
type sharedConn interface {
	// readBatch reads at least one packet, at most len(bufs), into bufs, and returns how
	// many it put in pks.
	readBatch(bufs [][]byte, pks []Packet) (int, error)
	writeFrom(msg []byte, src, dst netip.Addr) error
	join() error
	Close() error
}

type sockKey struct {
	iface string
	ipv6  bool
}

type sharedSock struct {
	conn   sharedConn
	ports  map[uint8]*sharedPort // by VRID
	joined bool
}

// sharedPort is one instance's Transport on a shared socket.
type sharedPort struct {
	s       *Sockets
	key     sockKey
	sock    *sharedSock
	vrid    uint8
	src     netip.Addr
	dsts    []netip.Addr
	unicast bool

	sink      atomic.Pointer[func(Packet)] // set by deliverTo; nil: packets are dropped
	closed    chan struct{}
	closeOnce sync.Once
	err       error // set before closed is closed by a failed socket
}

var _ packetFeed = (*sharedPort)(nil)

// packetFeed is a Transport whose reader hands each packet to the instance directly,
// with no goroutine of the instance's own between.
type packetFeed interface {
	Transport
	// deliverTo makes the socket's reader call sink with each packet (its Data valid
	// during the call only; sink must not block); ReadPacket is not used. It returns a
	// channel closed when no more come, and the error that closed it (nil after Close).
	deliverTo(sink func(Packet)) (<-chan struct{}, func() error)
}

// Listen returns the Transport of one instance (cfg.VRID must be set) on the shared
// socket of its interface and family, opening it if it is the first.
func (s *Sockets) Listen(ctx context.Context, cfg TransportConfig) (Transport, error) {
	if cfg.VRID == 0 {
		return nil, errors.New("vrrp: a shared socket needs the instance's VRID")
	}
	src, dsts, err := endpoints(cfg)
	if err != nil {
		return nil, err
	}
	key := sockKey{cfg.Interface, cfg.IPv6}
	s.mu.Lock()
	defer s.mu.Unlock()
	sock := s.socks[key]
	if sock == nil {
		conn, err := s.open(ctx, cfg.Interface, cfg.IPv6)
		if err != nil {
			return nil, err
		}
		sock = &sharedSock{conn: conn, ports: map[uint8]*sharedPort{}}
		s.socks[key] = sock
		go s.read(key, sock)
	}
	if _, dup := sock.ports[cfg.VRID]; dup {
		s.releaseLocked(key, sock)
		return nil, fmt.Errorf("vrrp: VRID %d already runs on %s", cfg.VRID, cfg.Interface)
	}
	p := &sharedPort{s: s, key: key, sock: sock, vrid: cfg.VRID, src: src, dsts: dsts, unicast: len(cfg.Peers) > 0,
		closed: make(chan struct{})}
	if !p.unicast && !sock.joined {
		if err := sock.conn.join(); err != nil {
			s.releaseLocked(key, sock)
			return nil, fmt.Errorf("vrrp: join the VRRP group on %s: %w", cfg.Interface, err)
		}
		sock.joined = true
	}
	sock.ports[cfg.VRID] = p
	return p, nil
}

// releaseLocked closes sock when no port uses it any more. s.mu is held.
func (s *Sockets) releaseLocked(key sockKey, sock *sharedSock) {
	if len(sock.ports) == 0 && s.socks[key] == sock {
		delete(s.socks, key)
		sock.conn.Close() // its reader ends
	}
}

// readBatchSize is how many packets one read takes at most: the adverts of 50 instances
// arrive in a burst (see tick), read in four calls.
const readBatchSize = 16

// read hands each packet of sock to the instance of its VRID until the socket closes;
// a socket that fails for good fails every port on it.
func (s *Sockets) read(key sockKey, sock *sharedSock) {
	bufs := make([][]byte, readBatchSize)
	for i := range bufs {
		bufs[i] = make([]byte, 8192) // room for the largest advert, 255 IPv6 addresses
	}
	pks := make([]Packet, readBatchSize)
	for {
		n, err := sock.conn.readBatch(bufs, pks)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.mu.Lock()
			if s.socks[key] == sock {
				delete(s.socks, key)
			}
			ports := sock.ports
			sock.ports = map[uint8]*sharedPort{}
			s.mu.Unlock()
			for _, p := range ports {
				p.fail(err)
			}
			sock.conn.Close()
			return
		}
		for _, pk := range pks[:n] {
			s.deliver(sock, pk)
		}
	}
}

// deliver hands pk to the instance of its VRID.
func (s *Sockets) deliver(sock *sharedSock, pk Packet) {
	vrid, ok := PeekVRID(pk.Data)
	if !ok {
		return
	}
	s.mu.Lock()
	p := sock.ports[vrid]
	s.mu.Unlock()
	// A unicast instance hears its peers only, as its own socket did: not the group.
	if p == nil || p.unicast && pk.Dst.IsMulticast() {
		return
	}
	if sink := p.sink.Load(); sink != nil {
		(*sink)(pk)
	}
}

// ReadPacket is not how a shared port is read (see deliverTo): it returns an error at once.
func (p *sharedPort) ReadPacket([]byte) (Packet, error) {
	select {
	case <-p.closed:
		if p.err != nil {
			return Packet{}, p.err
		}
		return Packet{}, net.ErrClosed
	default:
		return Packet{}, errors.New("vrrp: a shared socket delivers its packets to deliverTo")
	}
}

func (p *sharedPort) deliverTo(sink func(Packet)) (<-chan struct{}, func() error) {
	p.sink.Store(&sink)
	return p.closed, func() error { return p.err }
}

func (p *sharedPort) WriteTo(msg []byte, dst netip.Addr) error {
	return p.sock.conn.writeFrom(msg, p.src, dst)
}

func (p *sharedPort) Source() netip.Addr         { return p.src }
func (p *sharedPort) Destinations() []netip.Addr { return p.dsts }

// Close detaches the instance; the socket closes with its last instance.
func (p *sharedPort) Close() error {
	p.s.mu.Lock()
	if p.sock.ports[p.vrid] == p {
		delete(p.sock.ports, p.vrid)
		p.s.releaseLocked(p.key, p.sock)
	}
	p.s.mu.Unlock()
	p.closeOnce.Do(func() { close(p.closed) })
	return nil
}

func (p *sharedPort) fail(err error) {
	p.closeOnce.Do(func() {
		p.err = fmt.Errorf("vrrp: shared socket: %w", err)
		close(p.closed)
	})
}
