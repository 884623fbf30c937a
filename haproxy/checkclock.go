package haproxy

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// checkClock paces the check loop. It is a timerfd waited for through the netpoller
// rather than a Go timer: the Go runtime's monitor thread (sysmon) sleeps until the next
// Go timer when nothing runs, so a Go timer five times a second wakes two threads each
// time, and a timerfd one. Measured side by side (internal/cmd/checkcost, GOMAXPROCS=1),
// a loop that only waits 200 ms at a time cost 0.049-0.053 % of a core on a Go ticker and
// 0.021-0.022 % on a timerfd. Where no timerfd can be made it falls back to a Go timer.
type checkClock struct {
	f  *os.File
	rc syscall.RawConn
	t  *time.Timer // the fallback
}

func newCheckClock() *checkClock {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return &checkClock{t: time.NewTimer(time.Hour)}
	}
	f := os.NewFile(uintptr(fd), "check timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return &checkClock{t: time.NewTimer(time.Hour)}
	}
	return &checkClock{f: f, rc: rc}
}

// set makes the clock fire once, d from now (at once when d ≤ 0).
func (c *checkClock) set(d time.Duration) {
	if c.t != nil {
		c.t.Reset(d)
		return
	}
	// A zero it_value disarms a timerfd: the earliest is a nanosecond.
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(d, time.Nanosecond).Nanoseconds())}
	var err error
	_ = c.rc.Control(func(fd uintptr) { err = unix.TimerfdSettime(int(fd), 0, &spec, nil) })
	if err != nil {
		// Never seen; a clock that cannot be set must not stop the checks.
		_ = c.f.Close()
		c.f, c.rc, c.t = nil, nil, time.NewTimer(d)
	}
}

// wait blocks until the clock fires (true) or ctx ends (false).
func (c *checkClock) wait(ctx context.Context) bool {
	if c.t != nil {
		select {
		case <-ctx.Done():
			return false
		case <-c.t.C:
			return true
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = c.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var buf [8]byte // the expirations count, which the loop does not need
	err := c.rc.Read(func(fd uintptr) bool {
		// A raw read: a scheduled one would wake the monitor thread (see pipeline).
		_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		return e != unix.EAGAIN
	})
	if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
		return false
	}
	return err == nil
}

func (c *checkClock) close() {
	if c.t != nil {
		c.t.Stop()
		return
	}
	_ = c.f.Close()
}
