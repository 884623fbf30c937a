package haproxy

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeCfgs writes each text to its own file in a fresh directory, in order.
func writeCfgs(t *testing.T, texts ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, text := range texts {
		p := filepath.Join(dir, string(rune('a'+i))+".cfg")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

const readerGlobal = `global
    daemon
    maxconn 4096
    user haproxy
    group haproxy
    chroot /var/lib/haproxy
    log /dev/log local0
    log 127.0.0.1:514 local1 notice
    # stats socket /commented/out.sock level admin
    stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners
    stats socket ipv4@127.0.0.1:9999 level operator level user
`

const readerProxies = `defaults web
    mode http
    option idle-close-on-response
    timeout connect 1s
    timeout client 1s
    timeout server 1s

defaults raw
    mode tcp
    timeout connect 1s
    timeout client 1s
    timeout server 1s

frontend main from web
    bind 192.0.2.11:80
    bind 192.0.2.11:80
    bind [2001:db8::1]:443,:8443 transparent
    no option idle-close-on-response
    default_backend app

backend app from web
    server s1 127.0.0.1:8081
    server s2 127.0.0.1:8082

listen db from raw
    bind ipv4@192.0.2.12:5432
    server d1 127.0.0.1:5433
`

func TestReadConfigFiles(t *testing.T) {
	paths := writeCfgs(t, readerGlobal, readerProxies)
	files, err := ReadConfigFiles(paths...)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("%d files, want 2", len(files))
	}
	a, b := paths[0], paths[1]
	at := func(file string, line int) Loc { return Loc{File: file, Line: line} }
	set := func(line int, v string) *Setting { return &Setting{Loc: at(a, line), Value: v} }
	want := []*ConfigFile{
		{
			Path: a,
			Global: Global{
				Loc:     at(a, 1),
				Daemon:  set(2, ""),
				Maxconn: set(3, "4096"),
				User:    set(4, "haproxy"),
				Group:   set(5, "haproxy"),
				Chroot:  set(6, "/var/lib/haproxy"),
				Logs:    []Setting{*set(7, "/dev/log local0"), *set(8, "127.0.0.1:514 local1 notice")},
			},
			StatsSockets: []StatsSocket{
				{Loc: at(a, 10), Path: "/run/haproxy/admin.sock", Level: "admin", ExposeFD: true,
					Params: []string{"mode 660", "level admin", "expose-fd listeners"}},
				{Loc: at(a, 11), Path: "ipv4@127.0.0.1:9999", Level: "user", Params: []string{"level operator", "level user"}},
			},
		},
		{
			Path:   b,
			Global: Global{Loc: at(b, 0)},
			Proxies: []Proxy{
				{Loc: at(b, 14), Section: SectionFrontend, Name: "main", Mode: "http", IdleCloseOff: 18, DefaultBackend: "app",
					Binds: []Bind{
						{Loc: at(b, 15), Section: SectionFrontend, Proxy: "main", Spec: "192.0.2.11:80"},
						// The same address twice: each bind keeps its own line.
						{Loc: at(b, 16), Section: SectionFrontend, Proxy: "main", Spec: "192.0.2.11:80"},
						{Loc: at(b, 17), Section: SectionFrontend, Proxy: "main", Spec: "[2001:db8::1]:443,:8443", Params: []string{"transparent"}},
					}},
				{Loc: at(b, 21), Section: SectionBackend, Name: "app", Mode: "http", IdleClose: true, Servers: 2},
				{Loc: at(b, 25), Section: SectionListen, Name: "db", Mode: "tcp", Servers: 1,
					Binds: []Bind{{Loc: at(b, 26), Section: SectionListen, Proxy: "db", Spec: "ipv4@192.0.2.12:5432"}}},
			},
		},
	}
	if d := cmp.Diff(want, files); d != "" {
		t.Errorf("ReadConfigFiles (-want +got):\n%s", d)
	}
}

func TestReadConfigFilesErrors(t *testing.T) {
	paths := writeCfgs(t, "global\n    maxconn 10\n", "frontend web\n    garbage here\n    bind :80\n")
	files, err := ReadConfigFiles(paths...)
	if err != nil {
		t.Fatal(err)
	}
	// The parser skips what it does not know (haproxy -c judges that): the rest is read.
	if files[1].ParseErr != nil || len(files[1].Proxies) != 1 || files[1].Proxies[0].Binds[0].Line != 3 {
		t.Errorf("a file with an unknown keyword: %+v", files[1])
	}
	_, err = ReadConfigFiles(paths[0], filepath.Join(t.TempDir(), "missing.cfg"))
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want a *fs.PathError", err)
	}
}

