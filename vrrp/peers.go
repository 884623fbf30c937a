package vrrp

import (
	"net/netip"
	"slices"
	"time"
)

// Peers are the other routers an instance heard: in VRRP only a master advertises, so a
// backup hears the master (and a master that resigned, with priority 0), and a master
// hears a rival only in a split brain. Operators read them to see who holds the role and
// with what priority, without tcpdump.

// MaxPeers bounds the peers remembered per instance: a flood of adverts from forged
// sources (each of which passed the receive checks) costs at most this much; the one
// heard longest ago makes room.
const MaxPeers = 8

// PeerTTL is how long a silent peer is remembered, at least; an instance with a long
// advert interval remembers its peers for ten of its intervals.
const PeerTTL = time.Minute

// Peer is another router of this virtual router, as last heard.
type Peer struct {
	Addr netip.Addr
	// Priority is the priority it advertised last (0: it resigned).
	Priority int
	// Interval is the advert interval it advertised last.
	Interval time.Duration
	// LastAdvert is when its last valid advert arrived; Adverts counts them.
	LastAdvert time.Time
	Adverts    uint64
}

// peerTTL is how long the instance remembers a silent peer.
func (in *Instance) peerTTL() time.Duration {
	return max(PeerTTL, 10*in.cfg.AdvertInterval)
}

// notePeer records a valid advert from src; in.mu is held.
func (in *Instance) notePeer(now time.Time, src netip.Addr, a *Advert) {
	if in.peers == nil {
		in.peers = map[netip.Addr]*Peer{}
	}
	p := in.peers[src]
	if p == nil {
		in.expirePeers(now)
		if len(in.peers) >= MaxPeers {
			var oldest *Peer
			for _, q := range in.peers {
				if oldest == nil || q.LastAdvert.Before(oldest.LastAdvert) {
					oldest = q
				}
			}
			delete(in.peers, oldest.Addr)
		}
		p = &Peer{Addr: src}
		in.peers[src] = p
	}
	p.Priority, p.Interval, p.LastAdvert = int(a.Priority), a.Interval, now
	p.Adverts++
}

// expirePeers forgets the peers silent for longer than peerTTL; in.mu is held.
func (in *Instance) expirePeers(now time.Time) {
	ttl := in.peerTTL()
	for a, p := range in.peers {
		if now.Sub(p.LastAdvert) > ttl {
			delete(in.peers, a)
		}
	}
}

// peerList returns the peers heard within peerTTL, by address; in.mu is held.
func (in *Instance) peerList(now time.Time) []Peer {
	in.expirePeers(now)
	out := make([]Peer, 0, len(in.peers))
	for _, p := range in.peers {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Peer) int { return a.Addr.Compare(b.Addr) })
	return out
}
