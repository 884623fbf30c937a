package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/internal/tier"
)

// TestPackage (tier 3, root): builds the package (or takes HALO_DEB, `make deb`'s output),
// runs lintian on it, and in a booted container (systemd-nspawn) installs it, checks the
// units (systemd-analyze verify and security), `halod -t` on the installed example, starts,
// reloads (a broken haproxy.cfg makes `systemctl reload` fail), restarts and stops halod,
// checks that a quick restart keeps the VIP and that spent restarts remove it, runs
// halod-external beside haproxy.service, and that dpkg -r then -P leave no file behind.
func TestPackage(t *testing.T) {
	tier.Root(t)
	lintian := tier.Binary(t, "lintian", "lintian")
	tier.Binary(t, "systemd-nspawn", "systemd-container")
	deb := packageUnderTest(t)

	lint := make(chan string, 1)
	go func() {
		out, err := exec.Command(lintian, "--fail-on", "error,warning", deb).CombinedOutput()
		if err != nil {
			lint <- fmt.Sprintf("lintian %s: %v\n%s", deb, err, out)
		}
		close(lint)
	}()

	start := time.Now()
	c := bootContainer(t)
	t.Logf("%s: container booted", time.Since(start).Round(time.Second))
	const watched = "/etc /usr /var/lib/systemd /run"
	before := c.must("sh", "-c", "find "+watched+" -xdev 2>/dev/null | grep -v '^/run/systemd\\|^/run/log\\|^/run/user\\|^/run/haproxy' | sort")
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.root, "root/halo.deb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	c.must("dpkg", "-i", "/root/halo.deb")

	// Nothing enabled, nothing started: halo.yaml is an example until edited.
	for _, unit := range []string{"halod", "halod-external"} {
		if out, _ := c.run("systemctl", "is-enabled", unit); strings.TrimSpace(out) != "disabled" {
			t.Errorf("%s after dpkg -i: is-enabled %q, want disabled", unit, strings.TrimSpace(out))
		}
		if out, _ := c.run("systemctl", "is-active", unit); strings.TrimSpace(out) != "inactive" {
			t.Errorf("%s after dpkg -i: is-active %q, want inactive", unit, strings.TrimSpace(out))
		}
	}

	checkUnits(t, c)
	setUpNode(t, c)
	c.must("halod", "-t", "-config", "/etc/halo/halo.yaml")
	// The example as shipped passed; from here on, adverts every 100 ms so that becoming
	// MASTER takes a third of a second rather than three (the units are what is tested).
	c.must("sed", "-i", "s/advert_interval: 1s/advert_interval: 100ms/", "/etc/halo/halo.yaml")
	checkManaged(t, c)
	t.Logf("%s: managed mode checked", time.Since(start).Round(time.Second))
	checkExternal(t, c)

	t.Logf("%s: external mode checked", time.Since(start).Round(time.Second))
	checkUpgradeRemove(t, c)
	c.must("rm", "-rf", "/etc/systemd/system/halod.service.d")
	if _, err := c.run("test", "-e", "/usr/sbin/halod"); err == nil {
		t.Error("dpkg -r left /usr/sbin/halod")
	}
	if _, err := c.run("test", "-f", "/etc/halo/halo.yaml"); err != nil {
		t.Error("dpkg -r removed the conffile /etc/halo/halo.yaml (only a purge may)")
	}
	c.must("dpkg", "-P", "halo")
	after := c.must("sh", "-c", "find "+watched+" -xdev 2>/dev/null | grep -v '^/run/systemd\\|^/run/log\\|^/run/user\\|^/run/haproxy' | sort")
	if d := diffLines(before, after); d != "" {
		t.Errorf("files left or removed by dpkg -i, -r, -P (+ left, - gone):\n%s", d)
	}
	if msg, ok := <-lint; ok {
		t.Error(msg)
	}
}

