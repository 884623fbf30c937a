package haproxy

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/halo-lb/halo/internal/tier"
)

func fakeEnv(nonlocal string) environment {
	return environment{
		sysctl: func(name string) (string, error) {
			if strings.HasSuffix(name, "ip_nonlocal_bind") {
				return nonlocal, nil
			}
			return "", os.ErrNotExist
		},
		localAddrs: func() ([]netip.Prefix, error) {
			return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("192.0.2.11/24")}, nil
		},
	}
}

const lintBase = `global
    stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners

defaults
    mode http
    option idle-close-on-response
    timeout connect 1s
    timeout client 1s
    timeout server 1s

frontend main
    bind 192.0.2.11:80
    default_backend app

backend app
    server s1 127.0.0.1:8081
`

func lintOf(t *testing.T, cfg Config, nonlocal string, files ...string) []Finding {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, text := range files {
		p := filepath.Join(dir, []string{"haproxy.cfg", "b.cfg", "c.cfg"}[i])
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	cfg.Config = paths
	cfg.ApplyDefaults()
	v := validator{cfg: cfg, env: fakeEnv(nonlocal)}
	fs, err := v.lint(paths)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fs {
		fs[i].File = filepath.Base(fs[i].File)
	}
	return fs
}

func TestLint(t *testing.T) {
	checked := Config{Check: CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"app": 1}}}
	for _, tc := range []struct {
		name     string
		cfg      Config
		nonlocal string
		text     string
		want     []string // Finding.String() with the file's base name; substrings
	}{
		{"clean", checked, "0", lintBase, nil},
		{"VIP without nonlocal bind", checked, "0", strings.Replace(lintBase, "bind 192.0.2.11:80", "bind 192.0.2.100:80", 1),
			[]string{"haproxy.cfg:12: error: frontend main: bind 192.0.2.100:80: 192.0.2.100 is not an address of this host (a VIP held only by the VRRP master?) and net.ipv4.ip_nonlocal_bind is 0 here: set net.ipv4.ip_nonlocal_bind=1"}},
		{"address halod binds itself", Config{Check: checked.Check, OwnAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}, "0",
			strings.Replace(lintBase, "bind 192.0.2.11:80", "bind 192.0.2.100:80", 1), nil},
		{"VIP with nonlocal bind", checked, "1", strings.Replace(lintBase, "bind 192.0.2.11:80", "bind 192.0.2.100:80", 1), nil},
		{"VIP transparent", checked, "0", strings.Replace(lintBase, "bind 192.0.2.11:80", "bind 192.0.2.100:80 transparent", 1), nil},
		{"IPv6 VIP in a list", checked, "0", strings.Replace(lintBase, "bind 192.0.2.11:80", "bind 192.0.2.11:80,[2001:db8::100]:80", 1),
			[]string{"haproxy.cfg:12: error: frontend main: bind 192.0.2.11:80,[2001:db8::100]:80: 2001:db8::100 is not an address of this host (a VIP held only by the VRRP master?) and net.ipv6.ip_nonlocal_bind is 0"}},
		{"wildcards and unix", checked, "0", strings.Replace(lintBase, "bind 192.0.2.11:80", "bind :80\n    bind *:81\n    bind [::]:82\n    bind unix@/run/x.sock\n    bind ipv4@127.0.0.2:83", 1), nil},
		{"no stats socket", checked, "0", strings.Replace(lintBase, "    stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners\n", "", 1),
			[]string{`haproxy.cfg:1: error: no stats socket: halo judges HAProxy's health through it: add "stats socket /run/haproxy/admin.sock mode 660 level admin" to the global section`}},
		{"stats socket not admin", checked, "0", strings.Replace(lintBase, " level admin", " level operator", 1),
			[]string{`haproxy.cfg:2: error: stats socket /run/haproxy/admin.sock: level operator; halo needs level admin: append "level admin" to that line`}},
		{"stats socket elsewhere", checked, "0", strings.Replace(lintBase, "/run/haproxy/admin.sock", "/tmp/other.sock", 1),
			[]string{"haproxy.cfg:2: error: stats socket /tmp/other.sock does not match halo.yaml haproxy.stats_socket /run/haproxy/admin.sock"}},
		{"no expose-fd", checked, "0", strings.Replace(lintBase, " expose-fd listeners", "", 1),
			[]string{`haproxy.cfg:2: warning: stats socket /run/haproxy/admin.sock: no "expose-fd listeners": halod cannot hold the listening sockets, so a crash of HAProxy fails over`}},
		{"no expose-fd, restart_in_place off", Config{Check: checked.Check, RestartInPlace: RestartInPlaceConfig{Enabled: new(false)}}, "0", strings.Replace(lintBase, " expose-fd listeners", "", 1), nil},
		{"no expose-fd, external", Config{Mode: External, Check: checked.Check}, "0", strings.Replace(lintBase, " expose-fd listeners", "", 1), nil},
		{"no idle-close", checked, "0", strings.Replace(lintBase, "    option idle-close-on-response\n", "", 1),
			[]string{`haproxy.cfg:10: warning: frontend main: no "option idle-close-on-response"`}},
		{"idle-close turned off", checked, "0", strings.Replace(lintBase, "    default_backend app", "    no option idle-close-on-response\n    default_backend app", 1),
			[]string{`haproxy.cfg:13: warning: frontend main: no "option idle-close-on-response"`}},
		{"tcp mode needs no idle-close", checked, "0", strings.Replace(strings.Replace(lintBase, "    option idle-close-on-response\n", "", 1), "mode http", "mode tcp", 1), nil},
		{"daemon in managed mode", checked, "0", strings.Replace(lintBase, "global\n", "global\n    daemon\n", 1),
			[]string{`haproxy.cfg:2: error: "daemon" in global`}},
		{"daemon in external mode", Config{Mode: External, Check: checked.Check}, "0", strings.Replace(lintBase, "global\n", "global\n    daemon\n", 1), nil},
		{"checked proxies missing", Config{Check: CheckConfig{Frontends: []string{"web"}, Backends: map[string]int{"api": 1}}}, "0", lintBase,
			[]string{`haproxy.cfg: error: halo.yaml haproxy.check.frontends names "web"`, `haproxy.cfg: error: halo.yaml haproxy.check.backends names "api"`}},
		{"listen section", Config{Check: CheckConfig{Frontends: []string{"both"}, Backends: map[string]int{"both": 1}}}, "0",
			strings.Split(lintBase, "frontend main")[0] + "listen both\n    bind 192.0.2.99:80\n    server s1 127.0.0.1:1\n",
			[]string{"haproxy.cfg:12: error: listen both: bind 192.0.2.99:80: 192.0.2.99 is not an address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := lintOf(t, tc.cfg, tc.nonlocal, tc.text)
			var got []string
			for _, f := range fs {
				got = append(got, f.String())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("findings:\n%s\nwant %d:\n%s", strings.Join(got, "\n"), len(tc.want), strings.Join(tc.want, "\n"))
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("no finding contains %q in:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

func TestLintAcrossFiles(t *testing.T) {
	cfg := Config{Check: CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"app": 1}}}
	global := "global\n    stats socket /run/haproxy/admin.sock level admin expose-fd listeners\n"
	rest := strings.SplitN(lintBase, "\n\n", 2)[1]
	if fs := lintOf(t, cfg, "0", global, rest); len(fs) != 0 {
		t.Errorf("findings across two files: %v", fs)
	}
}

func TestBindAddrs(t *testing.T) {
	// The lint checks the specific addresses; wildcards bind whatever the host has.
	var got []netip.Addr
	for _, a := range ParseBindAddrs("192.0.2.1:80,ipv6@[2001:db8::1]:443,:8080,*:1,0.0.0.0:2,fd@3,unix@/x,/y,example.org:80,[::ffff:192.0.2.9]:80,192.0.2.5:1000-1010") {
		if a.Addr.IsValid() {
			got = append(got, a.Addr)
		}
	}
	want := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("192.0.2.5")}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("ParseBindAddrs (-want +got):\n%s", d)
	}
}

func TestHAProxyFindings(t *testing.T) {
	out := `[NOTICE]   (18973) : haproxy version is 2.6.12-1+deb12u4
[ALERT]    (18973) : config : parsing [configs/haproxy.cfg:42] : 'bind 192.0.2.100:80' in section 'frontend': unknown keyword 'freebind'.
[ALERT]    (18973) : config : Error(s) found in configuration file : configs/haproxy.cfg
[WARNING]  (18973) : config : parsing [configs/haproxy.cfg:7] : a warning.
`
	got := haproxyFindings(out, false)
	want := []Finding{
		{File: "configs/haproxy.cfg", Line: 42, Severity: SeverityError, Msg: "haproxy -c: config : parsing [configs/haproxy.cfg:42] : 'bind 192.0.2.100:80' in section 'frontend': unknown keyword 'freebind'."},
		{Severity: SeverityError, Msg: "haproxy -c: config : Error(s) found in configuration file : configs/haproxy.cfg"},
		{File: "configs/haproxy.cfg", Line: 7, Severity: SeverityWarning, Msg: "haproxy -c: config : parsing [configs/haproxy.cfg:7] : a warning."},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("haproxyFindings (-want +got):\n%s", d)
	}
}

// TestValidateFilesExample runs the real `haproxy -c` and the lint on configs/haproxy.cfg.
func TestValidateFilesExample(t *testing.T) {
	bin := tier.HAProxy(t)
	cfg := Config{Binary: bin, Config: []string{"../configs/haproxy.cfg"},
		Check: CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"app": 1}}}
	cfg.ApplyDefaults()
	r, err := ValidateFiles(t.Context(), cfg)
	if err != nil {
		t.Fatalf("configs/haproxy.cfg refused: %v", err)
	}
	if len(r.Findings) != 0 || !r.HAProxyOK {
		t.Errorf("findings on the example: %v", r.Findings)
	}
}

func TestValidateFilesBroken(t *testing.T) {
	bin := tier.HAProxy(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(p, []byte(lintBase+"    garbage here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Binary: bin, Config: []string{dir},
		Check: CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"app": 1}}}
	cfg.ApplyDefaults()
	r, err := ValidateFiles(t.Context(), cfg)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), "parsing ["+p+":17] : unknown keyword 'garbage' in 'backend' section") {
		t.Errorf("HAProxy's message not kept: %v", err)
	}
	if len(r.Errors()) == 0 || r.Errors()[0].File != p || r.Errors()[0].Line != 17 {
		t.Errorf("first error not located at %s:17: %v", p, r.Errors())
	}
}
