package haproxy

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Check.FastInterval != DefaultCheckTimeout || c.StatsSocket != DefaultStatsSocket || c.MasterSocket != DefaultMasterSocket {
		t.Errorf("defaults: %+v", c)
	}
	// External with only a master socket: no stats socket default, checks go through @1.
	ext := Config{Mode: External, MasterSocket: "/run/hap/master.sock"}
	ext.ApplyDefaults()
	if ext.StatsSocket != "" {
		t.Errorf("external master-only got stats socket %q", ext.StatsSocket)
	}
	if p := newCheckPlan(ext.Check, ext.StatsSocket == ""); !strings.HasPrefix(p.cmd, "@1 show info") {
		t.Errorf("master-only plan %q", p.cmd)
	}
	bad := Config{Check: CheckConfig{Interval: 200 * time.Millisecond, Timeout: 100 * time.Millisecond, FastInterval: 50 * time.Millisecond}}
	bad.ApplyDefaults()
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "check.fast_interval: 50ms not between check.timeout 100ms and check.interval 200ms") {
		t.Errorf("Validate = %v", err)
	}
}

func TestNewStartsNothing(t *testing.T) {
	dir := t.TempDir()
	m, err := New(Config{Binary: "/nonexistent/haproxy", MasterSocket: dir + "/m.sock", StatsSocket: dir + "/s.sock"}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Snapshot(); s.Running || s.PID != 0 || s.Healthy || s.Mode != Managed {
		t.Errorf("snapshot of a new Manager: %+v", s)
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New accepted a nil logger")
	}
	if _, err := New(Config{Mode: "sideways"}, discardLogger()); err == nil {
		t.Error("New accepted an unknown mode")
	}
	// A managed Run without a binary fails at once instead of restarting for ever.
	if err := m.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "/nonexistent/haproxy") {
		t.Errorf("Run = %v", err)
	}
}
