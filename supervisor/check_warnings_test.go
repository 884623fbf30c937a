package supervisor

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A name no host has (interface names are at most 15 bytes).
const noSuchLink = "halo-nx-test0"

func loadTemp(t *testing.T, yaml string) *Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "halo.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	return cfg
}

func TestWarningsInterfaces(t *testing.T) {
	cfg := loadTemp(t, `vrrp:
  instances:
    - name: VI_1
      interface: `+noSuchLink+`
      vrid: 51
      vips:
        - 192.0.2.100/24
        - {address: 198.51.100.1/24, dev: `+noSuchLink+`}
      track_interfaces: [lo, `+noSuchLink+`]
    - name: VI_2
      interface: lo
      vrid: 52
      vips: [192.0.2.101/24]
      unicast: {source: 192.0.2.250, peers: [192.0.2.12]}
metrics: {listen: "127.0.0.1:9110"}
`)
	// The real host: lo exists everywhere, the test name nowhere.
	got := cfg.Warnings(ReadHost())
	want := []string{
		":4: warning: vrrp.instances[0].interface: \"" + noSuchLink + "\": no such interface on this host (the instance cannot start: halod retries it, with backoff, until the interface exists)",
		":8: warning: vrrp.instances[0].vips[1].dev: \"" + noSuchLink + "\": no such interface on this host (the VIP cannot be added to it)",
		":9: warning: vrrp.instances[0].track_interfaces[1]: \"" + noSuchLink + "\": no such interface on this host (a missing tracked interface puts the instance in FAULT)",
		":14: warning: vrrp.instances[1].unicast.source: 192.0.2.250 is no address of this host",
	}
	var lines []string
	for _, w := range got {
		if w.File != cfg.Path() {
			t.Errorf("warning names file %q, want %q", w.File, cfg.Path())
		}
		lines = append(lines, strings.TrimPrefix(w.String(), cfg.Path()))
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d warnings, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("warning %d:\n got %s\nwant %s...", i, lines[i], want[i])
		}
	}
}

func TestWarningsNoneOnLoopback(t *testing.T) {
	cfg := loadTemp(t, `vrrp:
  instances:
    - {name: VI_1, interface: lo, vrid: 51, vips: [{address: 192.0.2.100/24, dev: lo}], track_interfaces: [lo],
       unicast: {source: 127.0.0.1, peers: [192.0.2.12]}}
metrics: {listen: "127.0.0.1:9110"}
`)
	if got := cfg.Warnings(ReadHost()); len(got) != 0 {
		t.Errorf("warnings for a config that fits this host: %v", got)
	}
}

func TestWarningsMetricsListen(t *testing.T) {
	const inst = "vrrp:\n  instances:\n    - {name: VI_1, interface: lo, vrid: 51, vips: [192.0.2.100/24]}\n"
	host := Host{LinkExists: func(string) bool { return true }, LocalAddr: func(netip.Addr) bool { return true }}
	for _, tc := range []struct {
		metrics string
		want    string // "" for no warning
	}{
		{"", `halo.yaml: warning: metrics.listen: ":9110" (the default) listens on every address`},
		{"metrics: {listen: \":9110\"}\n", `halo.yaml:4: warning: metrics.listen: ":9110" listens on every address`},
		{"metrics: {listen: \"0.0.0.0:9110\"}\n", `halo.yaml:4: warning: metrics.listen: "0.0.0.0:9110" listens`},
		{"metrics: {listen: \"[::]:9110\"}\n", `halo.yaml:4: warning: metrics.listen: "[::]:9110" listens`},
		{"metrics: {listen: \"[::0]:9110\"}\n", `halo.yaml:4: warning: metrics.listen: "[::0]:9110" listens`},
		{"metrics: {listen: \"192.0.2.11:9110\"}\n", ""},
		{"metrics: {listen: \"[2001:db8::11]:9110\"}\n", ""},
		{"metrics: {listen: \"127.0.0.1:9110\"}\n", ""},
		{"metrics: {listen: \"off\"}\n", ""},
	} {
		cfg := loadTemp(t, inst+tc.metrics)
		var got string
		for _, w := range cfg.Warnings(host) {
			got += filepath.Base(w.File) + strings.TrimPrefix(w.String(), w.File)
		}
		if tc.want == "" && got != "" || !strings.HasPrefix(got, tc.want) {
			t.Errorf("%q: got %q, want %q...", tc.metrics, got, tc.want)
		}
		if tc.want != "" && !strings.Contains(got, "bind it to this node's own address") {
			t.Errorf("%q: the warning does not say what to do: %q", tc.metrics, got)
		}
	}
}

