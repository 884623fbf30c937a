package haproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	parser "github.com/haproxytech/client-native/v6/config-parser"
	"github.com/haproxytech/client-native/v6/config-parser/options"
	"github.com/haproxytech/client-native/v6/config-parser/types"
)

// ErrInvalid is matched (errors.Is) by every *ValidationError.
var ErrInvalid = errors.New("invalid haproxy configuration")

// Severity of a Finding.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"   // the configuration is refused
	SeverityWarning Severity = "warning" // accepted, but something will go wrong one day
)

// Finding is one problem in haproxy.cfg, located by file and line (0 when unknown).
type Finding struct {
	File     string
	Line     int
	Severity Severity
	Msg      string
}

func (f Finding) String() string {
	loc := f.File
	if f.Line > 0 {
		loc += ":" + strconv.Itoa(f.Line)
	}
	if loc == "" {
		return string(f.Severity) + ": " + f.Msg
	}
	return loc + ": " + string(f.Severity) + ": " + f.Msg
}

// Report is the outcome of validating the configuration files.
type Report struct {
	// Files are the configuration files read, in HAProxy's order (directories expanded).
	Files []string
	// Findings are HAProxy's own alerts and warnings that name a place, then the lint's.
	Findings []Finding
	// Output is `haproxy -c`'s output, as HAProxy wrote it.
	Output string
	// HAProxyOK is whether `haproxy -c` accepted the files.
	HAProxyOK bool
}

// Errors returns the findings of severity error.
func (r Report) Errors() []Finding { return r.filter(SeverityError) }

// Warnings returns the findings of severity warning.
func (r Report) Warnings() []Finding { return r.filter(SeverityWarning) }

func (r Report) filter(s Severity) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Severity == s {
			out = append(out, f)
		}
	}
	return out
}

// Err returns a *ValidationError when the configuration is refused, else nil.
func (r Report) Err() error {
	if r.HAProxyOK && len(r.Errors()) == 0 {
		return nil
	}
	return &ValidationError{Report: r}
}

// ValidationError is a configuration that `haproxy -c` or the lint refused.
type ValidationError struct{ Report Report }

// Error lists the errors one a line, HAProxy's own message first.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("haproxy: invalid configuration")
	if !e.Report.HAProxyOK {
		alerts := alertLines(e.Report.Output)
		if len(alerts) == 0 {
			alerts = []string{strings.TrimSpace(e.Report.Output)}
		}
		for _, a := range alerts {
			b.WriteString("\n  " + a)
		}
	}
	for _, f := range e.Report.Findings {
		if f.Severity == SeverityError && f.Msg != "" && !strings.HasPrefix(f.Msg, "haproxy -c: ") {
			b.WriteString("\n  " + f.String())
		}
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// environment is what the lint reads from the host, injectable for tests.
type environment struct {
	// sysctl reads a value under /proc/sys of the current network namespace
	// ("net/ipv4/ip_nonlocal_bind").
	sysctl func(name string) (string, error)
	// localAddrs lists the addresses of this network namespace.
	localAddrs func() ([]netip.Prefix, error)
}

func hostEnvironment() environment {
	return environment{
		sysctl: func(name string) (string, error) {
			b, err := os.ReadFile(filepath.Join("/proc/sys", name))
			return strings.TrimSpace(string(b)), err
		},
		localAddrs: func() ([]netip.Prefix, error) {
			addrs, err := net.InterfaceAddrs()
			if err != nil {
				return nil, err
			}
			var out []netip.Prefix
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					out = append(out, p)
				}
			}
			return out, nil
		},
	}
}

// validator runs `haproxy -c` and the lint.
type validator struct {
	cfg Config
	env environment
}

// parserMu serialises the config parser across the process: client-native's parser
// writes a package-level variable (DefaultSectionName) while it reads a defaults section,
// so no two parses may overlap, whichever Manager or caller runs them. It is the one
// package-level variable here, and it exists only to guard that one of the library.
var parserMu sync.Mutex

