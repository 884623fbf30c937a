package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The control protocol is JSON lines over a unix socket: one Request per line, answered by
// one Response line, as many as the client wants on one connection.

// Request is one control command.
type Request struct {
	// Cmd is status, reload, validate, maintenance, resign, resume or version.
	Cmd string `json:"cmd"`
	// Args are the command's arguments ("on"/"off" for maintenance, the instance for resign
	// and resume).
	Args []string `json:"args,omitempty"`
	// Since makes a status request a long poll: it is answered once the snapshot's
	// Generation differs from Since (or after at most 25 s, unchanged). Zero: at once.
	Since uint64 `json:"since,omitempty"`
}

// ErrAnotherHalod: a live halod answers on the control socket; this one must not start,
// nor touch that one's VIPs.
var ErrAnotherHalod = errors.New("another halod is answering on it")

// Response answers one Request.
type Response struct {
	OK bool `json:"ok"`
	// Error says why the request was refused or failed, when OK is false.
	Error string `json:"error,omitempty"`
	// Reason classifies a refusal for scripts: "permission_denied" when the peer may not
	// run the command; empty otherwise.
	Reason string `json:"reason,omitempty"`
	// Message is one line for a person.
	Message string `json:"message,omitempty"`
	// Status is set for status requests.
	Status *Status `json:"status,omitempty"`
	// Version is set for version requests.
	Version string `json:"version,omitempty"`
}

// Handler executes control requests; the server has already refused state-changing
// commands to peers without the right.
type Handler interface {
	Handle(ctx context.Context, req Request) Response
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req Request) Response

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, req Request) Response { return f(ctx, req) }

// readOnly are the commands anyone who can open the socket may run.
var readOnly = map[string]bool{"status": true, "version": true, "validate": true}

// maxRequest bounds one request line, so a client cannot make the daemon buffer without end.
const maxRequest = 64 << 10

// ControlServer serves the control socket.
type ControlServer struct {
	cfg     ControlConfig
	handler Handler
	log     *slog.Logger
	gid     int // -1: no group may change state, only root
	ln      *net.UnixListener
	accept  func() (*net.UnixConn, error) // ln.AcceptUnix; tests fail it
	wg      sync.WaitGroup

	sockFile os.FileInfo // the socket file as created, so Close removes only that one
	unlink   sync.Once

	validates validateLimiter
}

// NewControlServer opens the control socket: it creates its directory, removes a stale
// socket file (never anything else), and creates the socket with its mode and group
// already set. It serves nothing until Serve.
func NewControlServer(cfg ControlConfig, h Handler, log *slog.Logger) (*ControlServer, error) {
	return newControlServer(cfg, h, log, nil)
}

// newControlServer is NewControlServer; listened, when set, is called once the listening
// socket exists, before it is put in place (tests look at the path then).
func newControlServer(cfg ControlConfig, h Handler, log *slog.Logger, listened func()) (*ControlServer, error) {
	s := &ControlServer{cfg: cfg, handler: h, log: log, gid: -1}
	if cfg.Group != "" {
		g, err := user.LookupGroup(cfg.Group)
		if err != nil {
			return nil, fmt.Errorf("control.group: %w", err)
		}
		s.gid, _ = strconv.Atoi(g.Gid)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Socket), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// A socket file left by a crashed run would make Listen fail; one that still answers
	// belongs to a live daemon and must not be stolen.
	if c, err := net.DialTimeout("unix", cfg.Socket, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: %w", cfg.Socket, ErrAnotherHalod)
	}
	if err := removeStaleSocket(cfg.Socket); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln, fi, err := listenPrivate(cfg.Socket, cfg.ControlMode(), s.gid, listened)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s.sockFile = fi
	s.ln, s.accept = ln, ln.AcceptUnix
	return s, nil
}

// Serve answers connections until ctx ends, then closes the socket and waits for the
// connections it is serving.
func (s *ControlServer) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	defer s.wg.Wait()
	var delay time.Duration
	for {
		c, err := s.accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("control socket: %w", err)
			}
			// Out of file descriptors (EMFILE, ENFILE) or memory: wait and try again, as
			// net/http's Server does. Ending Serve here ended halod, and with it the VIP.
			delay = min(max(2*delay, acceptDelayMin), acceptDelayMax)
			s.log.Error("control socket: accept failed, retrying", "err", err, "retry_in", delay)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

// The backoff of a failing accept: 5 ms doubling to 1 s, as net/http's Server.
const (
	acceptDelayMin = 5 * time.Millisecond
	acceptDelayMax = time.Second
)

// Close closes the socket; Serve does it itself when its ctx ends.
func (s *ControlServer) Close() error {
	err := s.ln.Close()
	s.unlink.Do(func() { removeOwnSocket(s.cfg.Socket, s.sockFile) })
	return err
}

// idleTimeout drops a connection that sends nothing for this long: haloctl sends its
// request at once, and a forgotten client must not hold a goroutine for ever.
const idleTimeout = 5 * time.Minute

// ErrClientGone is the cause (context.Cause) of a request's context when its client hung
// up: a request it left behind is never executed.
var ErrClientGone = errors.New("the client went away")

// line is one request line read from a connection, or the error that ended the reading.
type line struct {
	b   []byte
	err error
}

