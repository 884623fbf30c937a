package haproxy

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	parser "github.com/haproxytech/client-native/v6/config-parser"
	"github.com/haproxytech/client-native/v6/config-parser/options"
	"github.com/haproxytech/client-native/v6/config-parser/types"
)

// parserMu serialises the config parser across the process: client-native's parser
// writes a package-level variable (DefaultSectionName) while it reads a defaults section,
// so no two parses may overlap, whichever Manager, importer or caller runs them. It is
// the one package-level variable here, and it exists only to guard that one of the
// library. ReadConfigFiles is the only place that parses.
var parserMu sync.Mutex

// Loc is a place in a configuration file; Line is 1-based, 0 when unknown.
type Loc struct {
	File string
	Line int
}

func (l Loc) String() string {
	if l.Line == 0 {
		return l.File
	}
	return l.File + ":" + strconv.Itoa(l.Line)
}

// ConfigFile is one haproxy.cfg file as halo reads it: what the lint, the takeover and
// the keepalived importer need, each item with its place. The parser keeps no line
// numbers, so they come from a scan of the text beside it.
type ConfigFile struct {
	Path string
	// ParseErr is the config-parser's refusal of the file; nothing below is set then.
	// v6.2.0 refuses nothing it reads from memory (it skips what it does not know, and
	// `haproxy -c` judges that), but its API may, and a refusal is no reason to stop.
	ParseErr error
	Global   Global
	// StatsSockets are the global section's "stats socket" lines, in file order.
	StatsSockets []StatsSocket
	// Proxies are the frontend, backend and listen sections, in file order.
	Proxies []Proxy
}

// Global is what halo reads of the global section. A nil setting is absent.
type Global struct {
	Loc // the section's own line; Line 0: the file has no global section
	Daemon,
	Maxconn,
	User,
	Group,
	Chroot,
	Nbthread *Setting
	// Logs are the "log" lines, their arguments as written.
	Logs []Setting
}

// Setting is one directive's value (its arguments after the keyword) and place.
type Setting struct {
	Loc
	Value string
}

// StatsSocket is one "stats socket" line.
type StatsSocket struct {
	Loc
	// Path is the address as written: a path, "unix@/path", "ipv4@:9999"...
	Path string
	// Level is the last "level" given ("user", "operator", "admin"), "" when none: HAProxy
	// takes the last one too.
	Level string
	// ExposeFD: "expose-fd listeners", so that a new HAProxy started with -x on this
	// socket takes the listening sockets from the running worker.
	ExposeFD bool
	// Params are the options after the path, each as "keyword value".
	Params []string
}

// Proxy sections.
const (
	SectionFrontend = string(parser.Frontends)
	SectionBackend  = string(parser.Backends)
	SectionListen   = string(parser.Listen)
)

// Proxy is a frontend, backend or listen section.
type Proxy struct {
	Loc            // the section's own line
	Section string // SectionFrontend, SectionBackend or SectionListen
	Name    string
	// Mode is the effective mode, its own or its defaults section's: "http", "tcp" (also
	// when unset, as HAProxy defaults to tcp).
	Mode string
	// IdleClose: "option idle-close-on-response" is on, in the section or its defaults.
	IdleClose bool
	// IdleCloseOff is the "no option idle-close-on-response" line that turns it off, 0
	// when none does.
	IdleCloseOff int
	// DefaultBackend is the default_backend of a frontend or listen section.
	DefaultBackend string
	// Servers counts the server lines of a backend or listen section.
	Servers int
	Binds   []Bind
}

// Bind is one bind line of a frontend or listen section.
type Bind struct {
	Loc
	Section, Proxy string
	// Spec is the address list as written ("192.0.2.1:80,[2001:db8::1]:80").
	Spec string
	// Params are the options after the addresses ("transparent", "ssl", "crt x.pem").
	Params []string
}

// Addrs is the address list of the bind line, parsed.
func (b Bind) Addrs() []BindAddr { return ParseBindAddrs(b.Spec) }

// BindAddr is one address of a bind line's list.
type BindAddr struct {
	// Raw is the entry as written, family prefix included.
	Raw string
	// Addr is the address bound, IPv4-mapped ones unmapped; zero for a wildcard.
	Addr netip.Addr
	// Any4, Any6: a wildcard that covers every IPv4 / IPv6 address of the host.
	Any4, Any6 bool
	// Port, PortEnd are the port range ("80": 80, 80; "8000-8010"); 0 when not a number
	// (an environment variable).
	Port, PortEnd int
}

