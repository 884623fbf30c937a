package main

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/halo-lb/halo/internal/netlab"
)

// TestCleanupRemovesVIPs: `halod cleanup` takes the VIPs a dead halod left off the
// interface (tier 3: a namespace of its own).
func TestCleanupRemovesVIPs(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Nodes: 1})
	n := lab.Nodes[0]
	dir, bin := buildHalod(t)
	cfg := filepath.Join(dir, "halo.yaml")
	yaml := fmt.Sprintf("vrrp:\n  instances:\n    - {name: VI_1, interface: eth0, vrid: 51, vips: [192.0.2.100/24, 192.0.2.101/24]}\ncontrol: {socket: %s/halo.sock}\n", dir)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("192.0.2.100")
	if out, err := n.Exec(t.Context(), "ip", "addr", "add", "192.0.2.100/24", "dev", "eth0"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// Run twice: removing VIPs that are already gone is no error.
	for range 2 {
		if out, err := n.Exec(t.Context(), bin, "cleanup", "-config", cfg); err != nil {
			t.Fatalf("halod cleanup: %v\n%s", err, out)
		}
		if held, err := n.HasAddr(t.Context(), vip); err != nil || held {
			t.Fatalf("VIP still on eth0 after halod cleanup (%v)", err)
		}
	}
}

// TestCannotStartRemovesVIPs: a halod restarted after a crash that cannot start (here its
// control socket cannot be made) removes the VIPs its predecessor left, so the backup is
// their only holder; when another halod answers on the control socket, it touches none.
func TestCannotStartRemovesVIPs(t *testing.T) {
	lab := netlab.New(t, netlab.Options{Nodes: 1})
	n := lab.Nodes[0]
	dir, bin := buildHalod(t)
	vip := netip.MustParseAddr("192.0.2.100")
	addVIP := func() {
		t.Helper()
		if out, err := n.Exec(t.Context(), "ip", "addr", "replace", "192.0.2.100/24", "dev", "eth0"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	write := func(name, socket string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		yaml := fmt.Sprintf("haproxy: {mode: external, stats_socket: %s/none.sock}\nvrrp:\n  instances:\n    - {name: VI_1, interface: eth0, vrid: 51, vips: [192.0.2.100/24]}\ncontrol: {socket: %s}\nmetrics: {listen: \"off\"}\n", dir, socket)
		if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The control socket's directory is a regular file: halod cannot start.
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	addVIP()
	if out, err := n.Exec(t.Context(), bin, "-config", write("broken.yaml", blocker+"/halo.sock")); err == nil {
		t.Fatalf("halod started with its control socket under a regular file:\n%s", out)
	}
	if held, err := n.HasAddr(t.Context(), vip); err != nil || held {
		t.Fatalf("the VIP stayed on eth0 after halod failed to start (%v)", err)
	}

	// Another halod answers on the control socket: this one stops and leaves the VIP.
	sock := filepath.Join(dir, "live.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					fmt.Fprintln(c, `{"ok":true,"version":"other"}`)
				}
			}()
		}
	}()
	addVIP()
	if out, err := n.Exec(t.Context(), bin, "-config", write("second.yaml", sock)); err == nil {
		t.Fatalf("a second halod started:\n%s", out)
	}
	if held, err := n.HasAddr(t.Context(), vip); err != nil || !held {
		t.Fatalf("a second halod removed the running one's VIP (%v)", err)
	}
}

// buildHalod builds this halod into a temporary directory, which it returns too.
func buildHalod(t *testing.T) (dir, bin string) {
	t.Helper()
	dir = t.TempDir()
	bin = filepath.Join(dir, "halod")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir, bin
}
