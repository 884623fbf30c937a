package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/halo-lb/halo/supervisor"
)

func noEnv(string) string { return "" }

const validYAML = `vrrp:
  instances:
    - {name: VI_1, interface: eth0, vrid: 51, priority: 100, vips: [192.0.2.100/24]}
`

// haloctl runs haloctl's run with args and the environment env.
func haloctl(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

// TestHelp: help, -h and help COMMAND exit 0 and print the table's every command and
// every exit code; an unknown command is a usage error.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}} {
		code, out, _ := haloctl(t, nil, args...)
		if code != exitOK {
			t.Errorf("%q: exit %d, want 0", args, code)
		}
		for _, c := range commands() {
			if !c.hidden && !strings.Contains(out, "  "+strings.TrimPrefix(usageLine(c), "haloctl ")) {
				t.Errorf("%q does not list %q:\n%s", args, usageLine(c), out)
			}
			if c.hidden && strings.Contains(out, c.name) {
				t.Errorf("%q lists the hidden %q", args, c.name)
			}
		}
		for _, x := range exitCodes {
			if !strings.Contains(out, fmt.Sprintf("  %d  ", x.code)) {
				t.Errorf("%q does not document exit code %d", args, x.code)
			}
		}
		if !strings.Contains(out, "control.group") || !strings.Contains(out, "HALO_SOCKET") {
			t.Errorf("%q does not mention control.group and HALO_SOCKET", args)
		}
	}
	for _, args := range [][]string{{"help", "resign"}, {"resign", "-h"}, {"-h", "resign"}, {"help", "watch"}} {
		code, out, _ := haloctl(t, nil, args...)
		want := "usage: haloctl " + args[len(args)-1]
		if args[0] == "resign" {
			want = "usage: haloctl resign INSTANCE"
		}
		if args[0] == "-h" {
			want = "commands:" // flags stop at -h: the whole help
		}
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("%q: exit %d, want 0 and %q in:\n%s", args, code, want, out)
		}
	}
	if code, _, out := haloctl(t, nil, "help", "frobnicate"); code != exitUsage || !strings.Contains(out, "frobnicate") {
		t.Errorf("help frobnicate: exit %d %q", code, out)
	}
	if code, _, _ := haloctl(t, nil, "help", "__instances"); code != exitUsage {
		t.Errorf("help of a hidden command: exit %d", code)
	}
}

// TestJSONAlwaysOneObject: with --json, stdout holds exactly one JSON object whatever
// happens: halod absent, a usage error, a refusal, a permission refusal.
func TestJSONAlwaysOneObject(t *testing.T) {
	sock := serve(t, func(ctx context.Context, req supervisor.Request) supervisor.Response {
		switch req.Cmd {
		case "resign":
			return supervisor.Response{Error: "VI_1 is not MASTER here"}
		case "maintenance":
			return supervisor.Response{Error: "permission denied: ...", Reason: supervisor.ReasonPermissionDenied}
		}
		return supervisor.Response{OK: true, Message: "done", Version: "v9"}
	})
	none := filepath.Join(t.TempDir(), "none.sock")
	for _, tc := range []struct {
		args   []string
		code   int
		reason string
	}{
		{[]string{"-socket", none, "status", "--json"}, exitUnreachable, "unreachable"},
		{[]string{"-socket", none, "--json", "reload"}, exitUnreachable, "unreachable"},
		{[]string{"-socket", none, "--json", "version"}, exitUnreachable, "unreachable"},
		{[]string{"-socket", none, "--json", "watch"}, exitUnreachable, "unreachable"},
		{[]string{"--json", "frobnicate"}, exitUsage, "usage"},
		{[]string{"--json", "maintenance", "maybe"}, exitUsage, "usage"},
		{[]string{"--json", "-bogus", "status"}, exitUsage, "usage"},
		{[]string{"--json"}, exitUsage, "usage"},
		{[]string{"-socket", sock, "--json", "resign", "VI_1"}, exitFailed, "failed"},
		{[]string{"-socket", sock, "--json", "maintenance", "on"}, exitPermission, "permission_denied"},
		{[]string{"-socket", sock, "--json", "reload"}, exitOK, ""},
		{[]string{"-socket", sock, "--json", "version"}, exitOK, ""},
	} {
		code, out, errOut := haloctl(t, nil, tc.args...)
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(out))
		if err := dec.Decode(&obj); err != nil || dec.More() {
			t.Errorf("%q: stdout is not one JSON object (%v): %q (stderr %q)", tc.args, err, out, errOut)
			continue
		}
		if code != tc.code || obj["code"] != float64(tc.code) || obj["ok"] != (tc.code == exitOK) {
			t.Errorf("%q: exit %d, object %v; want exit and code %d", tc.args, code, obj, tc.code)
		}
		if tc.code != exitOK && (obj["reason"] != tc.reason || obj["error"] == "") {
			t.Errorf("%q: object %v, want reason %q and an error", tc.args, obj, tc.reason)
		}
	}
}

// TestSocketPrecedence: -socket, then HALO_SOCKET, then -config's control.socket, then
// the default.
func TestSocketPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "halo.yaml")
	if err := os.WriteFile(cfg, []byte(validYAML+"control: {socket: /run/from-config.sock}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(validYAML+"control: {sockett: /x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HALO_SOCKET": "/run/from-env.sock"}
	for _, tc := range []struct {
		name    string
		flag    string
		flagSet bool
		env     map[string]string
		config  string
		want    string
		wantErr string
	}{
		{"flag beats all", "/run/from-flag.sock", true, env, cfg, "/run/from-flag.sock", ""},
		{"env beats config", "", false, env, cfg, "/run/from-env.sock", ""},
		{"config", "", false, nil, cfg, "/run/from-config.sock", ""},
		{"default", "", false, nil, "", supervisor.DefaultControlSocket, ""},
		{"bad config named", "", false, nil, bad, "", "sockett"},
		{"missing config named", "", false, nil, filepath.Join(dir, "none.yaml"), "", "none.yaml"},
	} {
		got, err := resolveSocket(tc.flag, tc.flagSet, func(k string) string { return tc.env[k] }, tc.config)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want one naming %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got.path != tc.want {
			t.Errorf("%s: %s %v, want %s", tc.name, got, err, tc.want)
		}
	}
	// End to end: the error names the socket and where its path came from, and a bad
	// -config is a usage error.
	code, _, errOut := haloctl(t, map[string]string{"HALO_SOCKET": filepath.Join(dir, "x.sock")}, "status")
	if code != exitUnreachable || !strings.Contains(errOut, "x.sock") || !strings.Contains(errOut, "HALO_SOCKET") {
		t.Errorf("status via HALO_SOCKET: exit %d %q", code, errOut)
	}
	if code, _, errOut := haloctl(t, nil, "-config", bad, "status"); code != exitUsage || !strings.Contains(errOut, bad) {
		t.Errorf("status with a bad -config: exit %d %q", code, errOut)
	}
	if code, _, _ := haloctl(t, nil, "-config", bad, "help"); code != exitOK {
		t.Errorf("help with a bad -config: exit %d", code)
	}
}
