package supervisor

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// validateInterval is the least time between two validates of one user. Each runs
// `haproxy -c`, tens to hundreds of milliseconds of CPU, and anyone who can open the
// socket may ask: ten looping clients of one user took root's commands from 12 to 665 ms
// on a two-core node.
const validateInterval = time.Second

// unknownUID is the bucket of peers whose credentials could not be read.
const unknownUID = math.MaxUint32

// validateLimiter lets each user run one validate at a time, at most once per
// validateInterval; the others are answered "busy" at once rather than queued, so that
// nobody can pile up work behind the socket.
type validateLimiter struct {
	mu    sync.Mutex
	users map[uint32]*validateUse
}

type validateUse struct {
	running bool
	last    time.Time // when the last one started
}

// start reserves uid's turn; it returns "" when granted (done must follow), or why not.
func (l *validateLimiter) start(uid uint32, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.users == nil {
		l.users = map[uint32]*validateUse{}
	}
	// Forget users whose turn is over, so the map stays as small as the busy users.
	for id, u := range l.users {
		if !u.running && now.Sub(u.last) >= validateInterval {
			delete(l.users, id)
		}
	}
	u := l.users[uid]
	switch {
	case u == nil:
		l.users[uid] = &validateUse{running: true, last: now}
		return ""
	case u.running:
		return "busy: a validate of yours is still running; try again when it is done"
	default:
		wait := validateInterval - now.Sub(u.last)
		return fmt.Sprintf("busy: one validate per %s per user; try again in %s", validateInterval, wait.Round(time.Millisecond))
	}
}

func (l *validateLimiter) done(uid uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := l.users[uid]; u != nil {
		u.running = false
	}
}
