package haproxy

import (
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
	// listeners lists the TCP sockets listening in this network namespace, with the
	// process that holds each.
	listeners func() ([]listener, error)
}

func hostEnvironment() environment {
	return environment{
		sysctl: func(name string) (string, error) {
			b, err := os.ReadFile(filepath.Join("/proc/sys", name))
			return strings.TrimSpace(string(b)), err
		},
		listeners: hostListeners,
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
