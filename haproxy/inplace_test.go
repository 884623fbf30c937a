package haproxy

import (
	"bufio"
	"context"
	"errors"
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
	cfg := l.cfg
	// The bound is tested apart; here a loaded machine must not turn the verdict.
	cfg.RestartInPlace.Within = 5 * time.Second
	r := start(t, cfg)
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
			victims := []int{}
			for _, w := range sp.Workers {
				victims = append(victims, w.PID)
			}
			if victim == "worker" {
				for _, pid := range victims {
					if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
				}
			} else if err := syscall.Kill(-s.PID, syscall.SIGKILL); err != nil { // its process group
				t.Fatal(err)
			} else {
				victims = append(victims, s.PID)
			}
			// A connection begun while a killed worker still ran may have been accepted by
			// it: it dies with the process. From when they are all gone (or zombies) on,
			// only the restarted HAProxy can accept.
			poll.Until(t, 5*time.Second, "the killed processes gone", func() error {
				for _, pid := range victims {
					if alive(pid) {
						return fmt.Errorf("pid %d alive", pid)
					}
				}
				return nil
			})
			kill := time.Now()
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
			for _, q := range reqs {
				if q.err != nil {
					t.Errorf("request begun %s after the killed processes were gone failed: %v", q.at.Sub(kill).Round(time.Millisecond), q.err)
				}
			}
			// Served, though it was still waiting when no HAProxy ran: it waited in the
			// accept queue of the socket halod held, and the restarted HAProxy took it.
			var waited []time.Duration
			lost := 0
			for _, q := range ld.after(time.Time{}) {
				if q.err == nil && q.at.Add(q.dur).After(kill) && q.at.Before(back) {
					waited = append(waited, q.dur)
				}
				if q.at.Before(kill) && q.err != nil {
					lost++ // perhaps accepted by a killed worker: it died with the process
				}
			}
			slices.Sort(waited)
			if len(waited) == 0 {
				t.Fatalf("no request waited through the restart: the test proves nothing")
			}
			t.Logf("SIGKILL %s: serving again %s after the killed processes were gone; %d requests begun after that, all served; %d waited through the restart, up to %s; %d in flight at the kill lost",
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
	// A reload of the HAProxy restarted in place takes its sockets from its worker, as
	// any reload (HAProxy drops -x from the arguments it re-executes itself with): halod
	// is not asked, and the socket is still the same.
	if res, err := r.m.Reload(t.Context()); err != nil {
		t.Fatalf("reload of the HAProxy restarted in place: %v (%+v)", err, res)
	}
	handed := 0
	r.log.mu.Lock()
	for _, rec := range *r.log.records {
		if rec.Message == "listening sockets handed to a starting haproxy" {
			handed++
		}
	}
	r.log.mu.Unlock()
	if handed != 2 {
		t.Errorf("halod handed its sockets %d times, want 2 (the restarts in place, not the reload)", handed)
	}
	if got := listenInode(t, l.frontend); got != inode {
		t.Errorf("frontend socket inode %s after the reload, %s before", got, inode)
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

// killGroup SIGKILLs the master halod runs and its workers (its process group).
func killGroup(t *testing.T, m *Manager) int {
	t.Helper()
	pid := m.Snapshot().PID
	if pid == 0 {
		t.Fatal("no haproxy running")
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return pid
}

// failedOver waits for the verdict to turn unhealthy with a reason containing why, and
// for the frontend to listen no more: halod released its copies, nobody holds it.
func failedOver(t *testing.T, r *running, frontend, why string) {
	t.Helper()
	poll.Until(t, 5*time.Second, "a failover: "+why, func() error {
		for _, e := range unhealthyEvents(r) {
			if strings.Contains(e.(*HealthChanged).Reason, why) {
				return nil
			}
		}
		return fmt.Errorf("unhealthy events %+v", unhealthyEvents(r))
	})
	poll.Until(t, 5*time.Second, "the frontend released", func() error {
		if ino := listenInode(t, frontend); ino != "" {
			return fmt.Errorf("still listening (inode %s, held by %v)", ino, holders(ino))
		}
		return nil
	})
}

// TestRestartInPlaceFailsOver: a crash loop, a configuration that no longer starts, an
// HAProxy that does not serve again within the bound, and the policy turned off each
// fail over as without it: the verdict turns at once (or at the bound) and halod's
// copies are released, so that nothing listens while HAProxy is down.
func TestRestartInPlaceFailsOver(t *testing.T) {
	// The restart after a failover waits out restart.initial: long enough to see the
	// frontend closed.
	backoff := RestartConfig{Initial: 2 * time.Second, Max: 4 * time.Second, Stable: 5 * time.Second}
	t.Run("crash-loop", func(t *testing.T) {
		l := newLab(t)
		cfg := l.cfg
		cfg.Restart = backoff
		cfg.RestartInPlace.MaxCrashes = 1
		cfg.RestartInPlace.Within = 5 * time.Second // the case is the crash loop: a loaded machine's slow restart must not turn the verdict first (CI saw 1 s pass)
		r := start(t, cfg)
		poll.Until(t, 10*time.Second, "healthy and holding", func() error {
			if err := healthy(r.m)(); err != nil {
				return err
			}
			return holding(r.m)()
		})
		first := killGroup(t, r.m)
		poll.Until(t, 10*time.Second, "restarted in place, holding again", func() error {
			if s := r.m.Snapshot(); s.RestartsInPlace != 1 || s.RestartingInPlace || s.PID == first {
				return fmt.Errorf("%+v", s)
			}
			return holding(r.m)()
		})
		if ev := unhealthyEvents(r); len(ev) > 0 {
			t.Fatalf("the first crash turned the verdict: %+v", ev)
		}
		killGroup(t, r.m)
		failedOver(t, r, l.frontend, "exited")
		if _, ok := r.log.find("not restarting it in place", "why", "crash loop: 1 crashes restarted in place within restart_in_place.window 1m0s"); !ok {
			t.Error("no log of the crash loop")
		}
		poll.Until(t, 10*time.Second, "back after the backoff", healthy(r.m))
	})
	t.Run("no-longer-starts", func(t *testing.T) {
		l := newLab(t)
		cfg := l.cfg
		cfg.Restart = backoff
		r := start(t, cfg)
		poll.Until(t, 10*time.Second, "healthy and holding", func() error {
			if err := healthy(r.m)(); err != nil {
				return err
			}
			return holding(r.m)()
		})
		l.vars.Broken = true
		l.writeConfig()
		killGroup(t, r.m)
		failedOver(t, r, l.frontend, "exited")
		if _, ok := r.log.find("not restarting it in place"); !ok {
			t.Error("no log of the failed restart in place")
		}
		if s := r.m.Snapshot(); s.RestartsInPlace != 1 {
			t.Errorf("%d restarts in place, want the 1 that failed", s.RestartsInPlace)
		}
	})
	t.Run("not-serving-within", func(t *testing.T) {
		l := newLab(t)
		cfg := l.cfg
		cfg.Restart = backoff
		cfg.RestartInPlace.Within = 300 * time.Millisecond
		r := start(t, cfg)
		poll.Until(t, 10*time.Second, "healthy and holding", func() error {
			if err := healthy(r.m)(); err != nil {
				return err
			}
			return holding(r.m)()
		})
		// The restarted HAProxy starts and serves, but not the frontend halod checks.
		l.vars.FrontendName = "other"
		l.writeConfig()
		kill := time.Now()
		killGroup(t, r.m)
		poll.Until(t, 5*time.Second, "a failover at the bound", func() error {
			for _, e := range unhealthyEvents(r) {
				if h := e.(*HealthChanged); strings.Contains(h.Reason, "not serving again within restart_in_place.within 300ms") {
					if d := h.At.Sub(kill); d < 300*time.Millisecond || d > 2*time.Second {
						t.Errorf("failed over %s after the kill, bound 300ms", d)
					}
					return nil
				}
			}
			return fmt.Errorf("unhealthy events %+v", unhealthyEvents(r))
		})
		if n := r.m.hold.count(); n != 0 {
			t.Errorf("%d sockets still held after the failover", n)
		}
	})
	t.Run("off", func(t *testing.T) {
		l := newLab(t)
		cfg := l.cfg
		cfg.Restart = backoff
		off := false
		cfg.RestartInPlace.Enabled = &off
		r := start(t, cfg)
		poll.Until(t, 10*time.Second, "healthy", healthy(r.m))
		if n := r.m.hold.count(); n != 0 {
			t.Errorf("%d sockets held with the policy off", n)
		}
		if _, err := os.Stat(cfg.ListenersSocket()); err == nil {
			t.Errorf("%s served with the policy off", cfg.ListenersSocket())
		}
		killGroup(t, r.m)
		failedOver(t, r, l.frontend, "exited")
		if s := r.m.Snapshot(); s.RestartsInPlace != 0 {
			t.Errorf("%d restarts in place with the policy off", s.RestartsInPlace)
		}
	})
}

// TestRestartInPlaceAfterTakeover: a halod holding HAProxy's sockets is SIGKILLed (its
// copies die with it); the next halod takes HAProxy over and holds the new worker's
// sockets, restarts it in place after a crash, and when it stops leaves nothing
// listening: only HAProxy and the halod of the moment ever hold the listening socket.
func TestRestartInPlaceAfterTakeover(t *testing.T) {
	l := newLab(t)
	cfg := l.cfg
	cfg.ApplyDefaults()
	crashed, oldp := crashable(t, l, cfg)
	var inode string
	poll.Until(t, 10*time.Second, "the first halod holding the frontend", func() error {
		inode = listenInode(t, l.frontend)
		if !slices.Contains(holders(inode), crashed.Process.Pid) {
			return fmt.Errorf("holders of %q: %v", inode, holders(inode))
		}
		return nil
	})
	if err := crashed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cfg.RestartInPlace.Within = 5 * time.Second // a loaded machine must not turn the verdict
	r := start(t, cfg)
	poll.Until(t, 15*time.Second, "the takeover done, the new worker's sockets held", func() error {
		if !oldp.exited() {
			return errors.New("old master still runs")
		}
		if err := healthy(r.m)(); err != nil {
			return err
		}
		return holding(r.m)()
	})
	// -x on the stats socket: the new HAProxy took the very socket over.
	if got := listenInode(t, l.frontend); got != inode {
		t.Errorf("frontend inode %s after the takeover, %s before", got, inode)
	}
	for _, pid := range holders(inode) {
		if c := comm(pid); pid != os.Getpid() && c != "haproxy" {
			t.Errorf("pid %d (%s) holds the frontend socket", pid, c)
		}
	}
	killGroup(t, r.m)
	poll.Until(t, 10*time.Second, "restarted in place", func() error {
		if s := r.m.Snapshot(); s.RestartsInPlace != 1 || s.RestartingInPlace {
			return fmt.Errorf("%+v", s)
		}
		return get(l.frontend)
	})
	if ev := unhealthyEvents(r); len(ev) > 0 {
		t.Errorf("the verdict turned: %+v", ev)
	}
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	r.done <- nil
	if got := listenInode(t, l.frontend); got != "" {
		t.Errorf("the frontend still listens after Run returned (inode %s, held by %v)", got, holders(got))
	}
	if _, err := os.Stat(cfg.ListenersSocket()); err == nil {
		t.Errorf("%s left behind", cfg.ListenersSocket())
	}
}
