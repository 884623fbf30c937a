package bgp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// Lines are bounded: a peer that sends more than maxLine without a newline is an error,
// not a growing buffer.
func TestLineReaderBound(t *testing.T) {
	ok := strings.Repeat("a", maxLine-1) + "\n"
	long := strings.Repeat("b", maxLine+1) + "\n"
	r := newLineReader(strings.NewReader(ok + long + "tail"))
	if l, err := r.next(); err != nil || len(l) != maxLine-1 {
		t.Fatalf("line of maxLine-1 bytes: %d, %v", len(l), err)
	}
	if _, err := r.next(); !errors.Is(err, errLongLine) {
		t.Fatalf("long line: %v", err)
	}
	r = newLineReader(strings.NewReader("tail"))
	if _, err := r.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut line: %v", err)
	}
	w := &lineWriter{w: io.Discard}
	if err := w.send(strings.Repeat("c", maxLine)); !errors.Is(err, errLongLine) {
		t.Fatalf("long write: %v", err)
	}
}

func validConfig(t *testing.T) Config {
	t.Helper()
	cfg := Config{ASN: 65001, RouterID: "192.0.2.11",
		Neighbors: []NeighborConfig{{Address: "192.0.2.1", ASN: 65000}},
		Prefixes:  []PrefixConfig{{Prefix: "198.51.100.10/32"}}}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The engine's side of the conversation: a start line that is not one, or an invalid
// config, is refused with a fatal line; a phase it does not know is answered with an
// error; its stdin's end withdraws and stops the engine.
func TestServeEngine(t *testing.T) {
	t.Run("no start line", func(t *testing.T) {
		var out bytes.Buffer
		err := ServeEngine(t.Context(), strings.NewReader(`{"apply":{"seq":1,"phase":"announced"}}`+"\n"), &out, &fakeEngine{})
		if err == nil || !strings.Contains(out.String(), `"fatal":"the first line must be a start message`) {
			t.Fatalf("err %v, out %s", err, out.String())
		}
	})
	t.Run("invalid config", func(t *testing.T) {
		var out bytes.Buffer
		err := ServeEngine(t.Context(), strings.NewReader(`{"start":{"config":{"ASN":0}}}`+"\n"), &out, &fakeEngine{})
		if err == nil || !strings.Contains(out.String(), `asn: required`) {
			t.Fatalf("err %v, out %s", err, out.String())
		}
	})
	t.Run("apply and end of input", func(t *testing.T) {
		start, _ := json.Marshal(toEngine{Start: &startMsg{Config: validConfig(t)}})
		in := string(start) + "\n" + `{"apply":{"seq":7,"phase":"sideways"}}` + "\n" + `{"apply":{"seq":8,"phase":"announced","degraded":true}}` + "\n"
		eng := &fakeEngine{runs: make(chan *fakeRun, 1)}
		var out bytes.Buffer
		if err := ServeEngine(context.Background(), strings.NewReader(in), &out, eng); err != nil {
			t.Fatal(err)
		}
		run := <-eng.runs
		if p := <-run.applied; p != PhaseAnnounced || !run.degraded {
			t.Errorf("applied %s, degraded %v", p, run.degraded)
		}
		if !run.stopped {
			t.Error("engine not stopped at the end of its input")
		}
		for _, want := range []string{`{"ready":true}`, `{"applied":{"seq":7,"error":"unknown phase \"sideways\""}}`, `{"applied":{"seq":8}}`} {
			if !strings.Contains(out.String(), want+"\n") {
				t.Errorf("no %s in:\n%s", want, out.String())
			}
		}
	})
}