// ParseBindAddrs reads the IP entries of a bind address list ("192.0.2.1:80",
// "ipv4@192.0.2.1:80,[2001:db8::1]:443", ":443", "*:80", "ipv6@:::80"). Unix sockets,
// fds, host names and addresses given by environment variables are left out, as they
// name no IP halo can compare.
func ParseBindAddrs(spec string) []BindAddr {
	var out []BindAddr
	for _, raw := range strings.Split(spec, ",") {
		a := strings.TrimSpace(raw)
		if proto, rest, ok := strings.Cut(a, "@"); ok {
			switch proto {
			case "ipv4", "ipv6", "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "quic4", "quic6":
				a = rest
			default:
				continue // unix@, abns@, fd@, sockpair@...
			}
		}
		if strings.HasPrefix(a, "/") {
			continue
		}
		i := strings.LastIndexByte(a, ':')
		if i < 0 {
			continue
		}
		host := strings.TrimSuffix(strings.TrimPrefix(a[:i], "["), "]")
		b := BindAddr{Raw: raw}
		lo, hi, isRange := strings.Cut(a[i+1:], "-")
		if !isRange {
			hi = lo
		}
		if p, err := strconv.Atoi(lo); err == nil && p > 0 && p < 65536 {
			if q, err := strconv.Atoi(hi); err == nil && q >= p && q < 65536 {
				b.Port, b.PortEnd = p, q
			}
		}
		switch host {
		case "", "*", "0.0.0.0":
			b.Any4 = true
		case "::":
			b.Any4, b.Any6 = true, true // IPv4-mapped too, with the default bindv6only=0
		default:
			ip, err := netip.ParseAddr(host)
			if err != nil {
				continue
			}
			if ip.IsUnspecified() { // "0::0" and the like
				b.Any4, b.Any6 = true, ip.Is6()
				break
			}
			b.Addr = ip.Unmap()
		}
		out = append(out, b)
	}
	return out
}

// ReadConfigFiles reads and parses each file once, all under the process-wide parser
// lock. A file that cannot be read is an error (wrapping its *fs.PathError); one the
// parser refuses comes back with ParseErr set.
func ReadConfigFiles(paths ...string) ([]*ConfigFile, error) {
	parserMu.Lock()
	defer parserMu.Unlock()
	out := make([]*ConfigFile, 0, len(paths))
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("haproxy: config: %w", err)
		}
		out = append(out, readConfig(path, data))
	}
	return out, nil
}

// readConfig parses one file; parserMu must be held, since parser.New writes the
// library's package-level state. Everything is read out before the lock is released,
// so no caller ever holds a parser.
func readConfig(path string, data []byte) *ConfigFile {
	f := &ConfigFile{Path: path}
	p, err := parser.New(options.Reader(bytes.NewReader(data)), options.UseListenSectionParsers)
	if err != nil {
		f.ParseErr = err
		return f
	}
	idx := indexLines(data)
	f.Global = readGlobal(p, idx, path)
	f.StatsSockets = readStatsSockets(p, idx, path)
	for _, sec := range []parser.Section{parser.Frontends, parser.Backends, parser.Listen} {
		names, _ := p.SectionsGet(sec)
		for _, name := range names {
			f.Proxies = append(f.Proxies, readProxy(p, idx, path, sec, name))
		}
	}
	// SectionsGet walks a map: file order makes every caller's output stable.
	slices.SortStableFunc(f.Proxies, func(a, b Proxy) int { return a.Line - b.Line })
	return f
}

