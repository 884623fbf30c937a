package main

import (
	"testing"
	"time"
)

// TestInPlaceAdd: the requests around a kill are sorted into lost (in flight at the kill
// and failed), new connections (begun after it, failed or not) and those that waited
// (answered, though pending after the kill and begun before the first request begun
// after it was answered).
func TestInPlaceAdd(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	reqs := []traced{
		{start: at(-500), dur: 2 * time.Millisecond, err: "ok"},
		{start: at(-300), dur: 4 * time.Millisecond, err: "ok"},
		{start: at(-200), dur: 3 * time.Millisecond, err: "ok"},
		{start: at(-1), dur: 5 * time.Millisecond, err: "reset"}, // in flight: lost
		{start: at(-2), dur: 180 * time.Millisecond, err: "ok"},  // queued before, waited
		{start: at(10), dur: 203 * time.Millisecond, err: "ok"},  // waited: answered at 213
		{start: at(100), dur: 120 * time.Millisecond, err: "ok"}, // waited
		{start: at(250), dur: 3 * time.Millisecond, err: "ok"},   // after the restart
		{start: at(260), dur: 3 * time.Millisecond, err: "eof"},  // a failed new connection
	}
	r := &inPlaceResult{errs: map[string]int{}}
	base := r.add(reqs, t0)
	if base != 3*time.Millisecond {
		t.Errorf("baseline %s, want 3ms", base)
	}
	if r.lost != 1 || r.fresh != 4 || r.freshFailed != 1 || r.errs["eof"] != 1 {
		t.Errorf("lost %d, fresh %d, failed %d, errs %v", r.lost, r.fresh, r.freshFailed, r.errs)
	}
	if len(r.added) != 3 || r.added[0] != 177*time.Millisecond || r.added[1] != 200*time.Millisecond || r.added[2] != 117*time.Millisecond {
		t.Errorf("added %v, want [177ms 200ms 117ms]", r.added)
	}
	if len(r.down) != 1 || r.down[0] != 213*time.Millisecond {
		t.Errorf("down %v, want [213ms]", r.down)
	}
}
