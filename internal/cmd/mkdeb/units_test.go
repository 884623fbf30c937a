package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// unitValues reads a systemd unit's Key=Value lines (all values of a key, in order).
func unitValues(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if k, val, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			v[k] = append(v[k], val)
		}
	}
	return v
}

// haproxyMaxconn is the global maxconn of an haproxy.cfg.
func haproxyMaxconn(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	global := false
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case l[0] != ' ' && l[0] != '\t':
			global = f[0] == "global"
		case global && f[0] == "maxconn" && len(f) > 1:
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("%s: maxconn %q", path, f[1])
			}
			return n
		}
	}
	t.Fatalf("%s: no global maxconn (HAProxy would derive it from the descriptor limit)", path)
	return 0
}

// TestUnitFitsExample: the managed HAProxy of the shipped haproxy.cfg gets enough
// descriptors under halod.service (HAProxy needs two a connection plus its listeners,
// checks and sockets; it refuses to start otherwise: "Cannot raise FD limit").
func TestUnitFitsExample(t *testing.T) {
	u := unitValues(t, "../../../configs/systemd/halod.service")
	limit, err := strconv.Atoi(u["LimitNOFILE"][0])
	if err != nil {
		t.Fatalf("LimitNOFILE %v", u["LimitNOFILE"])
	}
	maxconn := haproxyMaxconn(t, "../../../configs/haproxy.cfg")
	if need := 2*maxconn + 1000; limit < need {
		t.Errorf("halod.service LimitNOFILE=%d, but configs/haproxy.cfg's maxconn %d needs %d", limit, maxconn, need)
	}
}

// TestUnits: the reload is synchronous and refusable, the cleanup runs only on failure, and
// the external form leaves haproxy.service alone.
func TestUnits(t *testing.T) {
	for _, name := range []string{"halod.service", "halod-external.service"} {
		u := unitValues(t, "../../../configs/systemd/"+name)
		if r := u["ExecReload"]; len(r) != 1 || !strings.Contains(r[0], "haloctl") || !strings.HasSuffix(r[0], " reload") {
			t.Errorf("%s: ExecReload=%v, want haloctl ... reload alone (kill -HUP cannot fail)", name, r)
		}
		if u["OnFailure"] == nil || u["ExecStopPost"] != nil || u["KillMode"][0] != "process" {
			t.Errorf("%s: OnFailure=%v ExecStopPost=%v KillMode=%v", name, u["OnFailure"], u["ExecStopPost"], u["KillMode"])
		}
		if u["CapabilityBoundingSet"] == nil || u["ProtectSystem"][0] != "strict" {
			t.Errorf("%s: not sandboxed", name)
		}
	}
	ext := unitValues(t, "../../../configs/systemd/halod-external.service")
	for _, k := range []string{"Conflicts", "Requires", "BindsTo", "PartOf"} {
		for _, v := range ext[k] {
			if strings.Contains(v, "haproxy.service") {
				t.Errorf("halod-external.service: %s=%s: it must run beside haproxy.service", k, v)
			}
		}
	}
}
