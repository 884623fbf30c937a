package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/halo-lb/halo/internal/tier"
	"github.com/halo-lb/halo/supervisor"
)

// TestPermissionDenied runs haloctl as nobody (uid 65534): a socket it may not open, and
// a state change it may not make, each give exit 5 and a message naming the socket and
// control.group, never exit 4 ("halod is down" to a monitoring script).
func TestPermissionDenied(t *testing.T) {
	tier.Root(t) // to run haloctl under another uid
	dir, err := os.MkdirTemp("", "haloctl-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// go test's build directory is private to root: run a copy from the shared one.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "haloctl")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	start := func(name, mode string) string {
		sock := filepath.Join(dir, name)
		srv, err := supervisor.NewControlServer(supervisor.ControlConfig{Socket: sock, Mode: mode}, supervisor.HandlerFunc(
			func(ctx context.Context, req supervisor.Request) supervisor.Response {
				return supervisor.Response{OK: true, Status: &supervisor.Status{ConfigValid: true, HAProxy: supervisor.HAProxyStatus{Healthy: true}}}
			}), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { srv.Serve(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return sock
	}
	private, open := start("private.sock", "0600"), start("open.sock", "0666")
	asNobody := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "HALOCTL_TEST_MAIN=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("haloctl %q as nobody: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}
	code, _, errOut := asNobody("-socket", private, "status")
	if code != exitPermission || !strings.Contains(errOut, private) || !strings.Contains(errOut, "control.group") {
		t.Errorf("status on a 0600 socket as nobody: exit %d %q; want %d naming the socket and control.group", code, errOut, exitPermission)
	}
	code, out, _ := asNobody("-socket", private, "--json", "status")
	var obj map[string]any
	if json.Unmarshal([]byte(out), &obj) != nil || code != exitPermission || obj["code"] != float64(exitPermission) || obj["reason"] != "permission_denied" {
		t.Errorf("status --json on a 0600 socket as nobody: exit %d %q", code, out)
	}
	if code, _, _ := asNobody("-socket", open, "status"); code != exitOK {
		t.Errorf("status on a 0666 socket as nobody: exit %d, want 0", code)
	}
	code, _, errOut = asNobody("-socket", open, "resign", "VI_1")
	if code != exitPermission || !strings.Contains(errOut, "control.group") {
		t.Errorf("resign as nobody: exit %d %q; want %d naming control.group", code, errOut, exitPermission)
	}
}
