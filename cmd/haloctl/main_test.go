package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/halo-lb/halo/supervisor"
)

func serve(t *testing.T, h supervisor.HandlerFunc) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "halo.sock")
	srv, err := supervisor.NewControlServer(supervisor.ControlConfig{Socket: sock, Mode: "0600"}, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return sock
}

func TestExitCodes(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	sock := serve(t, func(ctx context.Context, req supervisor.Request) supervisor.Response {
		switch req.Cmd {
		case "status":
			st := &supervisor.Status{ConfigValid: true, HAProxy: supervisor.HAProxyStatus{Mode: "managed", Healthy: healthy.Load()},
				Instances: []supervisor.InstanceStatus{{Name: "VI_1", State: "MASTER"}}}
			return supervisor.Response{OK: true, Status: st}
		case "resign":
			return supervisor.Response{Error: "VI_1 is not MASTER here"}
		}
		return supervisor.Response{OK: true, Message: "done"}
	})
	run1 := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"-socket", sock}, args...), &out, &errb, noEnv)
		return code, out.String(), errb.String()
	}
	if code, out, _ := run1("status"); code != 0 || !strings.Contains(out, "VI_1") {
		t.Errorf("healthy status: exit %d, %q", code, out)
	}
	code, out, _ := run1("status", "--json")
	var st supervisor.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Instances[0].State != "MASTER" {
		t.Errorf("status --json: exit %d, %q", code, out)
	}
	healthy.Store(false)
	if code, _, _ := run1("status"); code != exitUnhealthy {
		t.Errorf("unhealthy status: exit %d, want %d", code, exitUnhealthy)
	}
	if code, _, errOut := run1("resign", "VI_1"); code != exitFailed || !strings.Contains(errOut, "not MASTER") {
		t.Errorf("refused resign: exit %d, %q", code, errOut)
	}
	if code, out, _ := run1("maintenance", "on"); code != 0 || !strings.Contains(out, "done") {
		t.Errorf("maintenance on: exit %d, %q", code, out)
	}
	for _, bad := range [][]string{{}, {"maintenance"}, {"maintenance", "maybe"}, {"resign"}, {"frobnicate"}, {"status", "extra"}} {
		if code, _, _ := run1(bad...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", bad, code, exitUsage)
		}
	}
	var out2, errb bytes.Buffer
	if code := run(context.Background(), []string{"-socket", filepath.Join(t.TempDir(), "none.sock"), "status"}, &out2, &errb, noEnv); code != exitUnreachable {
		t.Errorf("no daemon: exit %d, want %d (%s)", code, exitUnreachable, errb.String())
	}
}