func TestParseBindAddrs(t *testing.T) {
	v4 := func(raw, a string, port ...int) BindAddr {
		b := BindAddr{Raw: raw, Addr: netip.MustParseAddr(a)}
		if len(port) > 0 {
			b.Port, b.PortEnd = port[0], port[len(port)-1]
		}
		return b
	}
	for _, tc := range []struct {
		spec string
		want []BindAddr
	}{
		{"192.0.2.1:80", []BindAddr{v4("192.0.2.1:80", "192.0.2.1", 80)}},
		{":80,*:81,0.0.0.0:82", []BindAddr{{Raw: ":80", Any4: true, Port: 80, PortEnd: 80}, {Raw: "*:81", Any4: true, Port: 81, PortEnd: 81}, {Raw: "0.0.0.0:82", Any4: true, Port: 82, PortEnd: 82}}},
		{"ipv6@:::80,[::]:81,[0::0]:82", []BindAddr{{Raw: "ipv6@:::80", Any4: true, Any6: true, Port: 80, PortEnd: 80}, {Raw: "[::]:81", Any4: true, Any6: true, Port: 81, PortEnd: 81}, {Raw: "[0::0]:82", Any4: true, Any6: true, Port: 82, PortEnd: 82}}},
		{"[2001:db8::5]:443", []BindAddr{{Raw: "[2001:db8::5]:443", Addr: netip.MustParseAddr("2001:db8::5"), Port: 443, PortEnd: 443}}},
		{"[::ffff:192.0.2.9]:80", []BindAddr{v4("[::ffff:192.0.2.9]:80", "192.0.2.9", 80)}},
		{"tcp4@192.0.2.2:80,quic4@192.0.2.3:443", []BindAddr{v4("tcp4@192.0.2.2:80", "192.0.2.2", 80), v4("quic4@192.0.2.3:443", "192.0.2.3", 443)}},
		{"192.0.2.5:1000-1010", []BindAddr{v4("192.0.2.5:1000-1010", "192.0.2.5", 1000, 1010)}},
		{"192.0.2.6:${PORT}", []BindAddr{v4("192.0.2.6:${PORT}", "192.0.2.6")}},
		{"unix@/run/x.sock,/run/y.sock,abns@z,fd@3,sockpair@4,${VIP}:80,example.org:80,nocolon", nil},
	} {
		if d := cmp.Diff(tc.want, ParseBindAddrs(tc.spec), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
			t.Errorf("ParseBindAddrs(%q) (-want +got):\n%s", tc.spec, d)
		}
	}
}

// TestReadConfigFilesConcurrent: client-native's parser writes a package-level variable
// for every defaults section it reads, so parses that overlap race; under -race this
// fails if ReadConfigFiles stops holding parserMu.
func TestReadConfigFilesConcurrent(t *testing.T) {
	paths := writeCfgs(t, readerGlobal, readerProxies)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			files, err := ReadConfigFiles(paths...)
			if err == nil && (len(files) != 2 || len(files[1].Proxies) != 3) {
				err = errors.New("proxies lost in a concurrent read")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestLocString(t *testing.T) {
	for _, tc := range []struct {
		l    Loc
		want string
	}{{Loc{"h.cfg", 3}, "h.cfg:3"}, {Loc{"h.cfg", 0}, "h.cfg"}} {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("%#v: %q, want %q", tc.l, got, tc.want)
		}
	}
}