// ValidateFiles checks the haproxy.cfg files of cfg (after ApplyDefaults): `haproxy -c`
// with HAProxy's own messages kept, then halo's lint (a stats socket with level admin at
// cfg.StatsSocket, binds on addresses this host does not have, what seamless reloads
// need, the checked proxies exist). The error is a *ValidationError when the files are
// refused, or another error when they could not be checked at all; the Report carries
// the warnings either way. It is what `halod -t` runs.
func ValidateFiles(ctx context.Context, cfg Config) (Report, error) {
	v := validator{cfg: cfg, env: hostEnvironment()}
	return v.validate(ctx)
}

func (v validator) validate(ctx context.Context) (Report, error) {
	var r Report
	files, err := expandFiles(v.cfg.Config)
	if err != nil {
		return r, err
	}
	r.Files = files
	out, ok, err := v.haproxyCheck(ctx)
	if err != nil {
		return r, err
	}
	r.Output, r.HAProxyOK = out, ok
	r.Findings = append(r.Findings, haproxyFindings(out, ok)...)
	lint, err := v.lint(files)
	if err != nil {
		return r, err
	}
	r.Findings = append(r.Findings, lint...)
	return r, r.Err()
}

// haproxyCheck runs `haproxy -c -f ...`: ok reports HAProxy's verdict, err that it could
// not be run.
func (v validator) haproxyCheck(ctx context.Context) (string, bool, error) {
	args := []string{"-c"}
	for _, f := range v.cfg.Config {
		args = append(args, "-f", f)
	}
	cmd := exec.CommandContext(ctx, v.cfg.Binary, args...)
	cmd.Env = childEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.String(), false, fmt.Errorf("haproxy: %s -c: %w", v.cfg.Binary, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), false, nil
	}
	if err != nil {
		return out.String(), false, fmt.Errorf("haproxy: run %s -c: %w", v.cfg.Binary, err)
	}
	return out.String(), true, nil
}

// placeRe finds HAProxy's "parsing [file:line]" and "config : [file:line]" locations.
var placeRe = regexp.MustCompile(`\[([^\[\]:]+):(\d+)\]`)

// haproxyFindings turns `haproxy -c` alerts and warnings into findings.
func haproxyFindings(out string, ok bool) []Finding {
	var fs []Finding
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		sev := Severity("")
		switch {
		case strings.HasPrefix(line, "[ALERT]"):
			sev = SeverityError
		case strings.HasPrefix(line, "[WARNING]"):
			sev = SeverityWarning
		default:
			continue
		}
		msg := stripLogPrefix(line)
		f := Finding{Severity: sev, Msg: "haproxy -c: " + msg}
		if m := placeRe.FindStringSubmatch(msg); m != nil {
			f.File = m[1]
			f.Line, _ = strconv.Atoi(m[2])
		}
		fs = append(fs, f)
	}
	if !ok && len(fs) == 0 {
		fs = append(fs, Finding{Severity: SeverityError, Msg: "haproxy -c: " + strings.TrimSpace(out)})
	}
	return fs
}

// stripLogPrefix turns "[ALERT]    (123) : config : x" into "config : x".
func stripLogPrefix(line string) string {
	if i := strings.Index(line, ") : "); i >= 0 && strings.HasPrefix(line, "[") {
		return line[i+4:]
	}
	if i := strings.Index(line, "] "); i >= 0 && strings.HasPrefix(line, "[") {
		return strings.TrimSpace(line[i+2:])
	}
	return line
}

func alertLines(out string) []string {
	var a []string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[ALERT]") {
			a = append(a, line)
		}
	}
	return a
}

// expandFiles lists the files HAProxy reads for these -f arguments: a directory stands
// for its *.cfg files in lexical order.
func expandFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("haproxy: config: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("haproxy: config: %w", err)
		}
		var names []string
		for _, e := range ents {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".cfg") {
				names = append(names, e.Name())
			}
		}
		slices.Sort(names)
		for _, n := range names {
			out = append(out, filepath.Join(p, n))
		}
	}
	return out, nil
}

// parsedFile is one haproxy.cfg read by client-native's parser, with a line index.
type parsedFile struct {
	path string
	p    parser.Parser
	idx  lineIndex
}

