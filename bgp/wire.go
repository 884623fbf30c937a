package bgp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// halod and halo-bgp talk JSON, one object a line: halod's lines say what to offer, the
// engine's say what it did and what its sessions do. Every line is bounded in both
// directions, so that a confused peer costs an error, never unbounded memory.
const maxLine = 4 << 20

// toEngine is one line from halod: the first is Start, then Apply or Stop.
type toEngine struct {
	Start *startMsg `json:"start,omitempty"`
	Apply *applyMsg `json:"apply,omitempty"`
	Stop  bool      `json:"stop,omitempty"`
}

type startMsg struct {
	Config          Config        `json:"config"`
	RefreshInterval time.Duration `json:"refresh_interval"`
	// Debug: halod logs at debug level, and wants the engine's debug records too.
	Debug bool `json:"debug,omitempty"`
}

type applyMsg struct {
	Seq      uint64 `json:"seq"`
	Phase    string `json:"phase"`
	Degraded bool   `json:"degraded,omitempty"`
}

// fromEngine is one line from halo-bgp.
type fromEngine struct {
	// Ready: the speaker runs and its neighbours are configured.
	Ready   bool        `json:"ready,omitempty"`
	Applied *appliedMsg `json:"applied,omitempty"`
	// Neighbors: every neighbour's state, sent when one changed.
	Neighbors []NeighborStatus `json:"neighbors,omitempty"`
	Log       *logMsg          `json:"log,omitempty"`
	// Fatal: why the engine is about to exit.
	Fatal   string `json:"fatal,omitempty"`
	Stopped bool   `json:"stopped,omitempty"`
}

type appliedMsg struct {
	Seq   uint64 `json:"seq"`
	Error string `json:"error,omitempty"`
}

// logMsg carries one of the engine's log records into halod's log, attributes as
// key/value text pairs.
type logMsg struct {
	Level slog.Level `json:"level"`
	Msg   string     `json:"msg"`
	Attrs []string   `json:"attrs,omitempty"`
}

// lineReader reads lines of at most maxLine bytes.
type lineReader struct{ br *bufio.Reader }

func newLineReader(r io.Reader) *lineReader { return &lineReader{br: bufio.NewReaderSize(r, 64<<10)} }

var errLongLine = fmt.Errorf("line longer than %d bytes", maxLine)

// next returns the next line without its newline; io.EOF at a clean end.
func (l *lineReader) next() ([]byte, error) {
	var line []byte
	for {
		frag, err := l.br.ReadSlice('\n')
		if len(line)+len(frag) > maxLine {
			return nil, errLongLine
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// lineWriter writes whole lines from any goroutine; a pipe that supports deadlines gets
// one per line, so that a peer that stopped reading cannot block the writer forever.
type lineWriter struct {
	mu      sync.Mutex
	w       io.Writer
	timeout time.Duration
}

func (lw *lineWriter) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) >= maxLine {
		return errLongLine
	}
	b = append(b, '\n')
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if d, ok := lw.w.(interface{ SetWriteDeadline(time.Time) error }); ok && lw.timeout > 0 {
		_ = d.SetWriteDeadline(time.Now().Add(lw.timeout))
	}
	_, err = lw.w.Write(b)
	return err
}

// wireHandler is the engine's slog.Handler: every record becomes a log line to halod,
// which logs it as its own.
type wireHandler struct {
	out   *lineWriter
	level slog.Leveler
	attrs []string
}

func (h *wireHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *wireHandler) Handle(_ context.Context, r slog.Record) error {
	m := &logMsg{Level: r.Level, Msg: r.Message, Attrs: append([]string(nil), h.attrs...)}
	r.Attrs(func(a slog.Attr) bool {
		m.Attrs = append(m.Attrs, a.Key, a.Value.Resolve().String())
		return true
	})
	return h.out.send(fromEngine{Log: m})
}

func (h *wireHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]string(nil), h.attrs...)
	for _, a := range as {
		n.attrs = append(n.attrs, a.Key, a.Value.Resolve().String())
	}
	return &n
}

// WithGroup is flat: halod's log has no groups either.
func (h *wireHandler) WithGroup(string) slog.Handler { return h }
