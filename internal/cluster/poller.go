package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Poller polls the VIP from the client node and records every change of answer.
type Poller struct {
	mu  sync.Mutex
	evs []PollEvent
	// latest is the latest request that completed, a change or not: the changes alone
	// cannot tell a request still in flight from one that succeeded like the one before.
	latest PollEvent
	// timeout is each request's: see Outage.
	timeout time.Duration
	done    chan struct{}
}

// PollEvent is labtool poll's output line.
type PollEvent struct {
	At       int64  `json:"at"`
	OK       bool   `json:"ok"`
	LastOK   int64  `json:"last_ok"`
	LB       string `json:"lb"`
	Backend  string `json:"backend"`
	Err      string `json:"err"`
	Requests uint64 `json:"requests"`
	Failures uint64 `json:"failures"`
	// Beat marks a request that changed nothing: it updates Latest, never Events.
	Beat bool `json:"beat"`
}

// StartPoller polls http://VIP:80/ every interval with the given timeout, for at most d.
func (c *Cluster) StartPoller(interval, timeout, d time.Duration) (*Poller, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	cmd := exec.Command("ip", "netns", "exec", c.Client.NS, filepath.Join(c.Bin, "labtool"), "poll",
		"-url", fmt.Sprintf("http://%s/", netip.AddrPortFrom(c.VIP, 80)), "-interval", interval.String(), "-timeout", timeout.String(), "-duration", d.String(), "-beat")
	cmd.Stdout = w
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, err
	}
	p := &Poller{timeout: timeout, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer r.Close()
		p.read(r)
	}()
	go func() { _ = cmd.Wait(); w.Close() }()
	c.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // os.Process: never a reused PID
		<-p.done
	})
	return p, nil
}

// Last returns the latest event.
func (p *Poller) Last() (PollEvent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.evs) == 0 {
		return PollEvent{}, false
	}
	return p.evs[len(p.evs)-1], true
}

// read records labtool poll's lines until r ends: the changes as events, every request
// but the closing "done" as the latest.
func (p *Poller) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var ev PollEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		p.mu.Lock()
		if !ev.Beat {
			p.evs = append(p.evs, ev)
		}
		if ev.Err != "done" {
			p.latest = ev
		}
		p.mu.Unlock()
	}
}

// Latest returns the latest request that completed (ok false before the first). The poller
// runs one request at a time, so every request that started before Latest().At has
// completed and is accounted for in Events.
func (p *Poller) Latest() (PollEvent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latest, p.latest.Requests > 0
}

// Events returns a copy of every event so far.
func (p *Poller) Events() []PollEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PollEvent(nil), p.evs...)
}

// Outage returns how long the VIP was dark around a fault at time t0: from the last
// success before t0 to the first success after it, once clients are served again
// (ok=false while they are not).
func (p *Poller) Outage(t0 time.Time) (d time.Duration, served string, ok bool) {
	evs := p.Events()
	var lastOK int64
	failed := false
	for _, ev := range evs {
		if !ev.OK && ev.Err != "done" && ev.LastOK > 0 && ev.At >= t0.UnixNano()-int64(time.Second) {
			if !failed {
				lastOK = ev.LastOK
			}
			failed = true
			continue
		}
		if ev.OK && failed && ev.At >= t0.UnixNano() {
			return time.Duration(ev.At - lastOK), ev.LB, true
		}
	}
	if !failed {
		// No failed request at all: the switch-over fitted between two polls, or nothing
		// changed for the client (HAProxy restarted in place): Events holds only changes,
		// so a request answered like the one before shows in Latest alone. Only a success
		// that started a request timeout after t0 says so, though: the fault may take hold
		// a little after t0 (a link cut by running ip lands milliseconds later), and a
		// request that started in between succeeds; the next, started on the cut link,
		// fails only when it times out. Taken for "no outage", such a success ended the
		// bench's rounds at 0 ms, lb1, while the client was in the dark.
		after := t0.Add(p.timeout).UnixNano()
		for _, ev := range evs {
			if ev.OK && ev.At >= after {
				return 0, ev.LB, true
			}
		}
		if ev, ok := p.Latest(); ok && ev.OK && ev.At >= after {
			return 0, ev.LB, true
		}
	}
	return 0, "", false
}
