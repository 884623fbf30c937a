package haproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
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

// session is one connection to the stats socket kept open from check to check, in
// HAProxy's interactive mode (the `prompt` command): a check then costs one write and one
// read instead of a connect, an accept and a close on both sides. In that mode HAProxy
// ends each command's output with an empty line and the prompt "> " and waits for the
// next line.
//
// The connection is dropped, and the next exchange dials again, after any error or
// timeout, so a hung HAProxy still fails each check at its deadline. An exchange on a
// connection kept from an earlier check that fails otherwise (HAProxy closes an idle
// session after its `stats timeout`, 10s by default; it restarted) is retried once on a
// fresh connection within the same deadline. A kept connection may also outlive its
// worker's role: after a reload HAProxy 2.6 keeps serving an open session from the old
// worker (it answers Stopping: 1 and does not exit until the session closes), so the
// caller retries a "stopping" answer from a kept connection on a fresh one.
type session struct {
	mu      sync.Mutex // one exchange at a time; guards what follows
	conn    net.Conn
	path    string
	life    context.Context // the connection is closed when it ends
	unwatch func() bool
	buf     []byte // reused between checks
}

// promptMark ends every command's answer in interactive mode: the empty line that ends
// the output, then the prompt. No line of show info or show stat starts with "> ".
const promptMark = "\n> "

// exchange sends cmd, n commands joined by ';', and returns their n answers. ctx bounds
// the connection's life (its end closes it) and deadline the exchange; timeout is the
// budget reported in a timeout error. fresh says whether the answer came on a connection
// dialled for this exchange.
func (s *session) exchange(ctx context.Context, deadline time.Time, timeout time.Duration, name, path, cmd string, n int) (blocks []string, fresh bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(err error) error {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return socketError(name, path, timeout, err)
	}
	if ctx.Err() != nil || !time.Now().Before(deadline) {
		return nil, false, fail(context.DeadlineExceeded)
	}
	if s.conn != nil && (s.path != path || s.life.Err() != nil) {
		s.drop()
	}
	for {
		fresh = s.conn == nil
		if fresh {
			if err := s.dial(ctx, deadline, path); err != nil {
				return nil, true, fail(err)
			}
		}
		blocks, err = s.roundTrip(ctx, deadline, cmd, n, fresh)
		if err == nil {
			return blocks, fresh, nil
		}
		s.drop()
		if fresh || isTimeout(err) || ctx.Err() != nil || !time.Now().Before(deadline) {
			return nil, fresh, fail(err)
		}
	}
}

func (s *session) dial(life context.Context, deadline time.Time, path string) error {
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(life, "unix", path)
	if err != nil {
		return err
	}
	s.conn, s.path, s.life = conn, path, life
	s.unwatch = context.AfterFunc(life, func() { _ = conn.Close() })
	return nil
}

// drop closes the connection; the next exchange dials again.
func (s *session) drop() {
	if s.conn == nil {
		return
	}
	if s.unwatch != nil {
		s.unwatch()
	}
	_ = s.conn.Close()
	s.conn, s.life, s.unwatch = nil, nil, nil
}

// close drops the connection, for the owner of the session when it is done with it.
func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop()
}

// roundTrip writes one command line and reads until n prompts (n+1 on a fresh connection,
// whose line starts with "prompt;") have come back.
func (s *session) roundTrip(ctx context.Context, deadline time.Time, cmd string, n int, fresh bool) ([]string, error) {
	conn := s.conn
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	// A cancel before the deadline (Run ending) also unblocks the exchange.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	want := n
	line := cmd + "\n"
	if fresh {
		line, want = "prompt;"+line, n+1
	}
	if _, err := io.WriteString(conn, line); err != nil {
		return nil, err
	}
	buf, seen := s.buf[:0], 0
	defer func() {
		if cap(buf) <= 1<<20 { // a huge answer is not kept between checks
			s.buf = buf[:0]
		}
	}()
	for seen < want {
		if len(buf) == cap(buf) {
			if len(buf) > maxAnswer {
				return nil, fmt.Errorf("answer to %q longer than %d bytes", firstWord(cmd), maxAnswer)
			}
			buf = slices.Grow(buf, max(4096, len(buf)))
		}
		k, err := conn.Read(buf[len(buf):cap(buf)])
		// Count the marks that end in the new bytes, one that straddles two reads too.
		from := max(0, len(buf)-len(promptMark)+1)
		buf = buf[:len(buf)+k]
		seen += bytes.Count(buf[from:], []byte(promptMark))
		if err != nil && seen < want {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("connection closed after %d of %d answers", seen, want)
			}
			return nil, err
		}
	}
	// Disarm the deadline, so that its timer does not wake the idle process (the
	// runtime may still wake once at the old time when the timer sits on another P). A
	// connection that cannot be disarmed is broken: the answer stands, the next check
	// dials again.
	if conn.SetDeadline(time.Time{}) != nil {
		s.drop()
	}
	blocks := splitPrompt(string(buf))
	if fresh {
		blocks = blocks[1:] // the prompt command's own, empty answer
	}
	return blocks, nil
}

// splitPrompt splits an interactive-mode answer into each command's output.
func splitPrompt(answer string) []string {
	blocks := strings.Split(answer, promptMark)
	blocks = blocks[:len(blocks)-1] // after the last prompt: nothing
	for i, b := range blocks {
		blocks[i] = strings.TrimSuffix(b, "\n")
	}
	return blocks
}
