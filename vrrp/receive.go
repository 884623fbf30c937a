package vrrp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"
)

// receiver drops what RFC 5798 §7.1 says to drop, counting and logging why, and turns
// the rest into adverts for the loop.
type receiver struct {
	in    *Instance
	src   netip.Addr
	peers map[netip.Addr]bool
	adv   Advert
	drops dropLog
}

func newReceiver(in *Instance, tr Transport) *receiver {
	r := &receiver{in: in, src: tr.Source(), peers: map[netip.Addr]bool{},
		drops: dropLog{log: in.log, last: map[dropKey]time.Time{}, suppressed: map[dropKey]int{}}}
	if in.cfg.Unicast != nil {
		for _, p := range tr.Destinations() {
			r.peers[p] = true
		}
	}
	return r
}

// check returns the advert pk carries, or false when it is dropped (counted). Its
// Addresses are the receiver's, valid until the next check.
func (rc *receiver) check(pk Packet) (received, bool) {
	in := rc.in
	if vrid, ok := PeekVRID(pk.Data); ok && int(vrid) != in.cfg.VRID {
		in.mu.Lock()
		in.counters.OtherVRID++
		in.mu.Unlock()
		return received{}, false
	}
	if pk.Src == rc.src {
		return received{}, false // our own advert, looped back
	}
	if reason := accept(&in.cfg, pk, rc.peers, &rc.adv); reason != "" {
		in.mu.Lock()
		in.counters.Invalid[reason]++
		in.mu.Unlock()
		rc.drops.note(time.Now(), pk.Src, reason)
		return received{}, false
	}
	r := received{src: pk.Src, adv: rc.adv}
	if !sameAddrs(r.adv.Addresses, in.vips) {
		in.mu.Lock()
		in.counters.AddressMismatch++
		in.mu.Unlock()
	}
	return r, true
}

// read receives packets from a Transport of its own and hands the adverts to the loop.
func (l *loop) read(stop <-chan struct{}) {
	in := l.in
	buf := make([]byte, 8192)
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
		r, ok := l.hear(pk)
		if !ok {
			continue
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

// dropLogEvery bounds how often one kind of dropped advert from one source is logged.
const dropLogEvery = time.Minute

// dropHints say, for the reasons an operator can fix, what to look at.
var dropHints = map[string]string{
	"auth":     "auth_pass differs from the sender's (or only one side sets it)",
	"version":  "the sender speaks another VRRP version: set version to match",
	"interval": "VRRPv2 needs the same advert_interval on every node",
	"ttl":      "TTL/hop limit is not 255: the sender is not on this link, or something routes VRRP",
	"peer":     "the sender is not in unicast.peers",
	"checksum": "bad checksum: a VRRPv3 peer that checksums as v2 (v3_checksum_as_v2) or a broken sender",
}

type dropKey struct {
	src    netip.Addr
	reason string
}

// dropLog logs dropped adverts at warning level, since a mistyped auth_pass or version
// shows nowhere else, but each kind from each source at most once per dropLogEvery, so
// that a flood cannot flood the log; the counters count every one.
type dropLog struct {
	log        *slog.Logger
	last       map[dropKey]time.Time
	suppressed map[dropKey]int
}

func (d *dropLog) note(now time.Time, src netip.Addr, reason string) {
	k := dropKey{src, reason}
	if t, ok := d.last[k]; ok && now.Sub(t) < dropLogEvery {
		d.suppressed[k]++
		return
	}
	if len(d.last) >= maxAnswered { // spoofed sources must not grow the map without end
		clear(d.last)
		clear(d.suppressed)
	}
	attrs := []any{"src", src, "reason", reason}
	if h := dropHints[reason]; h != "" {
		attrs = append(attrs, "hint", h)
	}
	if n := d.suppressed[k]; n > 0 {
		attrs = append(attrs, "more_since_last_logged", n)
	}
	d.last[k] = now
	delete(d.suppressed, k)
	d.log.Warn("dropped advert", attrs...)
}
