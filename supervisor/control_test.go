package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/tier"
)

func startServer(t *testing.T, h Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "halo.sock")
	srv, err := NewControlServer(ControlConfig{Socket: sock, Mode: "0600"}, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return sock
}

func TestControlRoundTrip(t *testing.T) {
	sock := startServer(t, HandlerFunc(func(ctx context.Context, req Request) Response {
		if req.Cmd == "resign" {
			return Response{OK: true, Message: "resigned " + req.Args[0]}
		}
		return Response{OK: true, Status: &Status{Version: "v1"}}
	}))
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	resp, err := Call(t.Context(), sock, Request{Cmd: "status"})
	if err != nil || !resp.OK || resp.Status.Version != "v1" {
		t.Fatalf("status: %+v %v", resp, err)
	}
	// We run the tests as whoever we are: root may change state; others are refused.
	resp, err = Call(t.Context(), sock, Request{Cmd: "resign", Args: []string{"VI_1"}})
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && (!resp.OK || resp.Message != "resigned VI_1") {
		t.Errorf("root resign: %+v", resp)
	}
	if os.Geteuid() != 0 && (resp.OK || !strings.Contains(resp.Error, "permission denied")) {
		t.Errorf("non-root resign: %+v", resp)
	}
}

func TestControlPermission(t *testing.T) {
	s := &ControlServer{gid: -1}
	if s.mayChange(1000, 1000, nil) {
		t.Error("a non-root peer without a control group may change state")
	}
	if !s.mayChange(0, 0, nil) {
		t.Error("root may not change state")
	}
	if s.mayChange(0, 0, errors.New("no creds")) {
		t.Error("a peer whose credentials are unknown may change state")
	}
	s.gid = 4242
	if !s.mayChange(1000, 4242, nil) {
		t.Error("a peer whose primary group is the control group may not change state")
	}
}

// TestControlMalformed sends garbage, an over-long line and a request whose handler
// panics; each gets an error answer and the server keeps serving.
func TestControlMalformed(t *testing.T) {
	sock := startServer(t, HandlerFunc(func(ctx context.Context, req Request) Response {
		if req.Cmd == "boom" {
			panic("handler bug")
		}
		return Response{OK: true, Message: "pong"}
	}))
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	for _, tc := range []struct{ send, want string }{
		{"not json\n", "malformed request"},
		{`{"cmd":"boom"}` + "\n", "internal error"},
		{`{"cmd":"status"}` + "\n", `"message":"pong"`},
	} {
		if _, err := io.WriteString(c, tc.send); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", tc.send, err)
		}
		if !strings.Contains(line, tc.want) {
			t.Errorf("sent %q, got %q, want %q", tc.send, line, tc.want)
		}
	}
	// An endless line: answered with an error, connection dropped, server still serving.
	c2, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	go func() { c2.Write([]byte(strings.Repeat("x", maxRequest+10))) }()
	line, _ := bufio.NewReader(c2).ReadString('\n')
	if !strings.Contains(line, "too long") {
		t.Errorf("over-long request answered %q", line)
	}
	resp, err := Call(t.Context(), sock, Request{Cmd: "status"})
	if err != nil || resp.Message != "pong" {
		t.Fatalf("server no longer serving: %+v %v", resp, err)
	}
}

func TestCallUnreachable(t *testing.T) {
	_, err := Call(t.Context(), filepath.Join(t.TempDir(), "none.sock"), Request{Cmd: "status"})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
}

func TestSecondServerRefused(t *testing.T) {
	sock := startServer(t, HandlerFunc(func(ctx context.Context, req Request) Response { return Response{OK: true} }))
	_, err := NewControlServer(ControlConfig{Socket: sock, Mode: "0600"}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "another halod") {
		t.Fatalf("got %v", err)
	}
}

func TestStatusTable(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	st := Status{
		ConfigValid: true,
		HAProxy:     HAProxyStatus{Mode: "managed", PID: 42, Running: true, Healthy: true, StartedAt: now.Add(-90 * time.Minute)},
		Instances: []InstanceStatus{{Name: "VI_1", Interface: "eth0", VRID: 51, State: "MASTER", Since: now.Add(-time.Minute),
			Priority: 101, EffectivePriority: 101, VIPs: []string{"192.0.2.100/24"}, HoldsVIPs: true}},
	}
	var b strings.Builder
	st.WriteTable(&b, now)
	for _, want := range []string{"haproxy  HEALTHY  managed, pid 42, uptime 1:30:00", "VI_1     MASTER   eth0 vrid 51, since 0:01:00, prio 101/101, holds 192.0.2.100/24"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("want %q in:\n%s", want, b.String())
		}
	}
	if !st.Healthy() {
		t.Error("healthy status judged unhealthy")
	}
	st.Instances[0].State = "FAULT"
	if st.Healthy() {
		t.Error("FAULT judged healthy")
	}
}

// TestControlPeerCredentials connects as an unprivileged user (the test binary re-run
// under uid 65534): it may read the status but not change state.
func TestControlPeerCredentials(t *testing.T) {
	tier.Root(t) // to run the client under another uid
	dir, err := os.MkdirTemp("", "halo-cred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // the unprivileged client must reach the socket
	sock := filepath.Join(dir, "halo.sock")
	srv, err := NewControlServer(ControlConfig{Socket: sock, Mode: "0666"}, HandlerFunc(func(ctx context.Context, req Request) Response {
		return Response{OK: true, Message: "done " + req.Cmd}
	}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	// go test's build directory is private to root: run a copy from the shared one.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"status", `"ok":true`},
		{"resign", "permission denied"},
		{"maintenance", "permission denied"},
	} {
		cmd := exec.Command(bin, "-test.run=TestHelperControlClient")
		cmd.Env = append(os.Environ(), "HALO_HELPER_SOCKET="+sock, "HALO_HELPER_CMD="+tc.cmd)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s as nobody: %v\n%s", tc.cmd, err, out)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s as nobody answered %s, want %q", tc.cmd, out, tc.want)
		}
	}
}

// TestHelperControlClient is not a test: TestControlPeerCredentials runs it as another user.
func TestHelperControlClient(t *testing.T) {
	sock := os.Getenv("HALO_HELPER_SOCKET")
	if sock == "" {
		t.Skip("helper process only")
	}
	resp, err := Call(context.Background(), sock, Request{Cmd: os.Getenv("HALO_HELPER_CMD"), Args: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp)
	fmt.Println(string(b))
}
