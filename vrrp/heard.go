package vrrp

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// heard lets the reader take a backup's steady stream of adverts without waking the
// loop. Most of what a backup hears is its master's advert, again and again, each only
// pushing the Master_Down_Timer back; handing every one to the loop cost a goroutine
// switch, a select over the loop's channels and a timer reset per advert (50 instances
// at 100 ms: 500 a second). The loop publishes what such a refresh looks like
// (Machine.Refresh); the reader counts a matching advert at once, so status stays
// current, and leaves only the latest one here. The loop applies it, with the time it
// was received, before whatever wakes it next, at the latest its master-down timer, which
// it then re-arms. Each refresh only pushes the timer back, so applying the latest alone
// ends where applying each would have; and never out of order with what the loop is
// handed over rx.
type heard struct {
	mu sync.Mutex
	// key is the refresh the machine expects; !key.ok while the loop handles an event
	// (the machine may change) or when no advert is a mere refresh.
	key refreshKey
	// at is when the latest refresh not yet applied was received; zero when none waits.
	at  time.Time
	src netip.Addr
	adv Advert
}

type refreshKey struct {
	ok       bool
	src      netip.Addr
	prio     uint8
	interval time.Duration
}

// hear checks pk (on the reader's goroutine) and either takes it here, a refresh, or
// returns it for the loop; false when it is dropped or taken.
func (l *loop) hear(pk Packet) (received, bool) {
	r, ok := l.recv.check(pk)
	if !ok {
		return r, false
	}
	h := &l.heard
	now := time.Now()
	h.mu.Lock()
	k := h.key
	// Only with nothing queued for the loop: what it holds was heard first.
	take := k.ok && r.src == k.src && r.adv.Priority == k.prio && r.adv.Interval == k.interval && len(l.rx) == 0
	if take {
		h.at, h.src, h.adv = now, r.src, r.adv
		h.adv.Addresses = nil // the receiver's; the machine does not read them
	}
	h.mu.Unlock()
	if !take {
		r.adv.Addresses = slices.Clone(r.adv.Addresses)
		return r, true
	}
	in := l.in
	in.mu.Lock()
	in.counters.AdvertsReceived++
	in.notePeer(now, r.src, &r.adv)
	in.mu.Unlock()
	return received{}, false
}

// catchUp stops the reader from taking refreshes while the loop works, and applies the
// latest one it took. The loop calls it first thing on every wake-up.
func (l *loop) catchUp() {
	h := &l.heard
	h.mu.Lock()
	h.key = refreshKey{}
	at, src, adv := h.at, h.src, h.adv
	h.at = time.Time{}
	h.mu.Unlock()
	if at.IsZero() {
		return
	}
	// A refresh by construction: no action, no change but the timer. Were the machine to
	// disagree, its actions are still performed.
	if acts := l.m.Advert(at, src, &adv); len(acts) > 0 {
		l.step(at, "preempted", acts)
	}
}

// listen tells the reader which advert is a refresh now; the loop calls it before it
// waits.
func (l *loop) listen() {
	var k refreshKey
	k.src, k.prio, k.interval, k.ok = l.m.Refresh()
	h := &l.heard
	h.mu.Lock()
	h.key = k
	h.mu.Unlock()
}