func readGlobal(p parser.Parser, idx lineIndex, path string) Global {
	g := Global{Loc: Loc{path, idx.section("global", "")}}
	setting := func(key string) *Setting {
		d, err := p.Get(parser.Global, parser.GlobalSectionName, key)
		if err != nil {
			return nil
		}
		s := &Setting{Loc: Loc{path, idx.find("global", "", key)}}
		switch v := d.(type) {
		case *types.StringC:
			s.Value = v.Value
		case *types.Int64C:
			s.Value = strconv.FormatInt(v.Value, 10)
		}
		return s
	}
	g.Daemon, g.Maxconn, g.User, g.Group, g.Chroot = setting("daemon"), setting("maxconn"), setting("user"), setting("group"), setting("chroot")
	g.Nbthread = setting("nbthread")
	// The parser splits log lines into a dozen fields; the text as written is what an
	// operator recognises, so it comes from the scan.
	for _, line := range idx.findAll("global", "", "log") {
		g.Logs = append(g.Logs, Setting{Loc: Loc{path, line}, Value: strings.Join(idx[line-1].words[1:], " ")})
	}
	return g
}

func readStatsSockets(p parser.Parser, idx lineIndex, path string) []StatsSocket {
	d, err := p.Get(parser.Global, parser.GlobalSectionName, "stats socket")
	if err != nil {
		return nil
	}
	socks, _ := d.([]types.Socket)
	seen := map[string]int{}
	var out []StatsSocket
	for _, s := range socks {
		lines := idx.findAll("global", "", "stats", "socket", s.Path)
		n := seen[s.Path]
		seen[s.Path]++
		ss := StatsSocket{Loc: Loc{path, idx.section("global", "")}, Path: s.Path}
		if n < len(lines) {
			ss.Line = lines[n]
		}
		for _, o := range s.Params {
			w := strings.Join(strings.Fields(o.String()), " ")
			ss.Params = append(ss.Params, w)
			if k, v, ok := strings.Cut(w, " "); ok && k == "level" {
				ss.Level = v
			}
			if w == "expose-fd listeners" {
				ss.ExposeFD = true
			}
		}
		out = append(out, ss)
	}
	return out
}

func readProxy(p parser.Parser, idx lineIndex, path string, sec parser.Section, name string) Proxy {
	px := Proxy{Loc: Loc{path, idx.section(string(sec), name)}, Section: string(sec), Name: name}
	px.Mode = effectiveMode(p, sec, name)
	px.IdleClose, px.IdleCloseOff = idleClose(p, idx, sec, name)
	if sec != parser.Backends {
		if d, err := p.Get(sec, name, "default_backend"); err == nil {
			if s, ok := d.(*types.StringC); ok {
				px.DefaultBackend = s.Value
			}
		}
		d, _ := p.Get(sec, name, "bind")
		binds, _ := d.([]types.Bind)
		seen := map[string]int{}
		for _, b := range binds {
			lines := idx.findAll(string(sec), name, "bind", b.Path)
			n := seen[b.Path]
			seen[b.Path]++
			bl := Bind{Loc: px.Loc, Section: px.Section, Proxy: name, Spec: b.Path}
			if n < len(lines) {
				bl.Line = lines[n]
			}
			for _, o := range b.Params {
				bl.Params = append(bl.Params, o.String())
			}
			px.Binds = append(px.Binds, bl)
		}
	}
	if sec != parser.Frontends {
		if d, err := p.Get(sec, name, "server"); err == nil {
			srv, _ := d.([]types.Server)
			px.Servers = len(srv)
		}
	}
	return px
}

// effectiveMode is a proxy's mode, from its own section or its defaults (tcp when unset).
func effectiveMode(p parser.Parser, sec parser.Section, name string) string {
	for range 8 { // defaults chains are short; the bound stops a loop
		if d, err := p.Get(sec, name, "mode"); err == nil {
			if m, ok := d.(*types.StringC); ok {
				return m.Value
			}
		}
		from, err := p.SectionsDefaultsFromGet(sec, name)
		if err != nil || from == "" {
			return "tcp"
		}
		sec, name = parser.Defaults, from
	}
	return "tcp"
}

// idleClose reports whether the option is on for a proxy, and the line that turns it off.
func idleClose(p parser.Parser, idx lineIndex, sec parser.Section, name string) (bool, int) {
	for range 8 {
		if d, err := p.Get(sec, name, "option idle-close-on-response"); err == nil {
			if o, ok := d.(*types.SimpleOption); ok {
				if o.NoOption {
					return false, idx.find(string(sec), name, "no", "option", "idle-close-on-response")
				}
				return true, 0
			}
		}
		from, err := p.SectionsDefaultsFromGet(sec, name)
		if err != nil || from == "" {
			return false, 0
		}
		sec, name = parser.Defaults, from
	}
	return false, 0
}
