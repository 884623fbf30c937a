package vrrp

import (
	"time"
)

// garpBurst sends one burst of announcements and schedules the next: a second burst
// after the GARP delay, then one every refresh interval (keepalived's
// vrrp_garp_master_delay, _repeat and garp_master_refresh).
func (l *loop) garpBurst(now time.Time) {
	if l.m.State() != StateMaster || !l.holds {
		l.garpAt = time.Time{}
		return
	}
	g := l.in.cfg.GARP
	var err error
	for range g.Repeat {
		if err = l.owner.Announce(); err != nil {
			break
		}
	}
	if err != nil {
		l.in.log.Warn("announcing VIPs", "err", err)
	}
	switch {
	case l.garpFirst && g.GARPDelay() > 0:
		l.garpAt = now.Add(g.GARPDelay())
	case g.Refresh > 0:
		l.garpAt = now.Add(g.Refresh)
	default:
		l.garpAt = time.Time{}
	}
	l.garpFirst = false
}

// send builds and sends an advert with priority p to every destination.
func (l *loop) send(p uint8) {
	in := l.in
	a := Advert{Version: in.cfg.Version, VRID: uint8(in.cfg.VRID), Priority: p,
		Interval: in.cfg.AdvertInterval, Addresses: in.vips}
	if in.cfg.Version == 2 && in.cfg.AuthPass != "" {
		a.SetPassword(in.cfg.AuthPass)
	}
	var sent, failed uint64
	for _, dst := range l.tr.Destinations() {
		var err error
		l.buf, err = a.AppendMarshal(l.buf[:0], l.src, dst)
		if err == nil {
			err = l.tr.WriteTo(l.buf, dst)
		}
		if err != nil {
			failed++
			// Logged when sends start failing and when they recover, not at every
			// interval: a link that is down would flood the log ten times a second.
			if !l.sendFailing {
				in.log.Warn("sending advert", "dst", dst, "err", err)
			}
			l.sendFailing = true
			continue
		}
		sent++
	}
	if failed == 0 && l.sendFailing {
		l.sendFailing = false
		in.log.Info("sending adverts again")
	}
	in.mu.Lock()
	in.counters.AdvertsSent += sent
	if p == 0 {
		in.counters.PriorityZeroSent += sent
	}
	in.counters.SendErrors += failed
	in.mu.Unlock()
}
