package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/halo-lb/halo/supervisor"
)

// journalSocket is where journald takes messages in its native protocol.
const journalSocket = "/run/systemd/journal/socket"

// syslogIdentifier names halod's lines in the journal (journalctl -t halod), as
// keepalived's are named Keepalived_vrrp.
const syslogIdentifier = "halod"

// newLogger builds halod's logger: text or JSON as halo.yaml says, durations in seconds.
// Under systemd, when stderr is the journal's stream (JOURNAL_STREAM names it), lines go
// to the journal directly, with SYSLOG_IDENTIFIER=halod and a PRIORITY from the level,
// so that `journalctl -p warning` and syslog forwarding see halod's own levels.
func newLogger(c supervisor.LogConfig, w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok && stderrIsJournal(f, os.Getenv("JOURNAL_STREAM")) {
		if j, err := newJournalWriter(journalSocket, w); err == nil {
			return slog.New(newJournalHandler(c, j))
		}
	}
	return slog.New(newHandler(c, w, false))
}

// newHandler is the handler of format c.Format writing to w; forJournal drops the time,
// which the journal records itself.
func newHandler(c supervisor.LogConfig, w io.Writer, forJournal bool) slog.Handler {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		opts.ReplaceAttr = secondsAttr
	}
	if forJournal {
		inner := opts.ReplaceAttr
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			if inner != nil {
				return inner(groups, a)
			}
			return a
		}
	}
	if c.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	// The text handler writes a duration as "1.5s", readable as it is.
	return slog.NewTextHandler(w, opts)
}

// secondsAttr writes a duration as seconds (a float), the unit of every duration halo
// exports: the JSON handler would write nanoseconds, which log pipelines read as a count.
func secondsAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	return a
}

// stderrIsJournal reports whether f is the stream JOURNAL_STREAM ("device:inode") names:
// systemd sets it for a unit whose stderr goes to the journal, and a child that inherits
// the variable but not the stream must not take it for its own.
func stderrIsJournal(f *os.File, stream string) bool {
	dev, ino, ok := strings.Cut(stream, ":")
	if !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return fmt.Sprint(st.Dev) == dev && fmt.Sprint(st.Ino) == ino
}

// journalWriter sends each log line as one journal entry in the native protocol; a line
// the journal does not take (journald restarting, a line too long for a datagram) goes to
// the fallback, stderr, which systemd also hands to the journal.
type journalWriter struct {
	mu       sync.Mutex
	conn     *net.UnixConn
	fallback io.Writer
	priority int // of the line being written; set by journalHandler under mu
	buf      []byte
}

func newJournalWriter(socket string, fallback io.Writer) (*journalWriter, error) {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	return &journalWriter{conn: conn, fallback: fallback}, nil
}

// Write sends one formatted line; mu is held (journalHandler.Handle).
func (j *journalWriter) Write(line []byte) (int, error) {
	msg := strings.TrimSuffix(string(line), "\n")
	b := j.buf[:0]
	b = fmt.Appendf(b, "PRIORITY=%d\nSYSLOG_IDENTIFIER=%s\n", j.priority, syslogIdentifier)
	// MESSAGE in the binary form: a line of JSON or text may hold a newline of its own.
	b = append(b, "MESSAGE\n"...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(msg)))
	b = append(b, msg...)
	b = append(b, '\n')
	j.buf = b
	if _, err := j.conn.Write(b); err != nil {
		return j.fallback.Write(line)
	}
	return len(line), nil
}

// journalHandler formats with the configured handler and hands each line to the journal
// writer with the priority of its level.
type journalHandler struct {
	inner slog.Handler
	w     *journalWriter
}

func newJournalHandler(c supervisor.LogConfig, w *journalWriter) *journalHandler {
	return &journalHandler{inner: newHandler(c, w, true), w: w}
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	h.w.priority = syslogPriority(r.Level)
	return h.inner.Handle(ctx, r)
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{inner: h.inner.WithAttrs(as), w: h.w}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{inner: h.inner.WithGroup(name), w: h.w}
}

// syslogPriority maps a level to syslog's: err, warning, info, debug.
func syslogPriority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}
