package haproxy

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pipeline runs the health check in two halves one check apart, on one connection kept
// open in the CLI's interactive mode (`prompt`): each check reads the answer to the
// probe the previous check sent, without waiting, and sends the next probe. An idle
// halod then wakes once per check and never blocks on HAProxy: a blocking exchange
// wakes the thread again when the answer arrives and, in a system call, the Go
// runtime's monitor thread polls every 20 µs until it returns. Measured side by side
// (internal/cmd/checkcost, GOMAXPROCS=1), a program that only wakes five times a second
// cost 0.05 % of a core, the blocking exchange 0.22 %, the pipelined one 0.05 %.
//
// Its reads and writes are raw system calls on a non-blocking socket: they never block,
// so the scheduler need not hear of them (a scheduled system call wakes the monitor
// thread as a blocking one does).
//
// Only the check loop's goroutine reads, writes or closes; drop, from any goroutine,
// shuts the connection down so that the next look finds it ended.
type pipeline struct {
	name, path string
	prompt     string // "> " on a stats socket, "master> " on the master CLI
	cmd        []byte // the plan's commands, one line
	ncmds      int

	mu sync.Mutex // guards fd against drop
	fd int        // -1: no connection

	fresh    bool      // the connection's `prompt` answer is still to come
	sent     time.Time // when the outstanding probe was sent; zero when none is
	credited int       // timeouts already counted for the outstanding probe
	buf      []byte
}

func newPipeline(p checkPlan, name, path string) *pipeline {
	pl := &pipeline{name: name, path: path, prompt: "> ", fd: -1, ncmds: 1 + len(p.proxies)}
	if name == "master socket" {
		pl.prompt = "master> "
	}
	pl.cmd = []byte(p.pipeCmd + "\n")
	return pl
}

// pending reports whether a probe awaits its look.
func (pl *pipeline) pending() bool { return !pl.sent.IsZero() }

// start opens the connection if there is none and sends a probe at now. An error
// leaves the pipeline closed: the next check is a blocking one again.
func (pl *pipeline) start(now time.Time) error {
	if pl.fd < 0 {
		if err := pl.open(); err != nil {
			return err
		}
	}
	msg := pl.cmd
	if pl.fresh {
		msg = append([]byte("prompt\n"), pl.cmd...)
	}
	// A few dozen bytes into an empty socket buffer: a short write means the
	// connection is not what it should be.
	if n, err := rawSend(pl.fd, msg); err != nil || n != len(msg) {
		pl.close()
		return fmt.Errorf("%s: pipelined write: %d of %d bytes: %v", pl.name, n, len(msg), err)
	}
	pl.sent, pl.credited, pl.buf = now, 0, pl.buf[:0]
	return nil
}

func (pl *pipeline) open() error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: socket: %w", pl.name, err)
	}
	// A unix connect completes at once or fails (EAGAIN when HAProxy's backlog is full).
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: pl.path}); err != nil {
		_ = unix.Close(fd)
		return fmt.Errorf("%s: connect: %w", pl.name, err)
	}
	pl.mu.Lock()
	pl.fd = fd
	pl.mu.Unlock()
	pl.fresh = true
	return nil
}

// close ends the connection; the probe outstanding, if any, is forgotten.
func (pl *pipeline) close() {
	pl.mu.Lock()
	if pl.fd >= 0 {
		_ = unix.Close(pl.fd)
		pl.fd = -1
	}
	pl.mu.Unlock()
	pl.sent, pl.credited, pl.buf = time.Time{}, 0, pl.buf[:0]
}

// drop shuts the connection down from any goroutine: a reload must not find halod's
// session keeping the old worker alive (a stopping HAProxy waits for its CLI sessions).
func (pl *pipeline) drop() {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.fd >= 0 {
		_ = unix.Shutdown(pl.fd, unix.SHUT_RDWR)
	}
}

// look reads what has arrived for the outstanding probe, at now. ok is false when there
// is no verdict to take from the pipeline (no probe, the connection ended, an answer
// halod cannot read): the caller probes the blocking way. Otherwise blocks is the
// answer, one block per command, or, while it is incomplete, n > 0 is how many timeouts
// the wait stands for and have not been counted yet (see timeouts).
func (pl *pipeline) look(now time.Time, timeout, fast time.Duration) (blocks []string, n int, ok bool) {
	if !pl.pending() {
		return nil, 0, false
	}
	for {
		pl.buf = growBuf(pl.buf)
		k, err := rawRead(pl.fd, pl.buf[len(pl.buf):cap(pl.buf)])
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil || k == 0 || len(pl.buf)+k > maxAnswer {
			pl.close() // ended (HAProxy exited, reloaded its master, or drop), or too long
			return nil, 0, false
		}
		pl.buf = pl.buf[:len(pl.buf)+k]
	}
	want := pl.ncmds
	if pl.fresh {
		want++
	}
	segs := pl.segments()
	if len(segs) < want+1 {
		total := timeouts(now.Sub(pl.sent), timeout, fast)
		n, pl.credited = total-pl.credited, total
		return nil, n, true
	}
	if len(segs) > want+1 || segs[want] != "" {
		pl.close() // more than was asked: not an answer to this probe
		return nil, 0, false
	}
	blocks = make([]string, 0, pl.ncmds)
	for _, s := range segs[want-pl.ncmds : want] {
		blocks = append(blocks, strings.TrimRight(s, "\n"))
	}
	pl.fresh, pl.sent, pl.credited = false, time.Time{}, 0
	return blocks, 0, true
}

// segments splits what arrived at each prompt that begins a line: the output of one
// command lies between two prompts, and the last segment is empty once the answer is
// complete (it ends with a prompt).
func (pl *pipeline) segments() []string {
	s := string(pl.buf)
	var segs []string
	start := 0
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], pl.prompt)
		if j < 0 {
			break
		}
		j += i
		if j == 0 || s[j-1] == '\n' {
			segs = append(segs, s[start:j])
			start = j + len(pl.prompt)
		}
		i = j + len(pl.prompt)
	}
	return append(segs, s[start:])
}

// timeouts is how many failed checks a probe unanswered for waited stands for: the
// first once it overran timeout, then one more per fast interval, as blocking checks
// would have timed out one after the other by then. So a hung HAProxy is caught as
// early as before: within interval + fall × fast_interval.
func timeouts(waited, timeout, fast time.Duration) int {
	if waited < timeout {
		return 0
	}
	return 1 + int((waited-timeout)/fast)
}

func growBuf(b []byte) []byte {
	if cap(b)-len(b) < 4096 {
		nb := make([]byte, len(b), 2*cap(b)+16<<10)
		copy(nb, b)
		return nb
	}
	return b
}

// rawRead is read(2) on a non-blocking descriptor without telling the scheduler (see
// pipeline).
func rawRead(fd int, b []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// rawSend is send(2) likewise, with MSG_NOSIGNAL: a session HAProxy closed answers EPIPE,
// not a SIGPIPE.
func rawSend(fd int, b []byte) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		unix.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
