package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// read receives packets, drops what RFC 5798 §7.1 says to drop, counting why, and hands
// the rest to the loop.
func (l *loop) read(stop <-chan struct{}) {
	in := l.in
	buf := make([]byte, 8192)
	peers := map[netip.Addr]bool{}
	if in.cfg.Unicast != nil {
		for _, p := range l.tr.Destinations() {
			peers[p] = true
		}
	}
	var adv Advert
	for {
		pk, err := l.tr.ReadPacket(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || closed(stop) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case l.rxErr <- fmt.Errorf("vrrp: instance %s: receive: %w", in.cfg.Name, err):
			default:
			}
			return
		}
		if vrid, ok := PeekVRID(pk.Data); ok && int(vrid) != in.cfg.VRID {
			in.mu.Lock()
			in.counters.OtherVRID++
			in.mu.Unlock()
			continue
		}
		if pk.Src == l.src {
			continue // our own advert, looped back
		}
		if reason := accept(&in.cfg, pk, peers, &adv); reason != "" {
			in.mu.Lock()
			in.counters.Invalid[reason]++
			in.mu.Unlock()
			in.log.Debug("dropped advert", "src", pk.Src, "reason", reason)
			continue
		}
		r := received{src: pk.Src, adv: adv}
		r.adv.Addresses = slices.Clone(adv.Addresses)
		if !sameAddrs(r.adv.Addresses, in.vips) {
			in.mu.Lock()
			in.counters.AddressMismatch++
			in.mu.Unlock()
		}
		select {
		case l.rx <- r:
		case <-stop:
			return
		}
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
