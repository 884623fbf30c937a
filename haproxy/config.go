package haproxy

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"
)

// Mode says whether halod runs HAProxy or only talks to one run by something else.
type Mode string

const (
	// Managed: halod starts HAProxy in master-worker mode, restarts and stops it.
	Managed Mode = "managed"
	// External: HAProxy runs elsewhere; halod only uses its master and stats sockets.
	External Mode = "external"
)

// Config is the haproxy section of halo.yaml.
type Config struct {
	// Mode is managed (default) or external.
	Mode Mode `yaml:"mode"`
	// Binary is the haproxy executable (default /usr/sbin/haproxy); also used for
	// `haproxy -c` validation in external mode.
	Binary string `yaml:"binary"`
	// Config lists configuration files or directories, each passed as -f
	// (default [/etc/haproxy/haproxy.cfg]).
	Config []string `yaml:"config"`
	// MasterSocket is the master CLI socket (default /run/halo/haproxy-master.sock); in
	// managed mode halod passes it with -S.
	MasterSocket string `yaml:"master_socket"`
	// StatsSocket is the runtime API socket declared in haproxy.cfg with level admin
	// (default /run/haproxy/admin.sock). In external mode, when master_socket is given and
	// stats_socket is not, there is no default: the checks reach the current worker
	// through the master CLI (@1), for an HAProxy that shares only its master socket.
	StatsSocket string `yaml:"stats_socket"`
	// Check tunes the health check.
	Check CheckConfig `yaml:"check"`
	// ReloadTimeout bounds a reload, from the request until the new worker is verified
	// (default 10s).
	ReloadTimeout time.Duration `yaml:"reload_timeout"`
	// StopTimeout is how long a managed HAProxy may take to finish its connections on
	// shutdown before it is killed (default 10s).
	StopTimeout time.Duration `yaml:"stop_timeout"`
	// Restart is the backoff for restarting a managed HAProxy that exited.
	Restart RestartConfig `yaml:"restart"`
	// RestartInPlace is what a crash of a managed HAProxy costs: restarted at once on
	// the listening sockets halod holds, the VIP kept (see RestartInPlaceConfig).
	RestartInPlace RestartInPlaceConfig `yaml:"restart_in_place"`

	// OwnAddrs are addresses the daemon itself binds on this host before HAProxy starts
	// (the BGP service addresses); the bind lint counts them as local even before they
	// are. Not read from halo.yaml: the supervisor fills it.
	OwnAddrs []netip.Addr `yaml:"-"`
}

// CheckConfig tunes the runtime-API health check.
type CheckConfig struct {
	// Interval between checks (default 200ms).
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one check; an overrun counts as a failure (default 100ms).
	Timeout time.Duration `yaml:"timeout"`
	// FastInterval is the interval while the verdict may be about to flip (a failure
	// counted while healthy, a success while unhealthy), as HAProxy's fastinter: a hung
	// HAProxy is then called unhealthy within interval + fall × fast_interval, not
	// fall × interval + timeout (default: check.timeout; between timeout and interval).
	FastInterval time.Duration `yaml:"fast_interval"`
	// Rise is how many passing checks in a row make HAProxy healthy again (default 2).
	Rise int `yaml:"rise"`
	// Fall is how many failing checks in a row make HAProxy unhealthy (default 3).
	Fall int `yaml:"fall"`
	// Frontends must be OPEN.
	Frontends []string `yaml:"frontends"`
	// Backends maps a backend name to the minimum number of UP servers it must keep.
	Backends map[string]int `yaml:"backends"`
	// BackendSeverity is what a backend under its minimum means: "degraded" (default:
	// HAProxy still serves, if only its error page, so the node only loses priority and
	// a node that still has its backends wins; when every node has lost them one still
	// holds the VIP and answers) or "failed" (as if HAProxy were down: FAULT or resign).
	// A dead or hung HAProxy, or a frontend not serving, is always "failed".
	BackendSeverity CheckSeverity `yaml:"backend_severity"`
}

// CheckSeverity is how much a failed check weighs.
type CheckSeverity string

// The severities of check.backend_severity.
const (
	SeverityDegraded CheckSeverity = "degraded"
	SeverityFailed   CheckSeverity = "failed"
)

