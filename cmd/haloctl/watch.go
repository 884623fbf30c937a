package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/halo-lb/halo/supervisor"
)

// reconnectEvery is how often watch tries to reach a halod that went away.
const reconnectEvery = time.Second

// runWatch long-polls halod's status (status with Since: answered when the snapshot's
// generation moves) and prints what changed. Nothing is queued on either side: changes
// that come faster than a round trip fold into the newest snapshot, which is always the
// one compared, so the final state is always printed.
func runWatch(ctx context.Context, e *env, _ []string) int {
	if e.sockErr != nil {
		return e.fail(exitUsage, e.sockErr.Error())
	}
	w := &watcher{e: e}
	cl, err := w.dial(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		return e.fail(codeOf(err), err.Error())
	}
	var prev *supervisor.Status
	var since uint64
	for {
		st, err := w.poll(ctx, cl, since)
		if ctx.Err() != nil {
			cl.Close()
			return exitOK // Ctrl-C
		}
		if err != nil {
			cl.Close()
			w.print(event{Subject: "halod", Kind: "reachable", From: "yes", To: "no", Message: fmt.Sprintf("halod not reachable: %v; retrying every %s", err, reconnectEvery)})
			if cl, err = w.redial(ctx); err != nil {
				return exitOK // Ctrl-C while waiting
			}
			w.print(event{Subject: "halod", Kind: "reachable", From: "no", To: "yes", Message: "halod answers again"})
			since = 0
			continue
		}
		var evs []event
		if prev == nil {
			evs = initial(st)
		} else {
			evs = changes(prev, st)
		}
		for _, x := range evs {
			w.print(x)
		}
		prev, since = st, st.Generation
		if since == 0 {
			// A halod older than the long poll answers at once with no generation: ask
			// once a second rather than in a busy loop.
			select {
			case <-ctx.Done():
				cl.Close()
				return exitOK
			case <-time.After(reconnectEvery):
			}
		}
	}
}

type watcher struct {
	e *env
}

func (w *watcher) dial(ctx context.Context) (*supervisor.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, w.e.timeout)
	defer cancel()
	return supervisor.Dial(dctx, w.e.sock.path)
}

// redial tries to reach halod again until it answers or ctx ends.
func (w *watcher) redial(ctx context.Context) (*supervisor.Client, error) {
	t := time.NewTicker(reconnectEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		if cl, err := w.dial(ctx); err == nil {
			return cl, nil
		}
	}
}

// poll asks for the snapshot newer than since (at once when since is 0).
func (w *watcher) poll(ctx context.Context, cl *supervisor.Client, since uint64) (*supervisor.Status, error) {
	pctx, cancel := context.WithTimeout(ctx, supervisor.MaxStatusWait+w.e.timeout)
	defer cancel()
	resp, err := cl.Do(pctx, supervisor.Request{Cmd: "status", Since: since})
	if err != nil {
		return nil, err
	}
	if !resp.OK || resp.Status == nil {
		return nil, fmt.Errorf("status refused: %s", resp.Error)
	}
	return resp.Status, nil
}

// print writes one event: a line of text, or one JSON object per line with --json.
func (w *watcher) print(x event) {
	now := time.Now()
	if w.e.json {
		b, _ := json.Marshal(struct {
			Time time.Time `json:"time"`
			event
		}{now, x})
		fmt.Fprintf(w.e.stdout, "%s\n", b)
		return
	}
	fmt.Fprintf(w.e.stdout, "%s %s\n", now.Format("2006-01-02 15:04:05.000"), x.Message)
}
