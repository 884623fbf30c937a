package vrrp

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/halo-lb/halo/internal/tick"
)

// Timers fires the deadlines of every instance of a process from one clock, a timerfd
// waited for through the netpoller (tick.Clock), instead of a Go timer each. The Go
// runtime's monitor thread sleeps until the next Go timer, so each advert interval woke
// it besides the thread that sends the advert; and the deadlines the grid lines up (see
// tick) fire in one wake-up. Give the same Timers to every instance's Options, as with
// Sockets; without one an instance uses Go timers (which testing/synctest's fake clock
// drives). Close it after the last instance has stopped.
type Timers struct {
	mu    sync.Mutex
	q     deadlineQueue
	clk   *tick.Clock
	setAt time.Time // what clk is set for; zero: not set
	start sync.Once
	stop  context.CancelFunc
	done  chan struct{}
}

// NewTimers returns the clock of a process's instances; its timerfd and goroutine come
// with the first deadline armed.
func NewTimers() *Timers {
	return &Timers{stop: func() {}, done: make(chan struct{})}
}

// Close stops the clock's goroutine; no deadline may be armed afterwards.
func (ts *Timers) Close() {
	ts.start.Do(func() { close(ts.done) }) // never started: nothing to wait for
	ts.stop()
	<-ts.done
	if ts.clk != nil {
		ts.clk.Close()
	}
}

// set arms d for when, or disarms it when when is zero; a fire d has not taken yet is
// taken back, so the loop never sees a stale one.
func (ts *Timers) set(d *deadline, when time.Time) {
	ts.start.Do(func() {
		ts.clk = tick.NewClock()
		ctx, cancel := context.WithCancel(context.Background())
		ts.stop = cancel
		go ts.run(ctx)
	})
	ts.mu.Lock()
	defer ts.mu.Unlock()
	select {
	case <-d.ch:
	default:
	}
	if d.index >= 0 {
		heap.Remove(&ts.q, d.index)
	}
	if !when.IsZero() {
		d.when = when
		heap.Push(&ts.q, d)
	}
	ts.rearmLocked()
}

// rearmLocked sets the clock for the earliest deadline. ts.mu is held.
func (ts *Timers) rearmLocked() {
	if len(ts.q) == 0 || ts.q[0].when.Equal(ts.setAt) {
		return // an unset clock left set fires once for nothing
	}
	ts.setAt = ts.q[0].when
	ts.clk.Set(coarse(time.Until(ts.setAt)))
}

// coarse rounds a wait up to whole milliseconds, as the Go runtime's timers do (its
// netpoller sleeps in milliseconds), so deadlines a few microseconds apart (a backup's
// master-down timers, set by adverts that arrived in one burst) fire in one wake-up: a
// deadline fires less than a millisecond late, never early.
func coarse(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Millisecond - 1) / time.Millisecond * time.Millisecond
}

// run fires the deadlines that are due each time the clock fires, until ctx ends.
func (ts *Timers) run(ctx context.Context) {
	defer close(ts.done)
	for ts.clk.Wait(ctx) { // false only once ctx ends: the clock itself never fails
		ts.mu.Lock()
		now := time.Now()
		ts.setAt = time.Time{}
		for len(ts.q) > 0 && !ts.q[0].when.After(now) {
			d := heap.Pop(&ts.q).(*deadline)
			select {
			case d.ch <- now:
			default: // one fire is waiting already
			}
		}
		ts.rearmLocked()
		ts.mu.Unlock()
	}
}

// deadlineQueue is a min-heap of deadlines by when.
type deadlineQueue []*deadline

func (q deadlineQueue) Len() int           { return len(q) }
func (q deadlineQueue) Less(i, j int) bool { return q[i].when.Before(q[j].when) }
func (q deadlineQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *deadlineQueue) Push(x any) {
	d := x.(*deadline)
	d.index = len(*q)
	*q = append(*q, d)
}
func (q *deadlineQueue) Pop() any {
	old := *q
	d := old[len(old)-1]
	old[len(old)-1] = nil
	d.index = -1
	*q = old[:len(old)-1]
	return d
}

// deadline is a timer armed at an absolute time; arming it again at the same time is
// free, so the loop re-arms its timers on every turn and pays only for the ones that moved
// (a backup's master-down deadline, once per advert the loop sees).
type deadline struct {
	at time.Time // what the loop armed it for; zero: not armed
	t  *time.Timer

	// With Timers: ts fires it on ch; when and index are ts's, under ts.mu.
	ts    *Timers
	ch    chan time.Time
	when  time.Time
	index int
}

// newDeadline returns an unarmed deadline fired by ts, or by a Go timer when ts is nil.
func newDeadline(ts *Timers) *deadline {
	if ts != nil {
		return &deadline{ts: ts, ch: make(chan time.Time, 1), index: -1}
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &deadline{t: t}
}

// arm makes the timer fire at when, or never when when is zero.
func (d *deadline) arm(when time.Time) {
	if when.Equal(d.at) {
		return
	}
	d.at = when
	switch {
	case d.ts != nil:
		d.ts.set(d, when)
	case when.IsZero():
		d.t.Stop()
	default:
		d.t.Reset(max(time.Until(when), 0))
	}
}

// c returns the timer's channel; after it fires, arm must see a new time to fire again.
func (d *deadline) c() <-chan time.Time {
	if d.ts != nil {
		return d.ch
	}
	return d.t.C
}

// fired records that the timer fired, so that arming it at the same time fires it again.
func (d *deadline) fired() { d.at = time.Time{} }

func (d *deadline) stop() {
	if d.ts != nil {
		d.ts.set(d, time.Time{})
		return
	}
	d.t.Stop()
}