// RestartConfig is the bounded exponential backoff for a managed HAProxy.
type RestartConfig struct {
	// Initial is the first delay (default 100ms); each further restart doubles it.
	Initial time.Duration `yaml:"initial"`
	// Max caps the delay (default 30s).
	Max time.Duration `yaml:"max"`
	// Stable is how long HAProxy must run for the delay to reset to Initial (default 60s).
	Stable time.Duration `yaml:"stable"`
}

// RestartInPlaceConfig is the policy for a managed HAProxy that exits without being
// asked to (a crash, a SIGKILL of its master or of a worker). halod holds a copy of every
// listening socket HAProxy exports, so that the kernel keeps them open and queues new
// connections while HAProxy is gone; the crashed HAProxy is restarted at once on those
// very sockets and serves the queue. The health verdict is kept meanwhile (the VIP does
// not move) for at most Within; HAProxy fails over as without the policy when it is not
// serving again by then, when the restarted one exits before serving (the binary or the
// configuration no longer starts), on the (MaxCrashes+1)th crash within Window, or when
// it was not serving before the crash. A hung HAProxy (SIGSTOP) does not exit: the
// checks judge it as ever.
type RestartInPlaceConfig struct {
	// Enabled turns the policy on (default true). It needs the stats socket declared
	// with "expose-fd listeners", through which halod takes its copies.
	Enabled *bool `yaml:"enabled"`
	// Within bounds the time from the crash until a check finds HAProxy serving again
	// (default 1s). Connections wait in the kernel's accept queue meanwhile; past the
	// bound HAProxy is declared failed and the VIP moves.
	Within time.Duration `yaml:"within"`
	// MaxCrashes is how many crashes within Window are restarted in place (default 3);
	// one more is a crash loop, which fails over and restarts with restart's backoff.
	MaxCrashes int `yaml:"max_crashes"`
	// Window is the span MaxCrashes counts over (default 60s).
	Window time.Duration `yaml:"window"`
}

// On reports whether the policy is enabled.
func (c RestartInPlaceConfig) On() bool { return c.Enabled == nil || *c.Enabled }

// Defaults, documented in configs/README.md.
const (
	DefaultBinary         = "/usr/sbin/haproxy"
	DefaultConfigFile     = "/etc/haproxy/haproxy.cfg"
	DefaultMasterSocket   = "/run/halo/haproxy-master.sock"
	DefaultStatsSocket    = "/run/haproxy/admin.sock"
	DefaultCheckInterval  = 200 * time.Millisecond
	DefaultCheckTimeout   = 100 * time.Millisecond
	DefaultRise           = 2
	DefaultFall           = 3
	DefaultReloadTimeout  = 10 * time.Second
	DefaultStopTimeout    = 10 * time.Second
	DefaultRestartInitial = 100 * time.Millisecond
	DefaultRestartMax     = 30 * time.Second
	DefaultRestartStable  = 60 * time.Second
	DefaultInPlaceWithin  = time.Second
	DefaultInPlaceCrashes = 3
	DefaultInPlaceWindow  = 60 * time.Second
)

