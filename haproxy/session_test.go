package haproxy

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cliReply is what cliServer does with one command line.
type cliReply struct {
	raw   string // written as is (the interactive form), unless hang
	hang  bool   // read the line, never answer: a SIGSTOPped HAProxy
	close bool   // close the connection after answering (HAProxy's stats timeout, a restart)
}

// cliServer is a stats socket in memory. reply gets the connection's number (from 1) and
// the line as received.
type cliServer struct {
	path   string
	mu     sync.Mutex
	lines  [][]string    // by connection
	closed chan struct{} // one value per connection whose peer hung up
}

func newCLIServer(t *testing.T, reply func(conn int, line string) cliReply) *cliServer {
	t.Helper()
	s := &cliServer{path: filepath.Join(t.TempDir(), "s.sock"), closed: make(chan struct{}, 16)}
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.lines = append(s.lines, nil)
			n := len(s.lines)
			conns = append(conns, c)
			s.mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				rd := bufio.NewReader(c)
				for {
					line, err := rd.ReadString('\n')
					if err != nil {
						s.closed <- struct{}{}
						return
					}
					line = strings.TrimSuffix(line, "\n")
					s.mu.Lock()
					s.lines[n-1] = append(s.lines[n-1], line)
					s.mu.Unlock()
					r := reply(n, line)
					if r.hang {
						<-stop
						return
					}
					if _, err := c.Write([]byte(r.raw)); err != nil {
						return
					}
					if r.close {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		close(stop)
		ln.Close()
		s.mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *cliServer) received() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]string, len(s.lines))
	for i, l := range s.lines {
		out[i] = append([]string(nil), l...)
	}
	return out
}

var sessionCheck = CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"app": 1}}

// healthyRaw is HAProxy 2.6's interactive answer to the check's line: each output ends
// with an empty line, then the prompt; a fresh connection's line starts with "prompt;",
// whose own answer is empty.
func healthyRaw(info string, fresh bool) string {
	s := info + promptMark + statApp + promptMark + statMain + promptMark
	if fresh {
		s = promptMark + s
	}
	return s
}

func withPid(info string, pid string) string {
	return strings.Replace(info, "Pid: 6628", "Pid: "+pid, 1)
}

const stoppingInfo = "Stopping: 1"

func TestSessionKeepsOneConnection(t *testing.T) {
	plan := newCheckPlan(sessionCheck, false)
	srv := newCLIServer(t, func(conn int, line string) cliReply {
		return cliReply{raw: healthyRaw(infoOK, strings.HasPrefix(line, "prompt;"))}
	})
	for i := range 3 {
		r := plan.probe(t.Context(), time.Second, "stats socket", srv.path)
		if !r.OK() || r.WorkerPID != 6628 || r.Version != "2.6.12-1+deb12u4" {
			t.Fatalf("check %d: %+v", i, r)
		}
	}
	want := [][]string{{"prompt;" + plan.cmd, plan.cmd, plan.cmd}}
	if d := cmp.Diff(want, srv.received()); d != "" {
		t.Errorf("lines by connection (-want +got):\n%s", d)
	}
}