// serveConn answers the requests of one connection in order. A reader of its own keeps
// reading while a request is served, as net/http's background read does: the client's
// hangup (haloctl's -timeout) cancels the request's context at once, so a request still
// queued behind a slow reload is dropped instead of running after the client gave up.
func (s *ControlServer) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	uid, gid, credErr := peerCred(c)
	lines := make(chan line)
	var reader sync.WaitGroup
	reader.Go(func() { readLines(ctx, cancel, c, lines) })
	defer reader.Wait()
	enc := json.NewEncoder(c)
	for {
		var in line
		select {
		case <-ctx.Done():
			return
		case l, ok := <-lines:
			if !ok {
				return
			}
			in = l
		}
		if in.err != nil {
			// A line longer than maxRequest: say so once, then drop the connection.
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_ = enc.Encode(Response{Error: fmt.Sprintf("request too long or unreadable: %v", in.err)})
			return
		}
		var req Request
		var resp Response
		if err := json.Unmarshal(in.b, &req); err != nil {
			resp = Response{Error: fmt.Sprintf("malformed request: %v (want one JSON object per line, e.g. {\"cmd\":\"status\"})", err)}
		} else if !readOnly[req.Cmd] && !s.mayChange(uid, gid, credErr) {
			resp = Response{Reason: ReasonPermissionDenied, Error: s.deniedMessage(req.Cmd)}
			s.log.Warn("control request refused", "cmd", req.Cmd, "uid", uid)
		} else if req.Cmd == "validate" {
			resp = s.validate(ctx, uid, credErr, req)
		} else {
			resp = s.handle(ctx, req)
		}
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}

// readLines reads request lines from c into lines until the client hangs up, goes idle
// or sends a line too long; a hangup or an idle client cancels ctx with ErrClientGone.
// A client that pipelines several requests and hangs up is only noticed once the line
// before the hangup was taken.
func readLines(ctx context.Context, cancel context.CancelCauseFunc, c *net.UnixConn, lines chan<- line) {
	defer close(lines)
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), maxRequest)
	for {
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		if !sc.Scan() {
			break
		}
		select {
		case lines <- line{b: bytes.Clone(sc.Bytes())}:
		case <-ctx.Done():
			return
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		select {
		case lines <- line{err: err}:
		case <-ctx.Done():
		}
		return
	}
	// End of input is a hangup only when the peer closed both directions: a client that
	// shut down its writing half (nc, socat) still waits for its answers.
	if err := sc.Err(); err != nil || peerHungUp(c) {
		cancel(ErrClientGone)
	}
}

// peerHungUp reports whether the peer closed the connection (POLLHUP), as opposed to
// having only shut down its writing half.
func peerHungUp(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return true
	}
	hup := true
	_ = raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
		if n, err := unix.Poll(fds, 0); err == nil && n == 1 {
			hup = fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
		}
	})
	return hup
}

// validate runs a validate request within the peer's share (validateLimiter).
func (s *ControlServer) validate(ctx context.Context, uid uint32, credErr error, req Request) Response {
	if credErr != nil {
		uid = unknownUID
	}
	if why := s.validates.start(uid, time.Now()); why != "" {
		return Response{Error: why}
	}
	defer s.validates.done(uid)
	return s.handle(ctx, req)
}

// handle runs one request, turning a panic in a handler into an error answer: a bad
// request must never stop the daemon.
func (s *ControlServer) handle(ctx context.Context, req Request) (resp Response) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("control handler panicked", "cmd", req.Cmd, "panic", r)
			resp = Response{Error: fmt.Sprintf("internal error handling %q", req.Cmd)}
		}
	}()
	return s.handler.Handle(ctx, req)
}

// ReasonPermissionDenied is Response.Reason when the peer may not run the command.
const ReasonPermissionDenied = "permission_denied"

// deniedMessage says why cmd was refused and how to be allowed, naming halo.yaml's keys.
func (s *ControlServer) deniedMessage(cmd string) string {
	group := "control.group is not set in halo.yaml, so only root may"
	if s.cfg.Group != "" {
		group = fmt.Sprintf("only root or members of control.group %q (halo.yaml) may", s.cfg.Group)
	}
	return fmt.Sprintf("permission denied: %q changes state; %s run it", cmd, group)
}

func (s *ControlServer) mayChange(uid, gid uint32, credErr error) bool {
	if credErr != nil {
		return false
	}
	if uid == 0 {
		return true
	}
	if s.gid < 0 {
		return false
	}
	if int(gid) == s.gid {
		return true
	}
	u, err := user.LookupId(strconv.Itoa(int(uid)))
	if err != nil {
		return false
	}
	groups, err := u.GroupIds()
	if err != nil {
		return false
	}
	for _, g := range groups {
		if g == strconv.Itoa(s.gid) {
			return true
		}
	}
	return false
}

// peerCred reads the connecting process's credentials (SO_PEERCRED).
func peerCred(c *net.UnixConn) (uid, gid uint32, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, 0, err
	}
	if serr != nil {
		return 0, 0, serr
	}
	return cred.Uid, cred.Gid, nil
}

// ErrUnreachable wraps failures to reach the daemon at all, so that haloctl can give them
// their own exit code.
var ErrUnreachable = errors.New("halod not reachable")
