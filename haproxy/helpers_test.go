package haproxy

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// recorder is a slog.Handler that keeps records, for tests of what is logged.
type recorder struct {
	mu      *sync.Mutex
	records *[]slog.Record
	attrs   []slog.Attr
}

func newRecorder() *recorder { return &recorder{mu: &sync.Mutex{}, records: new([]slog.Record)} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(r.attrs...)
	r.mu.Lock()
	*r.records = append(*r.records, rec)
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(append([]slog.Attr(nil), r.attrs...), as...)
	return &c
}
func (r *recorder) WithGroup(string) slog.Handler { return r }

// find returns the first record whose message contains msg and whose attrs include
// key=value for every pair given.
func (r *recorder) find(msg string, kv ...string) (slog.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range *r.records {
		if !strings.Contains(rec.Message, msg) {
			continue
		}
		attrs := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if attrs[kv[i]] != kv[i+1] {
				ok = false
			}
		}
		if ok {
			return rec, true
		}
	}
	return slog.Record{}, false
}

// testLogger logs to t and records.
func testLogger(t testing.TB) (*slog.Logger, *recorder) {
	rec := newRecorder()
	return slog.New(teeHandler{rec, slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})}), rec
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type teeHandler [2]slog.Handler

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	_ = h[0].Handle(ctx, r)
	return h[1].Handle(ctx, r)
}
func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h[0].WithAttrs(as), h[1].WithAttrs(as)}
}
func (h teeHandler) WithGroup(n string) slog.Handler {
	return teeHandler{h[0].WithGroup(n), h[1].WithGroup(n)}
}
