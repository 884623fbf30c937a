package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
)

// container is a Debian booted by systemd-nspawn from an overlay of this machine's root: a
// fresh systemd as PID 1, dpkg's database as the host's, every write kept in a tmpfs that
// goes with the test. Nothing the test does inside reaches the host.
type container struct {
	t      *testing.T
	root   string // the overlay, as the host sees it
	leader int    // the container's PID 1, as the host sees it
}

// bootContainer boots the container with a private network (only lo) and waits until its
// systemd is up. Its man-db trigger is off (it costs dpkg -i ten seconds).
func bootContainer(t *testing.T) *container {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	root := filepath.Join(dir, "root")
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := fmt.Sprintf("lowerdir=/,upperdir=%s/upper,workdir=%s/work", dir, dir)
	if err := syscall.Mount("overlay", root, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay of /: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(root, syscall.MNT_DETACH) })
	_ = os.Remove(filepath.Join(root, "var/lib/man-db/auto-update"))
	// A booted Debian has no policy-rc.d; an image built by Docker ships one that makes
	// deb-systemd-invoke refuse every start and stop, which would hide the maintainer
	// scripts' actions.
	_ = os.Remove(filepath.Join(root, "usr/sbin/policy-rc.d"))

	// basic.target: the host's enabled services (haproxy, keepalived, ...) stay down.
	cmd := exec.Command("systemd-nspawn", "-D", root, "--register=no", "--keep-unit", "--link-journal=no",
		"-M", fmt.Sprintf("halotest-%d", os.Getpid()), "--private-network", "-q", "-b", "--", "systemd.unit=basic.target")
	console := filepath.Join(dir, "console.log")
	f, err := os.Create(console)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("systemd-nspawn: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c := &container{t: t, root: root}
	t.Cleanup(func() {
		if c.leader > 0 {
			_, _ = c.run("systemctl", "poweroff")
		}
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(console)
			t.Logf("container console (last 3000 bytes):\n%s", tail(string(b), 3000))
		}
	})
	poll.Until(t, 30*time.Second, "the container's systemd running", func() error {
		select {
		case <-done:
			b, _ := os.ReadFile(console)
			t.Fatalf("systemd-nspawn exited: %s", tail(string(b), 2000))
		default:
		}
		if c.leader == 0 {
			// nspawn's first child sets the container up and exits; PID 1 is systemd.
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
			for _, f := range strings.Fields(string(b)) {
				if comm, _ := os.ReadFile("/proc/" + f + "/comm"); strings.TrimSpace(string(comm)) == "systemd" {
					c.leader, _ = strconv.Atoi(f)
				}
			}
			if c.leader == 0 {
				return fmt.Errorf("no systemd in the container yet")
			}
		}
		out, _ := c.run("systemctl", "is-system-running")
		if s := strings.TrimSpace(out); s != "running" && s != "degraded" {
			return fmt.Errorf("system is %q", s)
		}
		return nil
	})
	return c
}

// run runs argv inside the container (its namespaces, its root) and returns its output.
func (c *container) run(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"-t", fmt.Sprint(c.leader), "-m", "-u", "-i", "-n", "-p", "--"}, argv...)
	out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
	return string(out), err
}

// must runs argv and fails the test when it fails.
func (c *container) must(argv ...string) string {
	c.t.Helper()
	out, err := c.run(argv...)
	if err != nil {
		c.t.Fatalf("in the container: %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
