package haproxy

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ListenersSocketName is the unix socket, next to the master socket, on which a managed
// halod hands its copies of HAProxy's listening sockets to an HAProxy restarted in place
// (`haproxy -x <it>`).
const ListenersSocketName = "haproxy-listeners.sock"

// ListenersSocket is where halod serves the `_getsocks` exchange.
func (c Config) ListenersSocket() string {
	return filepath.Join(filepath.Dir(c.MasterSocket), ListenersSocketName)
}

// Why halod copies HAProxy's sockets rather than opening them itself and passing them
// down (`bind fd@N` in haproxy.cfg, which HAProxy 2.6 supports, as sockpair@): that would
// rewrite the operator's binds into descriptor numbers, make halod redo what HAProxy
// sets on each socket (bind options, namespaces, interfaces, transparent, v6only,
// QUIC's UDP sockets), and HAProxy treats an inherited socket apart: it never exports
// it through `_getsocks` (FD_EXPORTED is set only on sockets it bound, src/sock_inet.c)
// and never pauses it. The `_getsocks` exchange is HAProxy's own way of handing its
// sockets to a successor (`haproxy -x`, every master-worker reload), and it leaves
// haproxy.cfg as the operator wrote it: halod takes part in it on both ends.
//
// After every start, restart and reload (a check finds a new worker serving), halod
// fetches the sockets through the stats socket, which must be declared with "expose-fd
// listeners"; HAProxy marks every listener it binds exportable, the stats socket itself
// included. The copies halod holds keep the sockets open in the kernel when every
// HAProxy process is gone, so new connections complete their handshake and wait in the
// accept queue (up to the listener's backlog). An HAProxy restarted in place gets them
// back through -x <ListenersSocket>: it binds each listener of its configuration on
// the socket of the same address, namespace and interface, and closes those it has no
// use for. Its own reloads do not come back to halod: HAProxy drops -x (and -sf) from the
// arguments it re-executes itself with, and passes -x sockpair@ to its current worker
// (src/haproxy.c copy_argv, mworker_reexec).
//
// halod holds nothing while HAProxy is not serving (a hung or stopping HAProxy keeps
// its own queue; a queue nobody will serve is better closed, so that clients are
// refused and retry elsewhere), and releases every copy before a planned stop (a soft-
// stopped HAProxy closes its listeners so that new connections are refused), when
// HAProxy fails over after a crash, and when Run returns. A crashed halod holds nothing:
// the kernel closes its descriptors.
type listenerHold struct {
	mu     sync.Mutex
	socks  []xferSocket
	worker int // the worker the sockets were fetched from
	tries  int // fetches tried for worker
	// released counts releases: a fetch begun before one keeps nothing, for the worker
	// it reached may be the one that just crashed (a check found it serving a moment
	// before), and nothing may listen while HAProxy is down.
	released uint64
	kick     chan int
}

func newListenerHold() *listenerHold { return &listenerHold{kick: make(chan int, 1)} }

// want asks for the sockets of a worker found serving, unless they are held already.
func (h *listenerHold) want(worker int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if worker == 0 || worker == h.worker && (len(h.socks) > 0 || h.tries >= 3) {
		return
	}
	select {
	case <-h.kick:
	default:
	}
	h.kick <- worker
}

// count is how many sockets are held.
func (h *listenerHold) count() int {
	n, _ := h.held()
	return n
}

// held is how many sockets are held, and the worker they were taken from.
func (h *listenerHold) held() (n, worker int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.socks), h.worker
}

// release closes every copy.
func (h *listenerHold) release() int {
	h.mu.Lock()
	socks := h.socks
	h.socks, h.worker, h.tries = nil, 0, 0
	h.released++
	select {
	case <-h.kick: // a fetch asked for before the release is no longer wanted
	default:
	}
	h.mu.Unlock()
	closeSockets(socks)
	return len(socks)
}

// dup returns copies of the held sockets, for the caller to hand on and close.
func (h *listenerHold) dup() ([]xferSocket, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]xferSocket, 0, len(h.socks))
	for _, s := range h.socks {
		fd, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			closeSockets(out)
			return nil, err
		}
		s.fd = fd
		out = append(out, s)
	}
	return out, nil
}

// holdListeners fetches the sockets of each new worker the checks find serving, and
// answers `_getsocks` on ListenersSocket, until ctx ends; every copy is released then.
func (m *Manager) holdListeners(ctx context.Context) {
	h := m.hold
	defer func() {
		if n := h.release(); n > 0 {
			m.log.Info("released the listening sockets halod held", "sockets", n)
		}
	}()
	path := m.cfg.ListenersSocket()
	ln, err := listenUnix(path)
	if err != nil {
		m.log.Error("cannot serve the listening sockets to a restarted haproxy; a crash fails over", "path", path, "err", err)
	} else {
		var wg sync.WaitGroup
		defer wg.Wait()
		defer ln.Close()
		wg.Go(func() { m.serveListeners(ctx, ln) })
	}
	for {
		var worker int
		select {
		case <-ctx.Done():
			return
		case worker = <-h.kick:
		}
		m.fetchListeners(ctx, worker)
	}
}

func (m *Manager) fetchListeners(ctx context.Context, worker int) {
	h := m.hold
	h.mu.Lock()
	released := h.released
	h.mu.Unlock()
	socks, err := fetchSockets(ctx, m.cfg.StatsSocket, time.Second)
	h.mu.Lock()
	if err == nil && h.released != released {
		h.mu.Unlock()
		closeSockets(socks)
		m.log.Debug("listening sockets fetched across a release: dropped", "worker_pid", worker, "sockets", len(socks))
		return
	}
	if worker != h.worker {
		h.worker, h.tries = worker, 0
	}
	h.tries++
	tries := h.tries
	var old []xferSocket
	if err == nil {
		old, h.socks = h.socks, socks
	}
	h.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("cannot take a copy of haproxy's listening sockets: a crash will fail over", "stats_socket", m.cfg.StatsSocket, "worker_pid", worker, "try", tries, "err", err)
		}
		return
	}
	closeSockets(old)
	addrs := make([]string, len(socks))
	for i, s := range socks {
		addrs[i] = s.addr
	}
	m.log.Debug("holding haproxy's listening sockets", "worker_pid", worker, "sockets", addrs)
}

// serveListeners answers `_getsocks` on ln with copies of the held sockets.
func (m *Manager) serveListeners(ctx context.Context, ln *net.UnixListener) {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				m.log.Error("listening sockets: accept", "err", err)
			}
			return
		}
		socks, err := m.hold.dup()
		if err != nil {
			m.log.Error("listening sockets: cannot hand them over", "err", err)
			conn.Close()
			continue
		}
		err = serveSockets(conn, socks, 2*time.Second)
		closeSockets(socks)
		if err != nil {
			m.log.Warn("listening sockets: hand-over failed", "err", err)
		} else {
			m.log.Info("listening sockets handed to a starting haproxy", "sockets", len(socks))
		}
	}
}
