package supervisor

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/halo-lb/halo/haproxy"
)

// Warning is something `halod -t` reports without refusing the configuration (exit 0;
// `halod -t --strict` refuses it): it would run, but not as the operator meant.
type Warning struct {
	File  string
	Line  int    // 0 when unknown
	Field string // "vrrp.instances[0].interface", or a haproxy.cfg directive
	Msg   string
}

// String is "file:line: warning: field: message", as haproxy.Finding prints its own.
func (w Warning) String() string {
	loc := w.File
	if w.Line > 0 {
		loc += ":" + strconv.Itoa(w.Line)
	}
	return loc + ": warning: " + w.Field + ": " + w.Msg
}

// Host is what the warnings compare the configuration with; ReadHost reads this machine.
type Host struct {
	// LinkExists reports whether a network interface of that name exists.
	LinkExists func(name string) bool
	// LocalAddr reports whether an address is assigned to one of this host's interfaces.
	LocalAddr func(netip.Addr) bool
	// NoFile is the most file descriptors a HAProxy started by this halod can raise its
	// RLIMIT_NOFILE to; 0: unknown (no warning). NoFileFrom says where it comes from.
	NoFile     uint64
	NoFileFrom string
	// CPUs is the number of threads HAProxy starts when nbthread is not set.
	CPUs int
}

// Warnings checks cfg against the host: interfaces that do not exist, a unicast source
// that is no address of this host, and metrics listening on every address. halo.yaml's
// warnings only; HAProxyWarnings looks at haproxy.cfg.
func (c *Config) Warnings(h Host) []Warning {
	var out []Warning
	warn := func(field, format string, args ...any) {
		out = append(out, Warning{File: c.path, Line: c.lineOf(field), Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	noLink := func(field, name, effect string) {
		if name != "" && h.LinkExists != nil && !h.LinkExists(name) {
			warn(field, "%q: no such interface on this host (%s)", name, effect)
		}
	}
	for i, in := range c.VRRP.Instances {
		p := fmt.Sprintf("vrrp.instances[%d]", i)
		noLink(p+".interface", in.Interface, "the instance cannot start: halod retries it, with backoff, until the interface exists")
		for j, v := range in.VIPs {
			field := fmt.Sprintf("%s.vips[%d].dev", p, j)
			noLink(field, v.Dev, "the VIP cannot be added to it")
		}
		for j, ti := range in.TrackInterfaces {
			effect := "a missing tracked interface puts the instance in FAULT"
			if ti.Weight != 0 {
				effect = "a missing tracked interface counts as down: its weight applies"
			}
			noLink(fmt.Sprintf("%s.track_interfaces[%d]", p, j), ti.Name, effect)
		}
		if in.Unicast != nil && in.Unicast.Source != "" && h.LocalAddr != nil {
			if a, err := netip.ParseAddr(in.Unicast.Source); err == nil && !h.LocalAddr(a) {
				warn(p+".unicast.source", "%s is no address of this host: adverts cannot be sent from it (is this lb2's file on lb1?)", a)
			}
		}
	}
	if c.Metrics.Listen != "off" {
		host, port, err := net.SplitHostPort(c.Metrics.Listen)
		if err == nil && listensEverywhere(host) {
			written := ""
			if _, ok := c.lines["metrics.listen"]; !ok {
				written = " (the default)"
			}
			warn("metrics.listen", "%q%s listens on every address, the VIPs included, so whichever node holds a VIP answers for it: bind it to this node's own address, e.g. listen: \"192.0.2.11:%s\" (see configs/README.md)", c.Metrics.Listen, written, port)
		}
	}
	return out
}

// HAProxyWarnings compares HAProxy's need of file descriptors, from the global maxconn of
// the haproxy.cfg files read, with what it will get. Only in managed mode: an external
// HAProxy's limit is its own unit's, not halod's.
func (c *Config) HAProxyWarnings(files []string, h Host) []Warning {
	if c.HAProxy.Mode != haproxy.Managed || h.NoFile == 0 || len(files) == 0 {
		return nil
	}
	read, err := haproxy.ReadConfigFiles(files...)
	if err != nil {
		return nil // haproxy -c has said why already
	}
	need, mc, ok := haproxy.FDNeed(read, h.CPUs)
	if !ok || uint64(need) <= h.NoFile {
		return nil
	}
	fit := (int(h.NoFile) - (need - 2*atoi(mc.Value))) / 2
	return []Warning{{File: mc.File, Line: mc.Line, Field: "maxconn", Msg: fmt.Sprintf(
		"%s needs about %d file descriptors, and HAProxy can get at most %d (%s): it would refuse to start (\"Cannot raise FD limit\"); set maxconn %d or less, or raise LimitNOFILE= of halod's unit",
		mc.Value, need, h.NoFile, h.NoFileFrom, max(fit, 0))}}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// listensEverywhere: "", "*", "0.0.0.0", "::" and their other spellings.
func listensEverywhere(host string) bool {
	if host == "" || host == "*" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}

// CheckResult is the whole of `halod -t` past the parse of halo.yaml.
type CheckResult struct {
	// Findings are haproxy.cfg's, from `haproxy -c` and halo's lint, one line each;
	// HAProxyWarnings counts those that are warnings.
	Findings        []string
	HAProxyWarnings int
	// Warnings are halo's own about the host: halo.yaml's and HAProxy's limits.
	Warnings []Warning
	// Files are the haproxy.cfg files read.
	Files []string
	// Err is set when haproxy.cfg is invalid or could not be checked.
	Err error
}

// Check runs every check of `halod -t` on a loaded configuration, against host h.
func Check(ctx context.Context, cfg *Config, h Host) CheckResult {
	report, findings, files, err := checkHAProxy(ctx, cfg)
	r := CheckResult{Findings: findings, HAProxyWarnings: len(report.Warnings()), Files: files, Err: err}
	r.Warnings = append(cfg.Warnings(h), cfg.HAProxyWarnings(files, h)...)
	return r
}