// packageUnderTest returns HALO_DEB, or builds the package as `make deb` does.
func packageUnderTest(t *testing.T) string {
	if p := os.Getenv("HALO_DEB"); p != "" {
		return p
	}
	dir := t.TempDir()
	bin, man := filepath.Join(dir, "bin"), filepath.Join(dir, "man")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", bin+"/",
		"../../../cmd/halod", "../../../cmd/haloctl", "../../../cmd/halo-bgp", "../mkman")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(filepath.Join(bin, "mkman"), "-bin", bin, "-src", "../../../docs/man",
		"-root", "../../..", "-out", man, "-version", "test", "-date", "2026-12-02").CombinedOutput(); err != nil {
		t.Fatalf("mkman: %v\n%s", err, out)
	}
	p, err := build_(options{bin: bin, man: man, root: "../../..", describe: "v0.0.0-1-g0000000",
		out: dir, arch: "amd64", when: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var build_ = build

var exposure = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// checkUnits runs systemd-analyze verify and security on the installed units.
func checkUnits(t *testing.T, c *container) {
	t.Helper()
	out, err := c.run("systemd-analyze", "verify", "halod.service", "halod-external.service", "halod-cleanup@halod.service")
	if err != nil || strings.Contains(out, "halo") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, unit := range []string{"halod.service", "halod-external.service", "halod-cleanup@.service"} {
		out, err := c.run("systemd-analyze", "security", "--offline=yes", "--threshold=45", "/lib/systemd/system/"+unit)
		m := exposure.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security %s: no exposure level in:\n%s", unit, out)
		}
		level, _ := strconv.ParseFloat(m[1], 64)
		t.Logf("systemd-analyze security %s: exposure %.1f", unit, level)
		if err != nil || level > 4.5 {
			t.Errorf("systemd-analyze security %s: exposure %.1f (%v), want <= 4.5", unit, level, err)
		}
	}
}

// setUpNode gives the container the eth0 the example names, with an address of its own, and
// fits haproxy.cfg's maxconn to the descriptors this machine lets the container have.
func setUpNode(t *testing.T, c *container) {
	t.Helper()
	c.must("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	c.must("ip", "link", "set", "eth0p", "up")
	c.must("ip", "link", "set", "eth0", "up")
	c.must("ip", "addr", "add", "198.51.100.11/24", "dev", "eth0")
	// A backend for the example's "backend app" (192.0.2.21:8080, GET /healthz), so that
	// HAProxy is healthy, not degraded, as on a real node.
	c.must("ip", "addr", "add", "192.0.2.21/32", "dev", "lo")
	c.must("sh", "-c", "mkdir -p /root/www && touch /root/www/healthz")
	c.must("systemd-run", "--unit=halotest-backend", "-p", "WorkingDirectory=/root/www",
		"python3", "-m", "http.server", "8080", "--bind", "192.0.2.21")
	// A sandbox without CAP_SYS_RESOURCE (a CI runner's container) caps the hard limit of
	// open files below the unit's LimitNOFILE: fit the example to it, so HAProxy can start.
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", c.leader))
	if err != nil {
		t.Fatal(err)
	}
	var hard int
	for _, l := range strings.Split(string(limits), "\n") {
		if f := strings.Fields(l); strings.HasPrefix(l, "Max open files") && len(f) >= 5 {
			hard, _ = strconv.Atoi(f[4])
		}
	}
	// HAProxy under the sandbox as a safe haproxy.cfg runs it: workers as user haproxy in a
	// chroot, logging to /dev/log. Added where the shipped example lacks it.
	for _, d := range []string{"user haproxy", "group haproxy", "chroot /var/lib/haproxy"} {
		c.must("sh", "-c", fmt.Sprintf("grep -q '^[[:space:]]*%s$' /etc/halo/haproxy.cfg || sed -i 's|^global$|global\\n    %s|' /etc/halo/haproxy.cfg", d, d))
	}
	c.must("sed", "-i", `s|^\([[:space:]]*\)log stderr .*|\1log /dev/log local0 info|`, "/etc/halo/haproxy.cfg")
	if hard > 0 && hard < 65536 {
		maxconn := (hard - 1000) / 2
		t.Logf("hard limit of open files here is %d: LimitNOFILE=%d and maxconn %d in the container", hard, hard, maxconn)
		c.must("mkdir", "-p", "/etc/systemd/system/halod.service.d")
		c.must("sh", "-c", fmt.Sprintf("printf '[Service]\\nLimitNOFILE=%d\\n' > /etc/systemd/system/halod.service.d/limit.conf && "+
			"sed -i 's/^\\([[:space:]]*maxconn\\) .*/\\1 %d/' /etc/halo/haproxy.cfg && systemctl daemon-reload", hard, maxconn))
	}
}

type status struct {
	HAProxy struct {
		Mode    string `json:"mode"`
		PID     int    `json:"pid"`
		Healthy bool   `json:"healthy"`
	} `json:"haproxy"`
	Instances []struct {
		State     string `json:"state"`
		HoldsVIPs bool   `json:"holds_vips"`
	} `json:"instances"`
}

func (c *container) status() (status, error) {
	var s status
	out, _ := c.run("haloctl", "status", "--json")
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return s, fmt.Errorf("haloctl status --json: %v: %s", err, out)
	}
	return s, nil
}

func (c *container) hasVIP() bool {
	out, _ := c.run("ip", "-br", "addr", "show", "dev", "eth0")
	return strings.Contains(out, "192.0.2.100/24")
}

func (c *container) mainPID(unit string) string {
	out, _ := c.run("systemctl", "show", "-P", "MainPID", unit)
	return strings.TrimSpace(out)
}

// checkManaged drives halod.service through start, reload, a refused reload, a quick
// restart, spent restarts and stop.
func checkManaged(t *testing.T, c *container) {
	t.Helper()
	c.must("systemctl", "start", "halod")
	waitMaster(t, c, "halod MASTER with its VIP and HAProxy healthy")
	if out := c.must("ps", "-o", "user=", "-C", "haproxy"); !strings.Contains(out, "haproxy") {
		t.Errorf("no HAProxy worker runs as user haproxy: %q", out)
	}
	c.must("systemctl", "reload", "halod")

	c.must("cp", "/etc/halo/haproxy.cfg", "/tmp/haproxy.cfg.good")
	c.must("sh", "-c", "printf 'frontend broken\\n    bind :99999\\n' >> /etc/halo/haproxy.cfg")
	if out, err := c.run("systemctl", "reload", "halod"); err == nil {
		t.Errorf("systemctl reload with a broken haproxy.cfg succeeded: %s", out)
	}
	if out, _ := c.run("systemctl", "is-active", "halod"); strings.TrimSpace(out) != "active" {
		t.Errorf("halod after a refused reload: %s", out)
	}
	c.must("cp", "/tmp/haproxy.cfg.good", "/etc/halo/haproxy.cfg")
	c.must("systemctl", "reload", "halod")

	// A crash and a quick restart: the VIP stays, the cleanup does not run.
	pid := c.mainPID("halod")
	c.must("systemctl", "kill", "--kill-who=main", "--signal=KILL", "halod")
	poll.Until(t, 10*time.Second, "halod restarted after SIGKILL", func() error {
		if p := c.mainPID("halod"); p == pid || p == "0" || p == "" {
			return fmt.Errorf("MainPID %s", p)
		}
		return nil
	})
	if !c.hasVIP() {
		t.Error("the VIP is gone after a quick restart")
	}
	waitMaster(t, c, "the restarted halod MASTER, HAProxy healthy")
	if !c.hasVIP() {
		t.Error("the restarted halod does not hold the VIP")
	}

	// Restarts spent (StartLimitBurst=5 in 60 s): the unit fails for good, the VIP goes.
	for i := 0; i < 6; i++ {
		pid := c.mainPID("halod")
		if pid == "0" || pid == "" {
			break
		}
		c.must("systemctl", "kill", "--kill-who=main", "--signal=KILL", "halod")
		failed := false
		poll.Until(t, 10*time.Second, "halod restarted or failed", func() error {
			if out, _ := c.run("systemctl", "is-failed", "halod"); strings.TrimSpace(out) == "failed" {
				failed = true
				return nil
			}
			if p := c.mainPID("halod"); p == pid || p == "0" || p == "" {
				return fmt.Errorf("MainPID %s", p)
			}
			return nil
		})
		if !failed {
			// Crash a halod that has settled (its HAProxy taken over), as a crash loop
			// of a running node would.
			waitMaster(t, c, "the restarted halod settled")
		}
	}
	poll.Until(t, 15*time.Second, "halod failed for good and its VIP removed", func() error {
		if out, _ := c.run("systemctl", "is-failed", "halod"); strings.TrimSpace(out) != "failed" {
			return fmt.Errorf("halod is %s", strings.TrimSpace(out))
		}
		if c.hasVIP() {
			return fmt.Errorf("the VIP is still on eth0")
		}
		return nil
	})

	t.Logf("restarts spent, VIP removed")
	c.must("systemctl", "reset-failed", "halod")
	c.must("systemctl", "start", "halod")
	waitMaster(t, c, "halod MASTER again")
	c.must("systemctl", "stop", "halod")
	if c.hasVIP() {
		t.Error("the VIP is still on eth0 after systemctl stop halod")
	}
	if out, err := c.run("pidof", "haproxy"); err == nil {
		t.Errorf("HAProxy still runs after systemctl stop halod: %s", out)
	}
}

// checkUpgradeRemove installs the package over a running halod (an upgrade: the postinst
// restarts it on the new binary, which takes MASTER and the VIP back), then removes it (the
// prerm stops halod: the VIP is released and HAProxy stopped).
func checkUpgradeRemove(t *testing.T, c *container) {
	t.Helper()
	c.must("systemctl", "start", "halod")
	waitMaster(t, c, "halod MASTER before the upgrade")
	pid := c.mainPID("halod")
	c.must("dpkg", "-i", "/root/halo.deb")
	if p := c.mainPID("halod"); p == pid || p == "0" {
		t.Errorf("dpkg -i over a running halod: MainPID %s, was %s: not restarted on the new binary", p, pid)
	}
	waitMaster(t, c, "halod MASTER after the upgrade")
	c.must("dpkg", "-r", "halo")
	if out, _ := c.run("systemctl", "is-active", "halod"); strings.TrimSpace(out) == "active" {
		t.Error("halod still active after dpkg -r")
	}
	if c.hasVIP() {
		t.Error("the VIP is still on eth0 after dpkg -r")
	}
	if out, err := c.run("pidof", "haproxy"); err == nil {
		t.Errorf("HAProxy still runs after dpkg -r: %s", out)
	}
}

func waitMaster(t *testing.T, c *container, what string) {
	t.Helper()
	poll.Until(t, 20*time.Second, what, func() error {
		s, err := c.status()
		if err != nil {
			return err
		}
		if !s.HAProxy.Healthy || len(s.Instances) != 1 || s.Instances[0].State != "MASTER" || !c.hasVIP() {
			return fmt.Errorf("status %+v, VIP on eth0 %v", s, c.hasVIP())
		}
		return nil
	})
}

// checkExternal runs halod-external.service beside Debian's haproxy.service.
func checkExternal(t *testing.T, c *container) {
	t.Helper()
	c.must("cp", "/etc/halo/halo.yaml", "/tmp/halo.yaml.managed")
	c.must("sed", "-i", "-e", "s|^  mode: managed.*|  mode: external|",
		"-e", "s|^  config: .*|  config: [/etc/haproxy/haproxy.cfg]|",
		"-e", "s|^  master_socket: .*|  master_socket: /run/haproxy-master.sock|",
		"-e", "/^  check:/,/^$/d", "/etc/halo/halo.yaml")
	c.must("systemctl", "start", "haproxy", "halod-external")
	poll.Until(t, 20*time.Second, "halod-external MASTER with a healthy external HAProxy", func() error {
		s, err := c.status()
		if err != nil {
			return err
		}
		if s.HAProxy.Mode != "external" || !s.HAProxy.Healthy || len(s.Instances) != 1 || s.Instances[0].State != "MASTER" {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	c.must("systemctl", "reload", "halod-external")
	c.must("systemctl", "stop", "halod-external", "haproxy")
	c.must("cp", "/tmp/halo.yaml.managed", "/etc/halo/halo.yaml")
}

// diffLines returns the lines only in a (-) or only in b (+).
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var d []string
	for l := range ma {
		if !mb[l] {
			d = append(d, "- "+l)
		}
	}
	for l := range mb {
		if !ma[l] {
			d = append(d, "+ "+l)
		}
	}
	return strings.Join(d, "\n")
}
