package haproxy

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

// errAborted is what a read returns once the exchange's context was cancelled.
var errAborted = errors.New("exchange aborted")

// blockingSock is a unix stream socket driven by blocking system calls, each bounded by
// SO_RCVTIMEO/SO_SNDTIMEO set to what is left of the exchange's budget. abort, from
// another goroutine, shuts it down so that a blocked call returns; the mutex keeps it
// from touching a descriptor number that close already gave back.
type blockingSock struct {
	mu       sync.Mutex
	fd       int
	closed   bool
	aborting bool
}

func dialBlocking(path string) (*blockingSock, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dial unix %s: %w", path, os.NewSyscallError("socket", err))
	}
	return &blockingSock{fd: fd}, nil
}

func (s *blockingSock) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborting = true
	if !s.closed {
		_ = syscall.Shutdown(s.fd, syscall.SHUT_RDWR)
	}
}

func (s *blockingSock) aborted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborting
}

func (s *blockingSock) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		_ = syscall.Close(s.fd)
	}
}

// limit sets the kernel's timeout of the next blocking call (opt SO_RCVTIMEO or
// SO_SNDTIMEO) to what is left until deadline.
func (s *blockingSock) limit(opt int, deadline time.Time) error {
	left := time.Until(deadline)
	if left <= 0 {
		return os.ErrDeadlineExceeded
	}
	// A zero timeval means "no timeout": never round a few nanoseconds down to it.
	tv := syscall.NsecToTimeval(max(left, time.Microsecond).Nanoseconds())
	return syscall.SetsockoptTimeval(s.fd, syscall.SOL_SOCKET, opt, &tv)
}

// timedOut turns the EAGAIN of a call that ran out its SO_*TIMEO into a timeout.
func timedOut(op string, err error) error {
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINPROGRESS) {
		return os.ErrDeadlineExceeded
	}
	return os.NewSyscallError(op, err)
}

// connect: a unix connect blocks only while the listener's backlog is full (an HAProxy
// that stopped accepting), for at most SO_SNDTIMEO.
func (s *blockingSock) connect(path string, deadline time.Time) error {
	if err := s.limit(syscall.SO_SNDTIMEO, deadline); err != nil {
		return err
	}
	for {
		err := syscall.Connect(s.fd, &syscall.SockaddrUnix{Name: path})
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("dial unix %s: %w", path, timedOut("connect", err))
		}
		return nil
	}
}

func (s *blockingSock) writeAll(b []byte, deadline time.Time) error {
	for len(b) > 0 {
		if err := s.limit(syscall.SO_SNDTIMEO, deadline); err != nil {
			return err
		}
		n, err := syscall.Write(s.fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return timedOut("write", err)
		}
		b = b[n:]
	}
	return nil
}

// readAll appends to b until the peer closes the connection or b holds max bytes.
func (s *blockingSock) readAll(b []byte, max int, deadline time.Time) ([]byte, error) {
	for len(b) < max {
		if err := s.limit(syscall.SO_RCVTIMEO, deadline); err != nil {
			return b, err
		}
		b = slices.Grow(b, 4096)
		n, err := syscall.Read(s.fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return b, timedOut("read", err)
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
	return b, nil
}
