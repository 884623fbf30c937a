package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
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
// read) is bounded by timeout (and ctx): a deadline is set on the socket itself, so an
// HAProxy that accepts and never answers (SIGSTOP, a deadlock) costs at most the timeout
// and no goroutine is left behind. name ("stats socket") prefixes errors.
func exchange(ctx context.Context, timeout time.Duration, name, path, cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(err error) error { return socketError(name, path, timeout, err) }
	if err := ctx.Err(); err != nil {
		return "", fail(err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return "", fail(err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return "", fail(err)
		}
	}
	// A cancel without a deadline (Run ending) also unblocks the exchange.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", fail(err)
	}
	var b strings.Builder
	n, err := io.Copy(&b, io.LimitReader(conn, maxAnswer+1))
	if err != nil {
		if ctx.Err() != nil {
			return "", fail(ctx.Err())
		}
		return "", fail(err)
	}
	if n > maxAnswer {
		return "", fail(fmt.Errorf("answer to %q longer than %d bytes", firstWord(cmd), maxAnswer))
	}
	return b.String(), nil
}

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