func TestHAProxyWarningsMaxconn(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	write := func(maxconn string) {
		body := "global\n    stats socket /run/haproxy/admin.sock level admin\n" + maxconn +
			"frontend main\n    bind :80\n    default_backend app\nbackend app\n    server a 192.0.2.21:80 check\n"
		if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inst := "vrrp:\n  instances:\n    - {name: VI_1, interface: lo, vrid: 51, vips: [192.0.2.100/24]}\n"
	managed := loadTemp(t, "haproxy: {config: ["+cfgPath+"]}\n"+inst)
	external := loadTemp(t, "haproxy: {mode: external, config: ["+cfgPath+"]}\n"+inst)
	host := Host{NoFile: 65536, NoFileFrom: "test", CPUs: 2}
	files := []string{cfgPath}

	// 2*32000 + 2 listeners + 1 server + 6 + 20 = 64029: fits 65536.
	write("    maxconn 32000\n")
	if got := managed.HAProxyWarnings(files, host); len(got) != 0 {
		t.Errorf("maxconn 32000 in 65536: %v", got)
	}
	// 2*33000 + 29 = 66029 does not.
	write("    maxconn 33000\n")
	got := managed.HAProxyWarnings(files, host)
	want := []Warning{{File: cfgPath, Line: 3, Field: "maxconn", Msg: `33000 needs about 66029 file descriptors, and HAProxy can get at most 65536 (test): it would refuse to start ("Cannot raise FD limit"); set maxconn 32753 or less, or raise LimitNOFILE= of halod's unit`}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("maxconn 33000 in 65536 (-want +got):\n%s", d)
	}
	// The advice must be right: the maxconn it names fits.
	write("    maxconn 32753\n")
	if got := managed.HAProxyWarnings(files, host); len(got) != 0 {
		t.Errorf("the advised maxconn 32753 still warns: %v", got)
	}
	write("    maxconn 33000\n")
	if got := external.HAProxyWarnings(files, host); len(got) != 0 {
		t.Errorf("external mode: HAProxy's limit is not halod's, yet: %v", got)
	}
	if got := managed.HAProxyWarnings(files, Host{CPUs: 2}); len(got) != 0 {
		t.Errorf("unknown limit: %v", got)
	}
	// No global maxconn: HAProxy sizes it to the limit it finds.
	write("")
	if got := managed.HAProxyWarnings(files, Host{NoFile: 1024, CPUs: 2}); len(got) != 0 {
		t.Errorf("no maxconn: %v", got)
	}
}

// TestHAProxyWarningsExampleFitsUnit: configs/haproxy.cfg's maxconn fits the
// LimitNOFILE=65536 of halod's unit on a host of 64 threads (HAProxy's default cap).
func TestHAProxyWarningsExampleFitsUnit(t *testing.T) {
	cfg := loadTemp(t, "haproxy: {config: ["+mustAbs(t, "../configs/haproxy.cfg")+"]}\n"+
		"vrrp:\n  instances:\n    - {name: VI_1, interface: lo, vrid: 51, vips: [192.0.2.100/24]}\n")
	if got := cfg.HAProxyWarnings(cfg.HAProxy.Config, Host{NoFile: 65536, NoFileFrom: "LimitNOFILE=65536", CPUs: 64}); len(got) != 0 {
		t.Errorf("the example outgrows the unit's limit: %v", got)
	}
	if got := cfg.HAProxyWarnings(cfg.HAProxy.Config, Host{NoFile: 1024, NoFileFrom: "ulimit -n 1024", CPUs: 2}); len(got) != 1 {
		t.Errorf("the example under 1024 descriptors: %d warnings, want 1", len(got))
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
