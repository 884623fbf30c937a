package bgp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// engineStopTimeout bounds the engine's withdraw and CEASE when halod says stop or its
// pipe ends; halod kills the process a little after it.
const engineStopTimeout = 3 * time.Second

// ServeEngine is halo-bgp's whole life: it reads halod's lines from r, drives eng and
// writes its answers to w. It returns when halod says stop, or when r ends (halod died
// without Linux's parent-death signal: the sessions still end with a CEASE), in both cases
// after the prefixes are withdrawn; or when the engine fails.
func ServeEngine(ctx context.Context, r io.Reader, w io.Writer, eng Engine) error {
	out := &lineWriter{w: w}
	in := newLineReader(r)
	fatal := func(err error) error {
		_ = out.send(fromEngine{Fatal: err.Error()})
		return err
	}
	line, err := in.next()
	if err != nil {
		return fatal(fmt.Errorf("reading the start line: %w", err))
	}
	var m toEngine
	if err := json.Unmarshal(line, &m); err != nil || m.Start == nil {
		return fatal(fmt.Errorf("the first line must be a start message: %.200q", line))
	}
	cfg := m.Start.Config
	if err := cfg.Validate(); err != nil {
		return fatal(fmt.Errorf("config: %w", err))
	}
	level := slog.LevelInfo
	if m.Start.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(&wireHandler{out: out, level: level})
	refresh := m.Start.RefreshInterval
	if refresh <= 0 {
		refresh = time.Second
	}
	run, err := eng.Start(ctx, EngineSpec{Config: &cfg, Log: log, RefreshInterval: refresh,
		OnNeighbors: func(ns []NeighborStatus) { _ = out.send(fromEngine{Neighbors: ns}) }})
	if err != nil {
		return fatal(err)
	}
	if err := out.send(fromEngine{Ready: true}); err != nil {
		stopRun(run)
		return err
	}

	// The reader applies each phase itself, the shortest way from halod's line to GoBGP;
	// what ends the engine (stop, the input's end, its own death) meets in the select.
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			line, err := in.next()
			var m toEngine
			if err == nil {
				if err = json.Unmarshal(line, &m); err != nil {
					err = fmt.Errorf("bad line from halod: %w", err)
				}
			}
			if err != nil {
				readErr <- err
				return
			}
			switch {
			case m.Stop:
				select {
				case stop <- struct{}{}:
				case <-quit:
				}
				return
			case m.Apply != nil:
				a := &appliedMsg{Seq: m.Apply.Seq}
				if p, ok := ParsePhase(m.Apply.Phase); !ok {
					a.Error = fmt.Sprintf("unknown phase %q", m.Apply.Phase)
				} else if err := run.Apply(ctx, p, m.Apply.Degraded); err != nil {
					a.Error = err.Error()
				}
				if err := out.send(fromEngine{Applied: a}); err != nil {
					log.Warn("answer to halod not written", "err", err)
				}
			}
		}
	}()
	select {
	case <-stop:
		err := stopRun(run)
		_ = out.send(fromEngine{Stopped: true})
		return err
	case err := <-readErr:
		if !errors.Is(err, io.EOF) {
			log.Error("halod's pipe", "err", err)
		}
		// halod is gone (or mad): nothing will tell this engine what to offer any more,
		// so it offers nothing.
		return stopRun(run)
	case <-run.Done():
		return fatal(fmt.Errorf("engine ended: %w", run.Err()))
	case <-ctx.Done():
		return stopRun(run)
	}
}

func stopRun(run EngineRun) error {
	ctx, cancel := context.WithTimeout(context.Background(), engineStopTimeout)
	defer cancel()
	return run.Stop(ctx)
}
