package haproxy

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
)

// newLoad is a bounded load of new connections (one GET each, no retry) from clients
// in parallel, each request stamped with when it began and how it ended.
type stampedLoad struct {
	mu   sync.Mutex
	reqs []stamped
}

type stamped struct {
	at  time.Time
	dur time.Duration
	err error
}

func (l *stampedLoad) run(ctx context.Context, addr string, clients, max int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := 0; i < max && ctx.Err() == nil; i++ {
				at := time.Now()
				err := get(addr)
				l.mu.Lock()
				l.reqs = append(l.reqs, stamped{at: at, dur: time.Since(at), err: err})
				l.mu.Unlock()
			}
		})
	}
	return &wg
}

// after returns the requests begun at or after t.
func (l *stampedLoad) after(t time.Time) (out []stamped) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.reqs {
		if !r.at.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

// listenInode is the inode of the socket listening on addr ("" when none), from
// /proc/net/tcp, which ss reads too.
func listenInode(t *testing.T, addr string) string {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	socks, err := parseProcNetTCP(bufio.NewScanner(f))
	if err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddrPort(addr)
	for _, s := range socks {
		if s.addr == want {
			return s.inode
		}
	}
	return ""
}

// holders lists the processes holding the socket of inode.
func holders(inode string) []int {
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	var pids []int
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == "socket:["+inode+"]" {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(fd))))
			if !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

func holding(m *Manager) func() error {
	return func() error {
		if n := m.hold.count(); n == 0 {
			return fmt.Errorf("no listening socket held")
		}
		return nil
	}
}

func unhealthyEvents(r *running) []Event {
	return r.eventsOf(func(e Event) bool { h, ok := e.(*HealthChanged); return ok && !h.Healthy })
}

// TestRestartInPlaceUnderLoad: a SIGKILL of the worker, then of the master and its
// workers at once, under a load of new connections: every connection begun after the
// kill is served (it waits in the accept queue of the socket halod holds), the verdict
// never turns, and the restarted HAProxy listens on the very same socket.
func TestRestartInPlaceUnderLoad(t *testing.T) {
	l := newLab(t)
	r := start(t, l.cfg)
	poll.Until(t, 10*time.Second, "healthy", healthy(r.m))
	poll.Until(t, 5*time.Second, "the listening sockets held", holding(r.m))
	// HAProxy's own sockets are HAProxy's, though halod holds copies: a reload is not
	// refused for a port "in use by another process".
	if res, err := r.m.Reload(t.Context()); err != nil {
		t.Fatalf("reload while halod holds the sockets: %v (%+v)", err, res)
	}
	poll.Until(t, 5*time.Second, "the new worker's sockets held", func() error {
		n, from := r.m.hold.held()
		if w := r.m.Snapshot().WorkerPID; n == 0 || w != from {
			return fmt.Errorf("%d held from worker %d, serving %d", n, from, w)
		}
		return nil
	})
	inode := listenInode(t, l.frontend)
	for i, victim := range []string{"worker", "master+workers"} {
		t.Run(victim, func(t *testing.T) {
			s := r.m.Snapshot()
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			var ld stampedLoad
			wg := ld.run(ctx, l.frontend, 8, 2000)
			poll.Until(t, 5*time.Second, "load running", func() error {
				if n := len(ld.after(time.Time{})); n < 50 {
					return fmt.Errorf("%d requests", n)
				}
				return nil
			})
			sp, err := r.m.showProc(t.Context(), time.Second)
			if err != nil || len(sp.Workers) == 0 {
				t.Fatalf("show proc: %+v, %v", sp, err)
			}
			kill := time.Now()
			if victim == "worker" {
				for _, w := range sp.Workers {
					if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
				}
			} else if err := syscall.Kill(-s.PID, syscall.SIGKILL); err != nil { // its process group
				t.Fatal(err)
			}
			back := time.Now().Add(poll.Until(t, 10*time.Second, "serving again after the restart in place", func() error {
				s2 := r.m.Snapshot()
				if s2.RestartsInPlace != i+1 || s2.RestartingInPlace || s2.PID == s.PID || s2.WorkerPID == 0 {
					return fmt.Errorf("%+v", s2)
				}
				return nil
			}))
			poll.Until(t, 5*time.Second, "requests served after the restart", func() error {
				if n := len(ld.after(back)); n < 100 {
					return fmt.Errorf("%d requests", n)
				}
				return nil
			})
			cancel()
			wg.Wait()
			reqs := ld.after(kill)
			var waited []time.Duration
			for _, q := range reqs {
				if q.err != nil {
					t.Errorf("request begun %s after the kill failed: %v", q.at.Sub(kill).Round(time.Millisecond), q.err)
				}
				if q.at.Before(back) {
					waited = append(waited, q.dur)
				}
			}
			lost := 0
			for _, q := range ld.after(time.Time{}) {
				if q.at.Before(kill) && q.err != nil {
					lost++ // in flight on an accepted connection: it died with the process
				}
			}
			slices.Sort(waited)
			if len(waited) == 0 {
				t.Fatalf("no request begun between the kill and the restart: the test proves nothing")
			}
			t.Logf("SIGKILL %s: serving again after %s; %d requests after the kill, all served; %d begun while down waited up to %s; %d in flight at the kill lost",
				victim, back.Sub(kill).Round(time.Millisecond), len(reqs), len(waited), waited[len(waited)-1].Round(time.Millisecond), lost)
			if ev := unhealthyEvents(r); len(ev) > 0 {
				t.Errorf("the verdict turned unhealthy: %+v", ev)
			}
			if got := listenInode(t, l.frontend); got != inode {
				t.Errorf("frontend socket inode %s after the restart, %s before: HAProxy bound a new one", got, inode)
			}
			poll.Until(t, 5*time.Second, "the restarted worker's sockets held", holding(r.m))
		})
	}
	ex := r.eventsOf(func(e Event) bool { x, ok := e.(*Exited); return ok && x.InPlace })
	if len(ex) != 2 {
		t.Errorf("%d Exited{InPlace} events, want 2", len(ex))
	}
	// Stopped for good: no socket is left listening, halod's copies included.
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	r.done <- nil // for the cleanup
	if got := listenInode(t, l.frontend); got != "" {
		t.Errorf("the frontend still listens after Run returned (inode %s, held by %v)", got, holders(got))
	}
}
