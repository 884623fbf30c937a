package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxAnswer bounds what one runtime-API exchange may read: a `show stat` of a few
// thousand servers is a few MB.
const maxAnswer = 64 << 20

// SocketError is a failed exchange on an HAProxy unix socket. Kind is one of the check
// kinds (KindTimeout, KindConnect, KindProtocol), fit for a metric label.
type SocketError struct {
	Socket  string // "stats socket" or "master socket"
	Path    string
	Kind    CheckKind
	Timeout time.Duration // the exchange's budget, set when Kind is KindTimeout
	Err     error
}

func (e *SocketError) Error() string {
	if e.Kind == KindTimeout {
		return fmt.Sprintf("%s: timeout after %s", e.Socket, e.Timeout)
	}
	return fmt.Sprintf("%s: %v", e.Socket, e.Err)
}

func (e *SocketError) Unwrap() error { return e.Err }

// exchange sends one command line to the unix socket at path and returns everything
// HAProxy writes until it closes the connection. The whole exchange (connect, write,
// read) is bounded by timeout (and ctx): each blocking call carries the kernel's own
// timeout for what is left of the budget, so an HAProxy that accepts and never answers
// (SIGSTOP, a deadlock) costs at most the timeout and no goroutine is left behind. name
// ("stats socket") prefixes errors.
//
// The socket is a plain blocking one, not a net.Conn: an idle halod runs five checks a
// second, and the netpoller's park and wake-up around every read cost more CPU than the
// check itself (internal/cmd/checkcost measured 0.17 % of a core for a net.Conn exchange
// against 0.14 % for blocking calls, with 0.05 % for a program that only wakes up).
func exchange(ctx context.Context, timeout time.Duration, name, path, cmd string) (string, error) {
	fail := func(err error) error { return socketError(name, path, timeout, err) }
	if err := ctx.Err(); err != nil {
		return "", fail(err)
	}
	// No context.WithTimeout: the kernel's timeouts bound each call, and a runtime timer
	// armed and stopped at every check cost context switches (89 a second against 95 for
	// a checker at the default interval, measured side by side).
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	s, err := dialBlocking(path)
	if err != nil {
		return "", fail(err)
	}
	defer s.close()
	// A cancel (Run ending) unblocks a read or write at once.
	stop := context.AfterFunc(ctx, s.abort)
	defer stop()
	checked := func(err error) error {
		if s.aborted() {
			return fail(ctx.Err())
		}
		return fail(err)
	}
	if err := s.connect(path, deadline); err != nil {
		return "", checked(err)
	}
	if err := s.writeAll([]byte(cmd+"\n"), deadline); err != nil {
		return "", checked(err)
	}
	bp := answerBufs.Get().(*[]byte)
	defer answerBufs.Put(bp)
	b, err := s.readAll((*bp)[:0], maxAnswer+1, deadline)
	*bp = b[:0]
	if err == nil && s.aborted() {
		err = errAborted // shutdown reads as an end of file
	}
	if err != nil {
		return "", checked(err)
	}
	if len(b) > maxAnswer {
		return "", fail(fmt.Errorf("answer to %q longer than %d bytes", firstWord(cmd), maxAnswer))
	}
	return string(b), nil
}

// answerBufs keeps read buffers between checks: the answer of a check is a few kB, read
// five times a second.
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// socketError classifies err from an exchange whose budget was timeout.
func socketError(name, path string, timeout time.Duration, err error) *SocketError {
	se := &SocketError{Socket: name, Path: path, Kind: KindProtocol, Err: err}
	switch {
	case isTimeout(err) || errors.Is(err, context.DeadlineExceeded):
		se.Kind, se.Timeout = KindTimeout, timeout
	case errors.Is(err, context.Canceled):
		se.Kind = KindProtocol
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, os.ErrNotExist),
		errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.EACCES):
		se.Kind = KindConnect
	}
	return se
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func firstWord(s string) string {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// masterCommand runs commands on the master CLI. The master keeps a connection open after
// answering (HAProxy 2.6), so the line ends with quit.
func masterCommand(ctx context.Context, timeout time.Duration, path, cmd string) (string, error) {
	return exchange(ctx, timeout, "master socket", path, cmd+";quit")
}
