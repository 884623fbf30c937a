// Package vrrptest runs VRRP instances in memory: a shared link that carries adverts
// between transports, and a VIP owner that records instead of touching the kernel. Tests
// of the supervisor use it to run real vrrp.Instances without root.
package vrrptest

import (
	"context"
	"net"
	"net/netip"
	"sync"

	"github.com/halo-lb/halo/vrrp"
)

// Link is a broadcast medium: what one port writes, every other port reads.
type Link struct {
	mu    sync.Mutex
	ports []*Port
	vips  map[netip.Addr]map[string]bool // VIP -> holders
}

// NewLink returns an empty link.
func NewLink() *Link { return &Link{vips: map[netip.Addr]map[string]bool{}} }

// Port is one node's transport on the link.
type Port struct {
	link   *Link
	addr   netip.Addr
	in     chan vrrp.Packet
	closed chan struct{}
	once   sync.Once
}

var _ vrrp.Transport = (*Port)(nil)

// Port attaches a node with primary address addr; every call gives a fresh port (an
// instance closes its transport when it stops).
func (l *Link) Port(addr netip.Addr) *Port {
	p := &Port{link: l, addr: addr, in: make(chan vrrp.Packet, 64), closed: make(chan struct{})}
	l.mu.Lock()
	l.ports = append(l.ports, p)
	l.mu.Unlock()
	return p
}

// ReadPacket implements vrrp.Transport.
func (p *Port) ReadPacket(b []byte) (vrrp.Packet, error) {
	select {
	case pk := <-p.in:
		n := copy(b, pk.Data)
		pk.Data = b[:n]
		return pk, nil
	case <-p.closed:
		return vrrp.Packet{}, net.ErrClosed
	}
}

// WriteTo implements vrrp.Transport: every other open port on the link receives msg.
func (p *Port) WriteTo(msg []byte, dst netip.Addr) error {
	p.link.mu.Lock()
	ports := append([]*Port(nil), p.link.ports...)
	p.link.mu.Unlock()
	for _, q := range ports {
		if q == p {
			continue
		}
		select {
		case <-q.closed:
			continue
		default:
		}
		pk := vrrp.Packet{Data: append([]byte(nil), msg...), Src: p.addr, Dst: dst, TTL: 255}
		select {
		case q.in <- pk:
		default: // a stalled reader loses packets, as on a real link
		}
	}
	return nil
}

// Source implements vrrp.Transport.
func (p *Port) Source() netip.Addr { return p.addr }

// Destinations implements vrrp.Transport.
func (p *Port) Destinations() []netip.Addr { return []netip.Addr{vrrp.MulticastGroup(p.addr.Is6())} }

// Close implements vrrp.Transport.
func (p *Port) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// Owner returns a VIP owner for node name that records on the link who holds what.
func (l *Link) Owner(name string, vips []vrrp.VIP) vrrp.Owner {
	return &owner{link: l, name: name, vips: vips}
}

// Holders returns the names of the nodes holding vip.
func (l *Link) Holders(vip netip.Addr) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for n := range l.vips[vip] {
		out = append(out, n)
	}
	return out
}

type owner struct {
	link *Link
	name string
	vips []vrrp.VIP
}

func (o *owner) AddVIPs() error {
	o.link.mu.Lock()
	defer o.link.mu.Unlock()
	for _, v := range o.vips {
		a := v.Prefix.Addr()
		if o.link.vips[a] == nil {
			o.link.vips[a] = map[string]bool{}
		}
		o.link.vips[a][o.name] = true
	}
	return nil
}

func (o *owner) RemoveVIPs() error {
	o.link.mu.Lock()
	defer o.link.mu.Unlock()
	for _, v := range o.vips {
		delete(o.link.vips[v.Prefix.Addr()], o.name)
	}
	return nil
}

// Missing implements vrrp.Owner.
func (o *owner) Missing() ([]netip.Prefix, error) {
	o.link.mu.Lock()
	defer o.link.mu.Unlock()
	var out []netip.Prefix
	for _, v := range o.vips {
		if !o.link.vips[v.Prefix.Addr()][o.name] {
			out = append(out, v.Prefix)
		}
	}
	return out, nil
}

// WatchRemovals implements vrrp.Owner: nothing removes an address on this link behind
// an owner's back.
func (o *owner) WatchRemovals(ctx context.Context, removed func()) error {
	<-ctx.Done()
	return nil
}

func (o *owner) Announce() error { return nil }
func (o *owner) Close() error    { return nil }
