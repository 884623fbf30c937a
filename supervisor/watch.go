package supervisor

import (
	"context"
	"sync"
	"time"

	"github.com/halo-lb/halo/vrrp"
)

// Watching the node: every change a status shows (an instance's state, VIPs, master,
// priority or resignation; HAProxy's verdict; maintenance; a reload) bumps a generation
// number. A status request with Since set is a long poll: it is answered when the
// generation differs from Since, with the snapshot as it is then. Nothing is queued:
// changes between two polls fold into the newest snapshot, which is always the one sent,
// so a watcher may miss an intermediate state but never the final one.

// maxStatusWait bounds a long poll: the answer comes with the unchanged snapshot after
// this long, well within the control socket's idle timeout, and the client asks again.
const maxStatusWait = 25 * time.Second

// changeFeed is the generation number and the channel closed when it next moves.
type changeFeed struct {
	mu  sync.Mutex
	gen uint64
	ch  chan struct{}
}

func newChangeFeed() *changeFeed {
	return &changeFeed{gen: 1, ch: make(chan struct{})}
}

// bump records a change and wakes every waiting poll. It never blocks: the vrrp loops
// call it (Options.OnChange).
func (f *changeFeed) bump() {
	f.mu.Lock()
	f.gen++
	close(f.ch)
	f.ch = make(chan struct{})
	f.mu.Unlock()
}

// current returns the generation and the channel closed when it moves on.
func (f *changeFeed) current() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen, f.ch
}

// awaitChange returns once the generation differs from since, ctx ends or wait passed.
func (f *changeFeed) awaitChange(ctx context.Context, since uint64, wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		gen, ch := f.current()
		if gen != since {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// statusSince answers a status request: at once without Since, else as a long poll.
func (s *Supervisor) statusSince(ctx context.Context, req Request) Response {
	if req.Since != 0 {
		s.changes.awaitChange(ctx, req.Since, maxStatusWait)
		if ctx.Err() != nil {
			return s.notServed(ctx, req, false)
		}
	}
	st := s.Status()
	return Response{OK: true, Status: &st}
}

// peerStatus turns an instance's peers into the status's, with their ages at now.
func peerStatus(peers []vrrp.Peer, now time.Time) []PeerStatus {
	var out []PeerStatus
	for _, p := range peers {
		out = append(out, PeerStatus{Address: p.Addr.String(), Priority: p.Priority, IntervalSeconds: p.Interval.Seconds(),
			LastAdvert: p.LastAdvert, AgeSeconds: max(now.Sub(p.LastAdvert), 0).Seconds()})
	}
	return out
}

// Verdict is HAProxy's health in one word, as the status table shows it: HEALTHY,
// DEGRADED (serving, a backend under its minimum), UNHEALTHY or STOPPED.
func (h HAProxyStatus) Verdict() string {
	switch {
	case !h.Running && h.Mode == "managed":
		return "STOPPED"
	case h.Degraded:
		return "DEGRADED"
	case !h.Healthy:
		return "UNHEALTHY"
	}
	return "HEALTHY"
}