// lint reads every file with client-native's config-parser and reports what `haproxy -c`
// does not: it never binds, never reads sysctls and knows nothing of halo.
func (v validator) lint(files []string) ([]Finding, error) {
	var parsed []parsedFile
	var fs []Finding
	parserMu.Lock()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			parserMu.Unlock()
			return nil, fmt.Errorf("haproxy: config: %w", err)
		}
		p, err := parser.New(options.Reader(bytes.NewReader(data)), options.UseListenSectionParsers)
		if err != nil {
			fs = append(fs, Finding{File: f, Severity: SeverityError, Msg: "config parser: " + err.Error()})
			continue
		}
		parsed = append(parsed, parsedFile{path: f, p: p, idx: indexLines(data)})
	}
	parserMu.Unlock()
	fs = append(fs, v.lintStatsSocket(parsed)...)
	if v.cfg.Mode == Managed {
		fs = append(fs, lintDaemon(parsed)...)
	}
	fs = append(fs, v.lintBinds(parsed)...)
	fs = append(fs, lintIdleClose(parsed)...)
	fs = append(fs, v.lintChecked(parsed)...)
	return fs, nil
}

// lintStatsSocket: halo reads health through the stats socket, at the path halo.yaml
// names, and needs level admin for server state commands.
func (v validator) lintStatsSocket(files []parsedFile) []Finding {
	want := v.cfg.StatsSocket
	if want == "" {
		return nil
	}
	add := fmt.Sprintf("add \"stats socket %s mode 660 level admin\" to the global section", want)
	var others []string
	var first Finding
	for _, f := range files {
		d, err := f.p.Get(parser.Global, parser.GlobalSectionName, "stats socket")
		if err != nil {
			continue
		}
		socks, _ := d.([]types.Socket)
		for _, s := range socks {
			path := strings.TrimPrefix(s.Path, "unix@")
			line := f.idx.find("global", "", "stats", "socket", s.Path)
			if path != want {
				others = append(others, path)
				if first.File == "" {
					first = Finding{File: f.path, Line: line}
				}
				continue
			}
			level := ""
			for _, o := range s.Params {
				if k, val, ok := strings.Cut(o.String(), " "); ok && k == "level" {
					level = val
				}
			}
			if level == "admin" {
				return nil
			}
			if level == "" {
				level = "not set"
			}
			return []Finding{{File: f.path, Line: line, Severity: SeverityError,
				Msg: fmt.Sprintf("stats socket %s: level %s; halo needs level admin: append \"level admin\" to that line", want, level)}}
		}
	}
	if len(others) > 0 {
		first.Severity = SeverityError
		first.Msg = fmt.Sprintf("stats socket %s does not match halo.yaml haproxy.stats_socket %s: change one of them, or %s", strings.Join(others, ", "), want, add)
		return []Finding{first}
	}
	f := Finding{Severity: SeverityError, Msg: "no stats socket: halo judges HAProxy's health through it: " + add}
	if len(files) > 0 {
		f.File = files[0].path
		f.Line = files[0].idx.section("global", "")
	}
	return []Finding{f}
}

