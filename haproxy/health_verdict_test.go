package haproxy

import (
	"testing"
	"time"
)

// TestHealthPublishesTheLatestVerdict: every flip of the rise/fall verdict closes the
// channel a reader waits on, and a reader that looks late sees the newest verdict only.
func TestHealthPublishesTheLatestVerdict(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Config{Binary: "/nonexistent/haproxy", MasterSocket: dir + "/m.sock", StatsSocket: dir + "/s.sock",
		Check: CheckConfig{Rise: 1, Fall: 1}}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	v, changed := m.Health()
	if v.Healthy || v.Reason != "not checked yet" {
		t.Fatalf("before any check: %+v", v)
	}
	ok := CheckResult{At: time.Now(), Kind: KindOK}
	bad := CheckResult{At: time.Now(), Kind: KindTimeout, Reason: "stats socket: timeout after 100ms"}
	m.record(ok)
	select {
	case <-changed:
	default:
		t.Fatal("a flip to healthy did not close the change channel")
	}
	v, changed = m.Health()
	if !v.Healthy {
		t.Fatalf("after a passing check: %+v", v)
	}
	m.record(ok) // no flip: no wake-up
	select {
	case <-changed:
		t.Fatal("a check that changed nothing woke the readers")
	default:
	}
	for i := range 10001 {
		if i%2 == 0 {
			m.record(bad)
		} else {
			m.record(ok)
		}
	}
	<-changed
	if v, _ = m.Health(); v.Healthy || v.Reason != bad.Reason {
		t.Fatalf("after the flaps, ending on a failed check: %+v", v)
	}
}

// TestBackendSeverity: a backend under its minimum leaves HAProxy serving (degraded) by
// default, and counts as failed when backend_severity says so; a hung HAProxy is failed
// either way.
func TestBackendSeverity(t *testing.T) {
	for _, tc := range []struct {
		severity CheckSeverity
		kind     CheckKind
		serving  bool
	}{
		{"", KindBackend, true},
		{SeverityDegraded, KindBackend, true},
		{SeverityFailed, KindBackend, false},
		{SeverityDegraded, KindTimeout, false},
		{SeverityDegraded, KindFrontend, false},
	} {
		dir := t.TempDir()
		m, err := New(Config{Binary: "/nonexistent/haproxy", MasterSocket: dir + "/m.sock", StatsSocket: dir + "/s.sock",
			Check: CheckConfig{Rise: 1, Fall: 2, BackendSeverity: tc.severity}}, discardLogger())
		if err != nil {
			t.Fatal(err)
		}
		m.record(CheckResult{At: time.Now(), Kind: KindOK})
		for range 2 {
			m.record(CheckResult{At: time.Now(), Kind: tc.kind, Reason: "backend app: 0/2 servers UP"})
		}
		v, _ := m.Health()
		if v.Healthy || v.Serving != tc.serving {
			t.Errorf("%q %s: verdict %+v, want serving %v", tc.severity, tc.kind, v, tc.serving)
		}
		if s := m.Snapshot(); s.Degraded != tc.serving {
			t.Errorf("%q %s: status degraded %v, want %v", tc.severity, tc.kind, s.Degraded, tc.serving)
		}
	}
}

// TestReloadInFlightIsNoFailure: while a reload runs, and a moment after, the old
// worker's paused frontends and its stopping are not failures; a hung HAProxy still is.
func TestReloadInFlightIsNoFailure(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Config{Binary: "/nonexistent/haproxy", MasterSocket: dir + "/m.sock", StatsSocket: dir + "/s.sock",
		Check: CheckConfig{Rise: 1, Fall: 1}}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	m.record(CheckResult{At: time.Now(), Kind: KindOK})
	m.mu.Lock()
	m.reloads = 1
	m.mu.Unlock()
	for _, k := range []CheckKind{KindFrontend, KindStopping} {
		m.record(CheckResult{At: time.Now(), Kind: k, Reason: "frontend main: PAUSED, not OPEN"})
		if v, _ := m.Health(); !v.Healthy {
			t.Fatalf("a %s check during a reload made HAProxy unhealthy", k)
		}
	}
	m.record(CheckResult{At: time.Now(), Kind: KindTimeout, Reason: "stats socket: timeout"})
	if v, _ := m.Health(); v.Healthy {
		t.Fatal("a hung HAProxy during a reload stayed healthy")
	}
	m.record(CheckResult{At: time.Now(), Kind: KindOK})
	m.mu.Lock()
	m.reloads, m.reloadSettled = 0, time.Now().Add(-time.Millisecond)
	m.mu.Unlock()
	m.record(CheckResult{At: time.Now(), Kind: KindFrontend, Reason: "frontend main: PAUSED, not OPEN"})
	if v, _ := m.Health(); v.Healthy {
		t.Fatal("a paused frontend with no reload in flight stayed healthy")
	}
}
