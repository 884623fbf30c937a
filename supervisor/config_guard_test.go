package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const oneInstance = `vrrp:
  instances:
    - name: VI_1
      interface: eth0
      vrid: 51
      vips: [192.0.2.100/24]
`

// TestEmptyConfigRefused: a truncated write leaves halo.yaml empty; loading it must not
// give a daemon with no instance (which a reload turns into "release every VIP").
func TestEmptyConfigRefused(t *testing.T) {
	for name, data := range map[string]string{
		"empty":        "",
		"blank":        "\n  \n",
		"comment only": "# nothing yet\n",
		"no instance":  "haproxy: {mode: managed}\nvrrp: {instances: []}\n",
		"no vrrp":      "log: {level: info}\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "halo.yaml")
			if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "no VRRP instance") {
				t.Errorf("error %q does not name the file and the missing instances", err)
			}
		})
	}
}

// TestConfigTooLarge: a huge halo.yaml is refused before it is read into memory.
func TestConfigTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "halo.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: 50 MB of size without 50 MB of disk.
	if err := f.Truncate(50 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v, want a size error naming %s", err, path)
	}
	// Just under the limit is read (and then refused for what it says, not its size).
	if err := os.Truncate(path, MaxConfigSize); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v, want a parse error", err)
	}
}

// TestConfigNotRegularFile: a FIFO (or a device) in halo.yaml's place must be refused at
// once: reading it would block the control queue until something writes to it.
func TestConfigNotRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "halo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := LoadConfig(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("got %v, want a not-a-regular-file error", err)
		}
	case <-time.After(10 * time.Second):
		// Unblock the reader so the test ends.
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("LoadConfig blocks on a FIFO")
	}
	if _, err := LoadConfig("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("/dev/zero: got %v", err)
	}
	// A symlink to a regular file is what many deployments use: it still loads.
	real := filepath.Join(dir, "real.yaml")
	if err := os.WriteFile(real, []byte(oneInstance), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(link); err != nil {
		t.Fatal(err)
	}
}

// TestFractionalNumbersRefused: yaml.v3 truncates a float into an int field (0.5 → 0,
// which then reads as "unset, use the default"); a non-integer must be an error instead.
func TestFractionalNumbersRefused(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"priority", oneInstance + "      priority: 0.5\n", "halo.yaml:7: vrrp.instances[0].priority: 0.5 is not an integer"},
		{"vrid", strings.Replace(oneInstance, "vrid: 51", "vrid: 51.9", 1), "halo.yaml:5: vrrp.instances[0].vrid: 51.9 is not an integer"},
		{"rise", oneInstance + "haproxy:\n  check: {rise: 0.9}\n", "halo.yaml:8: haproxy.check.rise: 0.9 is not an integer"},
		{"backend minimum", oneInstance + "haproxy:\n  check:\n    backends: {app: 1.5}\n", "halo.yaml:9: haproxy.check.backends.app: 1.5 is not an integer"},
		{"exponent", oneInstance + "      priority: 1e2\n", "vrrp.instances[0].priority: 1e2 is not an integer"},
		{"weight", oneInstance + "      track_haproxy: {weight: -10.5}\n", "vrrp.instances[0].track_haproxy.weight: -10.5 is not an integer"},
		{"garp repeat", oneInstance + "      garp: {repeat: 2.5}\n", "vrrp.instances[0].garp.repeat: 2.5 is not an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("halo.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	// A number in a string field stays a string.
	if _, err := ParseConfig("halo.yaml", []byte(strings.Replace(oneInstance, "name: VI_1", "name: 1.5", 1))); err != nil {
		t.Fatal(err)
	}
}

// TestNamesRestricted: instance and sync group names end up in hook arguments, logs and
// the status table; a newline or NUL there forges output or breaks hooks.
func TestNamesRestricted(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"newline", strings.Replace(oneInstance, "name: VI_1", `name: "VI_1\nVI_2 MASTER"`, 1), "halo.yaml:3: vrrp.instances[0].name:"},
		{"nul", strings.Replace(oneInstance, "name: VI_1", `name: "VI\x001"`, 1), "vrrp.instances[0].name:"},
		{"space", strings.Replace(oneInstance, "name: VI_1", `name: "VI 1"`, 1), "vrrp.instances[0].name:"},
		{"escape", strings.Replace(oneInstance, "name: VI_1", `name: "VI\e[31m"`, 1), "vrrp.instances[0].name:"},
		{"long", strings.Replace(oneInstance, "name: VI_1", "name: "+strings.Repeat("x", 65), 1), "vrrp.instances[0].name:"},
		{"group", oneInstance + "    - {name: VI_2, interface: eth0, vrid: 52, vips: [192.0.2.101/24]}\n  sync_groups:\n    - {name: \"G\\t1\", instances: [VI_1, VI_2]}\n", "halo.yaml:9: vrrp.sync_groups[0].name:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("halo.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	for _, ok := range []string{"VI_1", "wan-é", strings.Repeat("x", 64)} {
		if _, err := ParseConfig("halo.yaml", []byte(strings.Replace(oneInstance, "name: VI_1", "name: "+ok, 1))); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}