// exposesListeners reports whether the stats socket at cfg.StatsSocket is declared with
// "expose-fd listeners": a new HAProxy started with -x on it then takes the listening
// sockets themselves from the running worker, instead of binding beside them.
func (v validator) exposesListeners() (bool, error) {
	if v.cfg.StatsSocket == "" {
		return false, nil
	}
	files, err := expandFiles(v.cfg.Config)
	if err != nil {
		return false, err
	}
	parserMu.Lock()
	defer parserMu.Unlock()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return false, fmt.Errorf("haproxy: config: %w", err)
		}
		p, err := parser.New(options.Reader(bytes.NewReader(data)), options.UseListenSectionParsers)
		if err != nil {
			return false, fmt.Errorf("haproxy: config %s: %w", f, err)
		}
		d, err := p.Get(parser.Global, parser.GlobalSectionName, "stats socket")
		if err != nil {
			continue
		}
		socks, _ := d.([]types.Socket)
		for _, s := range socks {
			if strings.TrimPrefix(s.Path, "unix@") != v.cfg.StatsSocket {
				continue
			}
			for _, o := range s.Params {
				if strings.Join(strings.Fields(o.String()), " ") == "expose-fd listeners" {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// lintDaemon: in managed mode HAProxy must stay in the foreground under halod.
func lintDaemon(files []parsedFile) []Finding {
	var fs []Finding
	for _, f := range files {
		if _, err := f.p.Get(parser.Global, parser.GlobalSectionName, "daemon"); err == nil {
			fs = append(fs, Finding{File: f.path, Line: f.idx.find("global", "", "daemon"), Severity: SeverityError,
				Msg: "\"daemon\" in global: in managed mode halod runs HAProxy in the foreground and would see it exit at once; remove the line"})
		}
	}
	return fs
}

// lintBinds: an address this namespace does not have (a VIP that only the VRRP master
// holds) cannot be bound unless net.ipv4.ip_nonlocal_bind=1 (ipv6 likewise) or the bind
// line says transparent (HAProxy sets IP_TRANSPARENT or, failing that, IP_FREEBIND on the
// socket; 2.6 has no separate freebind keyword); `haproxy -c` does not bind, so it cannot
// tell.
func (v validator) lintBinds(files []parsedFile) []Finding {
	local, lerr := v.env.localAddrs()
	var fs []Finding
	for _, f := range files {
		for _, sec := range []parser.Section{parser.Frontends, parser.Listen} {
			names, _ := f.p.SectionsGet(sec)
			for _, name := range names {
				d, err := f.p.Get(sec, name, "bind")
				if err != nil {
					continue
				}
				binds, _ := d.([]types.Bind)
				for _, b := range binds {
					if hasWord(b, "transparent", "freebind") {
						continue
					}
					for _, a := range bindAddrs(b.Path) {
						if lerr == nil && isLocal(a, local) {
							continue
						}
						key := "net/ipv4/ip_nonlocal_bind"
						if a.Is6() {
							key = "net/ipv6/ip_nonlocal_bind"
						}
						val, err := v.env.sysctl(key)
						if err == nil && val == "1" {
							continue
						}
						state := "is " + val
						if err != nil {
							state = "cannot be read (" + err.Error() + ")"
						}
						sysctl := strings.ReplaceAll(key, "/", ".")
						fs = append(fs, Finding{File: f.path, Line: f.idx.find(string(sec), name, "bind", b.Path), Severity: SeverityError,
							Msg: fmt.Sprintf("%s %s: bind %s: %s is not an address of this host (a VIP held only by the VRRP master?) and %s %s here: "+
								"set %s=1 (sysctl -w, and in /etc/sysctl.d) or add \"transparent\" to the bind line (IP_TRANSPARENT/IP_FREEBIND)", sec, name, b.Path, a, sysctl, state, sysctl)})
					}
				}
			}
		}
	}
	return fs
}

func hasWord(b types.Bind, words ...string) bool {
	for _, o := range b.Params {
		if slices.Contains(words, o.String()) {
			return true
		}
	}
	return false
}

// bindAddrs returns the IP literals of a bind address list ("192.0.2.1:80",
// "ipv4@192.0.2.1:80,[2001:db8::1]:443"); wildcards, unix sockets, fds and host names are
// left out.
func bindAddrs(spec string) []netip.Addr {
	var out []netip.Addr
	for _, a := range strings.Split(spec, ",") {
		a = strings.TrimSpace(a)
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
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.IsUnspecified() {
			continue
		}
		out = append(out, ip.Unmap())
	}
	return out
}

func isLocal(a netip.Addr, local []netip.Prefix) bool {
	if a.IsLoopback() {
		return true
	}
	for _, p := range local {
		if p.Addr().Unmap() == a {
			return true
		}
	}
	return false
}

// lintIdleClose: on a reload the old worker closes its idle keep-alive connections, and a
// client that sends its next request on one at that instant gets the connection closed
// without an answer. `option idle-close-on-response` (HAProxy 2.6+) makes the old worker
// wait for that request, answer it with "Connection: close" and only then close.
func lintIdleClose(files []parsedFile) []Finding {
	var fs []Finding
	for _, f := range files {
		for _, sec := range []parser.Section{parser.Frontends, parser.Listen} {
			names, _ := f.p.SectionsGet(sec)
			for _, name := range names {
				if effectiveMode(f.p, sec, name) != "http" {
					continue
				}
				if on, line := idleClose(f, sec, name); !on {
					if line == 0 {
						line = f.idx.section(string(sec), name)
					}
					fs = append(fs, Finding{File: f.path, Line: line, Severity: SeverityWarning,
						Msg: fmt.Sprintf("%s %s: no \"option idle-close-on-response\": keep-alive clients can lose a request on every reload; add it to the defaults section", sec, name)})
				}
			}
		}
	}
	return fs
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
func idleClose(f parsedFile, sec parser.Section, name string) (bool, int) {
	for range 8 {
		if d, err := f.p.Get(sec, name, "option idle-close-on-response"); err == nil {
			if o, ok := d.(*types.SimpleOption); ok {
				if o.NoOption {
					return false, f.idx.find(sectionWord(sec), name, "no", "option", "idle-close-on-response")
				}
				return true, 0
			}
		}
		from, err := f.p.SectionsDefaultsFromGet(sec, name)
		if err != nil || from == "" {
			return false, 0
		}
		sec, name = parser.Defaults, from
	}
	return false, 0
}

func sectionWord(s parser.Section) string { return string(s) }

// lintChecked: the frontends and backends halo.yaml checks must exist.
func (v validator) lintChecked(files []parsedFile) []Finding {
	has := func(secs []parser.Section, name string) bool {
		for _, f := range files {
			for _, s := range secs {
				if f.p.SectionExists(s, name) {
					return true
				}
			}
		}
		return false
	}
	var fs []Finding
	for _, fe := range v.cfg.Check.Frontends {
		if !has([]parser.Section{parser.Frontends, parser.Listen}, fe) {
			fs = append(fs, Finding{Severity: SeverityError, File: firstFile(files),
				Msg: fmt.Sprintf("halo.yaml haproxy.check.frontends names %q, which is neither a frontend nor a listen section here", fe)})
		}
	}
	backends := make([]string, 0, len(v.cfg.Check.Backends))
	for b := range v.cfg.Check.Backends {
		backends = append(backends, b)
	}
	slices.Sort(backends)
	for _, be := range backends {
		if !has([]parser.Section{parser.Backends, parser.Listen}, be) {
			fs = append(fs, Finding{Severity: SeverityError, File: firstFile(files),
				Msg: fmt.Sprintf("halo.yaml haproxy.check.backends names %q, which is neither a backend nor a listen section here", be)})
		}
	}
	return fs
}

func firstFile(files []parsedFile) string {
	if len(files) == 0 {
		return ""
	}
	return files[0].path
}

// lineIndex finds the line of a directive, since the parser keeps none.
type lineIndex []indexedLine

type indexedLine struct {
	section, name string // the enclosing section, e.g. "frontend", "main"
	header        bool   // the section's own line
	words         []string
}

var sectionKeywords = []string{"global", "defaults", "frontend", "backend", "listen", "peers", "resolvers",
	"userlist", "mailers", "program", "http-errors", "ring", "cache", "log-forward", "fcgi-app", "crt-store", "traces"}

func indexLines(data []byte) lineIndex {
	var idx lineIndex
	sec, name := "", ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		w := strings.Fields(line)
		if len(w) > 0 && slices.Contains(sectionKeywords, w[0]) {
			sec, name = w[0], ""
			if len(w) > 1 && w[1] != "from" {
				name = w[1]
			}
			idx = append(idx, indexedLine{section: sec, name: name, header: true})
			continue
		}
		idx = append(idx, indexedLine{section: sec, name: name, words: w})
	}
	return idx
}

// find returns the 1-based line of the first directive in section sec/name that starts
// with words, or the section's own line, or 0.
func (idx lineIndex) find(sec, name string, words ...string) int {
	for i, l := range idx {
		if l.section == sec && !l.header && (name == "" || l.name == name) && len(l.words) >= len(words) && slices.Equal(l.words[:len(words)], words) {
			return i + 1
		}
	}
	return idx.section(sec, name)
}

// section returns the 1-based line of a section header, or 0.
func (idx lineIndex) section(sec, name string) int {
	for i, l := range idx {
		if l.section == sec && l.header && (name == "" || l.name == name) {
			return i + 1
		}
	}
	return 0
}
