package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../configs/*/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example configs under configs/")
	}
	for _, f := range files {
		if strings.HasPrefix(f, "../configs/kubernetes/") {
			continue // Kubernetes manifests: internal/k8sschema checks the halo.yaml they carry
		}
		t.Run(f, func(t *testing.T) {
			if _, err := LoadConfig(f); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig("halo.yaml", []byte(`
vrrp:
  instances:
    - {name: VI_1, interface: eth0, vrid: 51, vips: [192.0.2.100/24]}
`))
	if err != nil {
		t.Fatal(err)
	}
	in := c.VRRP.Instances[0]
	if in.Version != 3 || in.Priority != 100 || in.AdvertInterval != time.Second || !in.PreemptEnabled() || in.GARP.Repeat != 5 {
		t.Errorf("instance defaults: %+v", in)
	}
	if c.HAProxy.Mode != "managed" || c.HAProxy.Check.Interval != 200*time.Millisecond || c.HAProxy.Check.Fall != 3 {
		t.Errorf("haproxy defaults: %+v", c.HAProxy)
	}
	if c.Control.Socket != "/run/halo/halo.sock" || c.Control.ControlMode() != 0o600 || c.Metrics.Listen != ":9110" {
		t.Errorf("daemon defaults: %+v %+v", c.Control, c.Metrics)
	}
}

func TestConfigErrors(t *testing.T) {
	const base = `vrrp:
  instances:
    - name: VI_1
      interface: eth0
      vrid: 51
      vips: [192.0.2.100/24]
`
	tests := []struct {
		name string
		yaml string
		want []string // substrings, each must appear in one problem
	}{
		{"unknown key", "haproxy:\n  moed: managed\n", []string{`halo.yaml:2: unknown key "moed"`}},
		{"unknown nested key", base + "      prioirty: 10\n", []string{`halo.yaml:7: unknown key "prioirty"`}},
		{"unknown vip key", "vrrp:\n  instances:\n    - name: VI_1\n      interface: eth0\n      vrid: 51\n      vips:\n        - {address: 192.0.2.1/24, device: eth1}\n", []string{`halo.yaml:7:`, "device"}},
		{"wrong type", "haproxy:\n  check:\n    rise: many\n", []string{"halo.yaml:3:", "many"}},
		{"bad duration", "haproxy:\n  check:\n    interval: 2 seconds\n", []string{"halo.yaml:3:", `durations are written like "1s"`}},
		{"vrid range", strings.Replace(base, "vrid: 51", "vrid: 256", 1), []string{"halo.yaml:5: vrrp.instances[0].vrid: 256 not in 1..255"}},
		{"vrid zero", strings.Replace(base, "vrid: 51", "vrid: -1", 1), []string{"halo.yaml:5: vrrp.instances[0].vrid: -1 not in 1..255"}},
		{"priority range", base + "      priority: 300\n", []string{"halo.yaml:7: vrrp.instances[0].priority: 300 not in 1..254"}},
		{"priority 255 needs owner", base + "      priority: 255\n", []string{"halo.yaml:7: vrrp.instances[0].priority: 255 is reserved for the address owner"}},
		{"v2 sub-second", base + "      version: 2\n      advert_interval: 100ms\n", []string{"halo.yaml:8: vrrp.instances[0].advert_interval: 100ms: VRRPv2 carries whole seconds"}},
		{"v3 too fine", base + "      advert_interval: 5ms\n", []string{"halo.yaml:7: vrrp.instances[0].advert_interval: 5ms: VRRPv3 carries centiseconds"}},
		{"vip not an address", strings.Replace(base, "192.0.2.100/24", "192.0.2.300/24", 1), []string{"halo.yaml:6:", `vip "192.0.2.300/24" is not an address/prefix`}},
		{"duplicate vrid", base + "    - {name: VI_2, interface: eth0, vrid: 51, vips: [192.0.2.101/24]}\n", []string{"halo.yaml:7: vrrp.instances[1].vrid: 51 already used on eth0 by instances[0] (VI_1)"}},
		{"same vrid other family is fine, other errors still listed", base + "    - {name: VI_2, interface: eth0, vrid: 51, version: 2, vips: [\"2001:db8::1/64\"]}\n", []string{"vrrp.instances[1].version: IPv6 needs VRRPv3"}},
		{"auth on v3", base + "      auth_pass: secret\n", []string{"halo.yaml:7: vrrp.instances[0].auth_pass: authentication exists in VRRPv2 only"}},
		{"sync group unknown member", base + "  sync_groups:\n    - {name: G, instances: [VI_1, VI_9]}\n", []string{"halo.yaml:8: vrrp.sync_groups[0].instances[1]: no instance is named \"VI_9\""}},
		{"track both", base + "      track_haproxy: {weight: -10, fault: true}\n", []string{"halo.yaml:7: vrrp.instances[0].track_haproxy: either weight or fault"}},
		{"haproxy mode", "haproxy: {mode: sidecar}\n", []string{`halo.yaml:1: haproxy.mode: "sidecar": must be managed or external`}},
		{"check timeout", "haproxy:\n  check: {interval: 100ms, timeout: 1s}\n", []string{"halo.yaml:2: haproxy.check.timeout: 1s is longer than check.interval 100ms"}},
		{"backend min", "haproxy:\n  check:\n    backends: {app: -1}\n", []string{"halo.yaml:3: haproxy.check.backends.app: -1"}},
		{"log level", "log: {level: loud}\n", []string{`halo.yaml:1: log.level: "loud"`}},
		{"group without access", "control: {group: root}\n", []string{`halo.yaml:1: control.mode: "0600" gives control.group "root" no access`}},
		{"unknown group", "control: {group: no-such-group-here, mode: \"0660\"}\n", []string{`halo.yaml:1: control.group: "no-such-group-here": no such group`}},
		{"several at once", "log: {level: loud, format: xml}\nmetrics: {listen: nowhere}\n", []string{"log.level", "log.format", "metrics.listen"}},
		{"syntax", "vrrp: [\n", []string{"halo.yaml:"}},
		{"not a mapping", "- a\n- b\n", []string{"halo.yaml:1: halo.yaml must be a mapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("halo.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error for:\n%s", tt.yaml)
			}
			var msgs []string
			for _, p := range Problems(err) {
				msgs = append(msgs, p.Error())
			}
			all := strings.Join(msgs, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("want %q among:\n%s", w, all)
				}
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"))
	if !os.IsNotExist(err) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}

func TestExplicitZeroRefused(t *testing.T) {
	_, err := ParseConfig("halo.yaml", []byte("vrrp:\n  instances:\n    - name: VI_1\n      interface: eth0\n      vrid: 51\n      priority: 0\n      vips: [192.0.2.1]\n"))
	if err == nil || !strings.Contains(err.Error(), "halo.yaml:6: vrrp.instances[0].priority: 0 is out of range") {
		t.Fatalf("got %v", err)
	}
	// Zero is meaningful for these: no error.
	if _, err := ParseConfig("halo.yaml", []byte("vrrp:\n  instances:\n    - {name: VI_1, interface: eth0, vrid: 51, preempt_delay: 0s, garp: {refresh: 0s, delay: 0s}, vips: [192.0.2.1]}\n")); err != nil {
		t.Fatal(err)
	}
}

func TestRelativeHAProxyConfig(t *testing.T) {
	c, err := ParseConfig("/etc/halo/halo.yaml", []byte(oneInstance+"haproxy: {config: [haproxy.cfg, /etc/haproxy/conf.d]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.HAProxy.Config; got[0] != "/etc/halo/haproxy.cfg" || got[1] != "/etc/haproxy/conf.d" {
		t.Errorf("config paths %v", got)
	}
}

// TestAliasCycle: an anchor that refers to itself must give an error, not hang.
func TestAliasCycle(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		_, err := ParseConfig("halo.yaml", []byte("vrrp: &x\n  instances: [*x]\n"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("no error for a self-referencing anchor")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ParseConfig hangs on a self-referencing anchor")
	}
}