// TestRoundTripAnswerInPieces feeds the answer through a pipe, whose reads return one
// write each, so that prompts straddle reads.
func TestRoundTripAnswerInPieces(t *testing.T) {
	plan := newCheckPlan(sessionCheck, false)
	want := splitBlocks(infoOK + "\n" + statApp + "\n" + statMain + "\n")
	for _, chunk := range []int{1, 2, 3, 1000} {
		for _, fresh := range []bool{true, false} {
			client, server := net.Pipe()
			go func() {
				defer server.Close()
				if _, err := bufio.NewReader(server).ReadString('\n'); err != nil {
					return
				}
				for out := healthyRaw(infoOK, fresh); out != ""; {
					k := min(len(out), chunk)
					if _, err := server.Write([]byte(out[:k])); err != nil {
						return
					}
					out = out[k:]
				}
			}()
			s := &session{conn: client}
			got, err := s.roundTrip(t.Context(), time.Now().Add(5*time.Second), plan.cmd, len(want), fresh)
			client.Close()
			if err != nil {
				t.Fatalf("chunk %d, fresh %v: %v", chunk, fresh, err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("chunk %d, fresh %v: blocks (-want +got):\n%s", chunk, fresh, d)
			}
		}
	}
}

func TestSessionPromptAnswerParsed(t *testing.T) {
	// A frontend missing from the config: HAProxy answers the command with an error
	// line, which must land on that proxy and no other.
	ck := CheckConfig{Frontends: []string{"main", "nope"}, Backends: map[string]int{"app": 2}}
	plan := newCheckPlan(ck, false)
	raw := promptMark + infoOK + promptMark + statApp + promptMark + statMain + promptMark + "No such proxy.\n" + promptMark
	srv := newCLIServer(t, func(int, string) cliReply { return cliReply{raw: raw} })
	r := plan.probe(t.Context(), time.Second, "stats socket", srv.path)
	if r.Kind != KindFrontend || r.Reason != "frontend nope: not found (No such proxy); backend app: 1/2 servers UP, need 2" {
		t.Errorf("probe = %s %q", r.Kind, r.Reason)
	}
}

func TestSessionReconnectsAfterServerClose(t *testing.T) {
	plan := newCheckPlan(sessionCheck, false)
	srv := newCLIServer(t, func(conn int, line string) cliReply {
		return cliReply{raw: healthyRaw(withPid(infoOK, "700"+string(rune('0'+conn))), strings.HasPrefix(line, "prompt;")), close: true}
	})
	for i, pid := range []int{7001, 7002, 7003} {
		r := plan.probe(t.Context(), time.Second, "stats socket", srv.path)
		if !r.OK() || r.WorkerPID != pid {
			t.Fatalf("check %d = %+v, want OK from pid %d", i, r, pid)
		}
	}
	// Checks 2 and 3 each found the kept connection closed, and retried on a new one.
	if got := srv.received(); len(got) != 3 {
		t.Errorf("lines by connection = %q, want 3 connections", got)
	}
}

func TestSessionHungServerTimesOut(t *testing.T) {
	plan := newCheckPlan(sessionCheck, false)
	srv := newCLIServer(t, func(conn int, line string) cliReply {
		fresh := strings.HasPrefix(line, "prompt;")
		if conn == 1 && !fresh {
			return cliReply{hang: true} // stopped after the first check
		}
		return cliReply{raw: healthyRaw(infoOK, fresh)}
	})
	if r := plan.probe(t.Context(), time.Second, "stats socket", srv.path); !r.OK() {
		t.Fatalf("first check = %+v", r)
	}
	const timeout = 100 * time.Millisecond
	r := plan.probe(t.Context(), timeout, "stats socket", srv.path)
	if r.Kind != KindTimeout || r.Reason != "stats socket: timeout after 100ms" {
		t.Errorf("check on the hung connection = %s %q, want timeout", r.Kind, r.Reason)
	}
	if r.Duration < timeout || r.Duration > timeout+50*time.Millisecond {
		t.Errorf("check took %s, want the deadline of %s", r.Duration, timeout)
	}
	if got := srv.received(); len(got) != 1 {
		t.Errorf("a timeout was retried: lines by connection = %q", got)
	}
	// The hung connection is dropped: the next check dials again.
	if r := plan.probe(t.Context(), time.Second, "stats socket", srv.path); !r.OK() {
		t.Errorf("check after the timeout = %+v", r)
	}
	if got := srv.received(); len(got) != 2 {
		t.Errorf("lines by connection = %q, want 2 connections", got)
	}
}

func TestSessionStoppingWorker(t *testing.T) {
	stopping := strings.Replace(infoOK, "Stopping: 0", stoppingInfo, 1)
	t.Run("kept connection to an old worker", func(t *testing.T) {
		plan := newCheckPlan(sessionCheck, false)
		srv := newCLIServer(t, func(conn int, line string) cliReply {
			fresh := strings.HasPrefix(line, "prompt;")
			if conn == 1 && !fresh {
				return cliReply{raw: healthyRaw(stopping, false)} // reloaded meanwhile
			}
			return cliReply{raw: healthyRaw(withPid(infoOK, "7000"), fresh)}
		})
		plan.probe(t.Context(), time.Second, "stats socket", srv.path)
		r := plan.probe(t.Context(), time.Second, "stats socket", srv.path)
		if !r.OK() || r.WorkerPID != 7000 {
			t.Errorf("check after the reload = %+v, want OK from the new worker", r)
		}
		select {
		case <-srv.closed: // the old worker's session, so that it can exit
		case <-time.After(5 * time.Second):
			t.Error("the session to the stopping worker was not closed")
		}
	})
	t.Run("fresh connection", func(t *testing.T) {
		plan := newCheckPlan(sessionCheck, false)
		srv := newCLIServer(t, func(conn int, line string) cliReply {
			return cliReply{raw: healthyRaw(stopping, strings.HasPrefix(line, "prompt;"))}
		})
		r := plan.probe(t.Context(), time.Second, "stats socket", srv.path)
		if r.Kind != KindStopping || len(srv.received()) != 1 {
			t.Errorf("check = %s %q over %d connections, want stopping over 1", r.Kind, r.Reason, len(srv.received()))
		}
		select {
		case <-srv.closed: // a session kept open would hold the stopping HAProxy
		case <-time.After(5 * time.Second):
			t.Error("the session to a stopping HAProxy was kept")
		}
	})
}

func TestSessionClosedWhenContextEnds(t *testing.T) {
	plan := newCheckPlan(sessionCheck, false)
	srv := newCLIServer(t, func(conn int, line string) cliReply {
		return cliReply{raw: healthyRaw(infoOK, strings.HasPrefix(line, "prompt;"))}
	})
	ctx, cancel := context.WithCancel(t.Context())
	if r := plan.probe(ctx, time.Second, "stats socket", srv.path); !r.OK() {
		t.Fatalf("check = %+v", r)
	}
	cancel()
	select {
	case <-srv.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection outlived its context")
	}
	// A later check, under another context, dials again.
	if r := plan.probe(t.Context(), time.Second, "stats socket", srv.path); !r.OK() {
		t.Errorf("check after the context ended = %+v", r)
	}
	if got := srv.received(); len(got) != 2 {
		t.Errorf("lines by connection = %q, want 2 connections", got)
	}
}
