package cluster

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFreshAnswer replays the client's side of the CI failure of three/backup-dies: the
// last change the poller printed was "ok from lb1", but the request in flight, started
// before the lab was found steady, timed out 200 ms later. Only an answer to a request
// started after that may open the next case.
func TestFreshAnswer(t *testing.T) {
	since := time.Unix(100, 0)
	at := func(d time.Duration) int64 { return since.Add(d).UnixNano() }
	line := func(s string) string { return s + "\n" }
	tests := []struct {
		name  string
		lines []string
		want  string // "" for nil, else a part of the error
	}{
		{"nothing yet", nil, "no request completed"},
		{"the last change is old, nothing since", []string{
			line(`{"at":` + itoa(at(-2*time.Second)) + `,"ok":true,"lb":"lb1","requests":1}`),
		}, "no request started since"},
		{"a beat started after since", []string{
			line(`{"at":` + itoa(at(-2*time.Second)) + `,"ok":true,"lb":"lb1","requests":1}`),
			line(`{"at":` + itoa(at(5*time.Millisecond)) + `,"ok":true,"lb":"lb1","requests":2,"beat":true}`),
		}, ""},
		{"the request in flight failed, after the change", []string{
			line(`{"at":` + itoa(at(-2*time.Second)) + `,"ok":true,"lb":"lb1","requests":1}`),
			line(`{"at":` + itoa(at(-25*time.Millisecond)) + `,"err":"timeout","requests":2,"failures":1}`),
		}, "no request started since"},
		{"answered by the wrong node", []string{
			line(`{"at":` + itoa(at(5*time.Millisecond)) + `,"ok":true,"lb":"lb2","requests":1}`),
		}, `from "lb2"`},
		{"failed after since", []string{
			line(`{"at":` + itoa(at(5*time.Millisecond)) + `,"err":"reset","requests":1,"failures":1}`),
		}, "ok=false"},
		{"the closing done leaves the latest request", []string{
			line(`{"at":` + itoa(at(5*time.Millisecond)) + `,"ok":true,"lb":"lb1","requests":1}`),
			line(`{"at":` + itoa(at(9*time.Millisecond)) + `,"ok":true,"lb":"lb1","err":"done","requests":1}`),
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Poller{}
			p.read(strings.NewReader(strings.Join(tc.lines, "")))
			m := &mlab{p: p}
			err := m.freshAnswer("lb1", since)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("freshAnswer: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("freshAnswer: %v, want an error with %q", err, tc.want)
			}
			for _, ev := range p.Events() {
				if ev.Beat {
					t.Errorf("a beat among the changes: %+v", ev)
				}
			}
		})
	}
}

// TestUnaccounted: the events a boundary judges are those after the last judged, up to
// the fresh answer, never the closing "done".
func TestUnaccounted(t *testing.T) {
	evs := []PollEvent{
		{At: 10, OK: true}, {At: 20, Err: "timeout"}, {At: 30, OK: true}, {At: 40, Err: "reset"}, {At: 50, Err: "done"},
	}
	got, next := unaccounted(evs, 1, time.Unix(0, 30))
	if len(got) != 2 || got[0].At != 20 || got[1].At != 30 || next != 3 {
		t.Errorf("unaccounted(from 1, until 30) = %+v, next %d; want the events at 20 and 30, next 3", got, next)
	}
	if f := failed(got, time.Unix(0, 0)); !strings.Contains(f, "timeout") || strings.Contains(f, "reset") {
		t.Errorf("failed = %q, want the timeout only", f)
	}
	if got, next := unaccounted(evs, 3, time.Unix(0, 1000)); len(got) != 1 || got[0].At != 40 || next != 4 {
		t.Errorf("unaccounted(from 3) = %+v, next %d; want the reset only (not done), next 4", got, next)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestOutageRestartInPlace: a fault the client never notices (HAProxy restarted in place
// on the sockets halod held) leaves no change among the events, only beats: Outage must
// report 0 from the node that kept answering, not "no answer" (the bench's haproxy-kill
// rounds of halo waited out their 30 s window that way).
func TestOutageRestartInPlace(t *testing.T) {
	t0 := time.Unix(100, 0)
	at := func(d time.Duration) string { return itoa(t0.Add(d).UnixNano()) }
	p := &Poller{timeout: 100 * time.Millisecond}
	p.read(strings.NewReader(`{"at":` + at(-2*time.Second) + `,"ok":true,"lb":"lb1","requests":1}` + "\n"))
	if _, _, ok := p.Outage(t0); ok {
		t.Fatal("an outage with nothing answered since the fault")
	}
	p.read(strings.NewReader(`{"at":` + at(110*time.Millisecond) + `,"ok":true,"lb":"lb1","requests":12,"beat":true}` + "\n"))
	if d, lb, ok := p.Outage(t0); !ok || d != 0 || lb != "lb1" {
		t.Errorf("Outage = %s, %q, %v; want 0 from lb1", d, lb, ok)
	}
}

// TestOutageFaultTakingHold: a request that started just after t0, before the fault took
// hold (the bench's link cut runs ip, milliseconds), succeeds; that is no proof the client
// rode through the fault. Outage must wait for the failures that follow and measure them,
// not end the round at 0 ms (the bench's link-cut rows had "0/2002 lb1" rounds: 0 ms
// reported, 2 s dark).
func TestOutageFaultTakingHold(t *testing.T) {
	t0 := time.Unix(100, 0)
	at := func(d time.Duration) string { return itoa(t0.Add(d).UnixNano()) }
	p := &Poller{timeout: 100 * time.Millisecond}
	p.read(strings.NewReader(`{"at":` + at(-2*time.Second) + `,"ok":true,"lb":"lb1","requests":1}` + "\n" +
		`{"at":` + at(5*time.Millisecond) + `,"ok":true,"lb":"lb1","requests":200,"beat":true}` + "\n"))
	if d, lb, ok := p.Outage(t0); ok {
		t.Fatalf("Outage = %s, %q, true on a success started 5 ms after the fault; want no verdict yet", d, lb)
	}
	p.read(strings.NewReader(`{"at":` + at(15*time.Millisecond) + `,"err":"timeout","last_ok":` + at(5*time.Millisecond) + `,"requests":201,"failures":1}` + "\n" +
		`{"at":` + at(3015*time.Millisecond) + `,"ok":true,"lb":"lb2","requests":228,"failures":27}` + "\n"))
	if d, lb, ok := p.Outage(t0); !ok || d != 3010*time.Millisecond || lb != "lb2" {
		t.Errorf("Outage = %s, %q, %v; want 3.01s from lb2", d, lb, ok)
	}
}
