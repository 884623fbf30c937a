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
