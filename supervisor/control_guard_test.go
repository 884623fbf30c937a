package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
)

// TestHalfClosedClientAnswered: a client that shuts down its writing half after its
// request (nc, socat) has not gone away: it still gets its answer.
func TestHalfClosedClientAnswered(t *testing.T) {
	sock := startServer(t, HandlerFunc(func(ctx context.Context, req Request) Response {
		if ctx.Err() != nil {
			return Response{Error: "cancelled"}
		}
		return Response{OK: true, Message: "done"}
	}))
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(`{"cmd":"reload"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil || !resp.OK {
		t.Fatalf("answer to a half-closed client: %+v %v", resp, err)
	}
}

// TestValidateRateLimitedPerUID: every validate runs `haproxy -c`; ten looping clients of
// one user took root's commands from 12 to 665 ms. One at a time per user, and not more
// often than validateInterval, the rest answered "busy".
func TestValidateRateLimitedPerUID(t *testing.T) {
	entered, gate := make(chan struct{}, 8), make(chan struct{})
	sock := startServer(t, HandlerFunc(func(ctx context.Context, req Request) Response {
		if req.Cmd == "validate" {
			entered <- struct{}{}
			select {
			case <-gate:
			case <-ctx.Done():
			}
		}
		return Response{OK: true}
	}))
	first := make(chan Response, 1)
	go func() {
		resp, _ := Call(context.Background(), sock, Request{Cmd: "validate"})
		first <- resp
	}()
	<-entered
	resp, err := callWithin(t, sock, Request{Cmd: "validate"})
	if err != nil || resp.OK || !strings.Contains(resp.Error, "busy") {
		t.Fatalf("second validate while one runs: %+v %v", resp, err)
	}
	if resp, err := callWithin(t, sock, Request{Cmd: "status"}); err != nil || !resp.OK {
		t.Fatalf("status while a validate runs: %+v %v", resp, err)
	}
	close(gate)
	if resp := <-first; !resp.OK {
		t.Fatalf("first validate: %+v", resp)
	}
	resp, err = callWithin(t, sock, Request{Cmd: "validate"})
	if err != nil || resp.OK || !strings.Contains(resp.Error, "try again") {
		t.Fatalf("validate right after another: %+v %v", resp, err)
	}
	poll.Until(t, 5*validateInterval, "validate to be served again", func() error {
		resp, err := callWithin(t, sock, Request{Cmd: "validate"})
		if err != nil {
			return err
		}
		if !resp.OK {
			return errors.New(resp.Error)
		}
		return nil
	})
	if n := len(entered); n != 1 {
		t.Errorf("%d validates ran, want 1 (and the first)", n+1)
	}
}

// callWithin is Call with a deadline, so that a test of something that must not block
// fails instead of hanging.
func callWithin(t *testing.T, sock string, req Request) (Response, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return Call(ctx, sock, req)
}

// TestAcceptErrorsBackOff: running out of file descriptors made accept fail with EMFILE,
// which ended Serve and with it halod. A failing accept is retried with a backoff.
func TestAcceptErrorsBackOff(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "halo.sock")
	srv, err := NewControlServer(ControlConfig{Socket: sock, Mode: "0600"}, HandlerFunc(func(ctx context.Context, req Request) Response {
		return Response{OK: true}
	}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var failures atomic.Int32
	srv.accept = func() (*net.UnixConn, error) {
		if failures.Add(1) <= 4 {
			return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
		}
		return srv.ln.AcceptUnix()
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	resp, err := callWithin(t, sock, Request{Cmd: "status"})
	select {
	case err := <-done:
		t.Fatalf("Serve ended on EMFILE: %v", err)
	default:
	}
	if err != nil || !resp.OK {
		t.Fatalf("status after EMFILE: %+v %v", resp, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestControlSocketRefusesRegularFile: control.socket pointing at an existing regular
// file deleted it; only a stale socket may be removed.
func TestControlSocketRefusesRegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "halo.yaml")
	if err := os.WriteFile(path, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := NewControlServer(ControlConfig{Socket: path, Mode: "0600"}, HandlerFunc(nil), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		srv.Close()
		t.Fatal("a control socket replaced a regular file")
	}
	if !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("error %q does not say why", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "precious\n" {
		t.Fatalf("the file is gone or changed: %q %v", b, err)
	}
}

// TestControlSocketModeFromTheStart: the socket was created with the umask's mode (0755
// under umask 022) and only then tightened, so for a moment anyone could connect. At no
// time may the socket path exist with a wider mode than control.mode.
func TestControlSocketModeFromTheStart(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "halo.sock")
	var seen []string
	listened := func() {
		if fi, err := os.Lstat(sock); err == nil {
			seen = append(seen, fi.Mode().String())
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("socket at %s with mode %s before it was tightened", sock, fi.Mode())
			}
		}
	}
	srv, err := newControlServer(ControlConfig{Socket: sock, Mode: "0600"}, HandlerFunc(nil), slog.New(slog.NewTextHandler(io.Discard, nil)), listened)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket: %v %v", fi.Mode(), err)
	}
	srv.Close()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind after Close: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(sock)); len(entries) != 0 {
		t.Errorf("left in the socket's directory: %v", entries)
	}
}