// ApplyDefaults fills unset fields with their documented defaults.
func (c *Config) ApplyDefaults() {
	if c.Mode == "" {
		c.Mode = Managed
	}
	if c.Binary == "" {
		c.Binary = DefaultBinary
	}
	if len(c.Config) == 0 {
		c.Config = []string{DefaultConfigFile}
	}
	masterOnly := c.Mode == External && c.MasterSocket != "" && c.StatsSocket == ""
	if c.MasterSocket == "" {
		c.MasterSocket = DefaultMasterSocket
	}
	if c.StatsSocket == "" && !masterOnly {
		c.StatsSocket = DefaultStatsSocket
	}
	if c.Check.Interval == 0 {
		c.Check.Interval = DefaultCheckInterval
	}
	if c.Check.Timeout == 0 {
		c.Check.Timeout = DefaultCheckTimeout
	}
	if c.Check.BackendSeverity == "" {
		c.Check.BackendSeverity = SeverityDegraded
	}
	if c.Check.FastInterval == 0 {
		c.Check.FastInterval = c.Check.Timeout
	}
	if c.Check.Rise == 0 {
		c.Check.Rise = DefaultRise
	}
	if c.Check.Fall == 0 {
		c.Check.Fall = DefaultFall
	}
	if c.ReloadTimeout == 0 {
		c.ReloadTimeout = DefaultReloadTimeout
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.Restart.Initial == 0 {
		c.Restart.Initial = DefaultRestartInitial
	}
	if c.Restart.Max == 0 {
		c.Restart.Max = DefaultRestartMax
	}
	if c.Restart.Stable == 0 {
		c.Restart.Stable = DefaultRestartStable
	}
	if c.RestartInPlace.Within == 0 {
		c.RestartInPlace.Within = DefaultInPlaceWithin
	}
	if c.RestartInPlace.MaxCrashes == 0 {
		c.RestartInPlace.MaxCrashes = DefaultInPlaceCrashes
	}
	if c.RestartInPlace.Window == 0 {
		c.RestartInPlace.Window = DefaultInPlaceWindow
	}
}

// FieldError is a validation error about one field, named by its path inside the haproxy
// section ("check.interval"), so that the loader can add the file and line.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// FieldPath returns the field's path, for the loader's line lookup.
func (e *FieldError) FieldPath() string { return e.Path }

// Validate checks the section after ApplyDefaults and returns every problem found, each a
// *FieldError, joined. It does not read haproxy.cfg: see Validator for that.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	switch c.Mode {
	case Managed, External:
	default:
		bad("mode", "%q: must be managed or external", c.Mode)
	}
	for i, f := range c.Config {
		if f == "" {
			bad(fmt.Sprintf("config[%d]", i), "empty path")
		}
	}
	if c.Mode == External && c.MasterSocket == "" && c.StatsSocket == "" {
		bad("stats_socket", "external mode needs the stats socket or the master socket")
	}
	ck := c.Check
	if ck.Interval < 10*time.Millisecond {
		bad("check.interval", "%s: at least 10ms", ck.Interval)
	}
	if ck.Timeout <= 0 {
		bad("check.timeout", "%s: must be positive", ck.Timeout)
	} else if ck.Timeout > ck.Interval {
		bad("check.timeout", "%s is longer than check.interval %s: checks would overlap", ck.Timeout, ck.Interval)
	}
	if ck.BackendSeverity != SeverityDegraded && ck.BackendSeverity != SeverityFailed {
		bad("check.backend_severity", "%q: want degraded or failed", ck.BackendSeverity)
	}
	if ck.FastInterval < ck.Timeout || ck.FastInterval > ck.Interval {
		bad("check.fast_interval", "%s not between check.timeout %s and check.interval %s", ck.FastInterval, ck.Timeout, ck.Interval)
	}
	if ck.Rise < 1 || ck.Rise > 100 {
		bad("check.rise", "%d not in 1..100", ck.Rise)
	}
	if ck.Fall < 1 || ck.Fall > 100 {
		bad("check.fall", "%d not in 1..100", ck.Fall)
	}
	for i, f := range ck.Frontends {
		if f == "" {
			bad(fmt.Sprintf("check.frontends[%d]", i), "empty frontend name")
		}
	}
	backends := make([]string, 0, len(ck.Backends))
	for b := range ck.Backends {
		backends = append(backends, b)
	}
	sort.Strings(backends)
	for _, b := range backends {
		if ck.Backends[b] < 0 {
			bad("check.backends."+b, "%d: the minimum of UP servers cannot be negative", ck.Backends[b])
		}
	}
	if c.ReloadTimeout <= 0 {
		bad("reload_timeout", "must be positive")
	}
	if c.StopTimeout <= 0 {
		bad("stop_timeout", "must be positive")
	}
	if c.Restart.Initial <= 0 {
		bad("restart.initial", "must be positive")
	}
	if c.Restart.Max < c.Restart.Initial {
		bad("restart.max", "%s is shorter than restart.initial %s", c.Restart.Max, c.Restart.Initial)
	}
	ip := c.RestartInPlace
	if ip.Within < 50*time.Millisecond || ip.Within > time.Minute {
		bad("restart_in_place.within", "%s not between 50ms and 1m", ip.Within)
	} else if ip.Within <= ck.FastInterval {
		bad("restart_in_place.within", "%s is not longer than check.fast_interval %s: no check could find HAProxy serving again in time", ip.Within, ck.FastInterval)
	}
	if ip.MaxCrashes < 1 || ip.MaxCrashes > 100 {
		bad("restart_in_place.max_crashes", "%d not in 1..100", ip.MaxCrashes)
	}
	if ip.Window < ip.Within || ip.Window > 24*time.Hour {
		bad("restart_in_place.window", "%s not between restart_in_place.within %s and 24h", ip.Window, ip.Within)
	}
	return errors.Join(errs...)
}
