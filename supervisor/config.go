package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/halo-lb/halo/bgp"
	"github.com/halo-lb/halo/haproxy"
	"github.com/halo-lb/halo/vrrp"
)

// Config is the whole of halo.yaml. Each section's type and validation belong to the
// package that uses it; this type only joins them and adds the daemon's own sections.
type Config struct {
	// Cluster names the cluster this node belongs to (default: none). It is exported as
	// the cluster label of halo_node_info, which the alert rules join on, so that two
	// clusters watched by one Prometheus, each with an instance called VI_1, are never
	// taken for one split brain. Every node of a cluster must carry the same name.
	Cluster string         `yaml:"cluster"`
	HAProxy haproxy.Config `yaml:"haproxy"`
	VRRP    vrrp.Config    `yaml:"vrrp"`
	Control ControlConfig  `yaml:"control"`
	Metrics MetricsConfig  `yaml:"metrics"`
	Log     LogConfig      `yaml:"log"`

	// BGP announces the service prefixes; nil (the section absent) runs no BGP at all.
	BGP *bgp.Config `yaml:"bgp"`

	// path is the file the config came from, for messages; lines maps field paths
	// ("vrrp.instances[0].priority") to their line in that file.
	path  string
	lines map[string]int
}

// ControlConfig is the control socket haloctl talks to.
type ControlConfig struct {
	// Socket is the unix socket path (default /run/halo/halo.sock).
	Socket string `yaml:"socket"`
	// Mode is the socket's permission bits, octal as a string (default "0600").
	Mode string `yaml:"mode"`
	// Group, when set, owns the socket; its members may change state, as root may.
	Group string `yaml:"group"`
}

// MetricsConfig is the Prometheus listener.
type MetricsConfig struct {
	// Listen is the address to serve on (default ":9110"); "off" disables the listener.
	Listen string `yaml:"listen"`
	// Path is the URL path of the metrics (default /metrics).
	Path string `yaml:"path"`
}

// LogConfig sets up logging.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is text (default) or json.
	Format string `yaml:"format"`
}

// Defaults of the daemon's own sections, documented in configs/README.md.
const (
	DefaultControlSocket = "/run/halo/halo.sock"
	DefaultControlMode   = "0600"
	DefaultMetricsListen = ":9110"
	DefaultMetricsPath   = "/metrics"
	DefaultLogLevel      = "info"
	DefaultLogFormat     = "text"
)

// Path returns the file the config was loaded from ("" when it was not).
func (c *Config) Path() string { return c.path }

// ApplyDefaults fills every unset field with its documented default.
func (c *Config) ApplyDefaults() {
	c.HAProxy.ApplyDefaults()
	c.VRRP.ApplyDefaults()
	if c.BGP != nil {
		c.BGP.ApplyDefaults()
	}
	if c.Control.Socket == "" {
		c.Control.Socket = DefaultControlSocket
	}
	if c.Control.Mode == "" {
		c.Control.Mode = DefaultControlMode
	}
	if c.Metrics.Listen == "" {
		c.Metrics.Listen = DefaultMetricsListen
	}
	if c.Metrics.Path == "" {
		c.Metrics.Path = DefaultMetricsPath
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
}

// ControlMode returns the socket mode as permission bits.
func (c *ControlConfig) ControlMode() os.FileMode {
	m, err := strconv.ParseUint(c.Mode, 8, 32)
	if err != nil {
		return 0o600
	}
	return os.FileMode(m)
}

// ConfigError is one problem in halo.yaml, located by file, line and field.
type ConfigError struct {
	File  string
	Line  int    // 0 when unknown
	Field string // e.g. "vrrp.instances[0].priority"; empty for syntax errors
	Msg   string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadConfig reads, strictly decodes, defaults and validates halo.yaml. On failure the
// error joins one *ConfigError per problem, each naming the file, line and field.
//
// halo.yaml must be a regular file of at most MaxConfigSize bytes, and must define at
// least one VRRP instance or a bgp section: an empty file (a truncated write) is refused rather than run
// as "no instances", which would release every VIP.
func LoadConfig(path string) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on bytes already read; path is used in messages.
func ParseConfig(path string, data []byte) (*Config, error) {
	if len(data) > MaxConfigSize {
		return nil, tooLarge(path, int64(len(data)))
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErrors(path, err)
	}
	c := &Config{path: path, lines: map[string]int{}}
	if len(root.Content) > 0 {
		if root.Content[0].Kind != yaml.MappingNode {
			return nil, &ConfigError{File: path, Line: root.Content[0].Line, Msg: "halo.yaml must be a mapping of sections (haproxy, vrrp, control, metrics, log)"}
		}
		zeros := map[string]int{}
		indexLines(root.Content[0], "", c.lines, zeros)
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		var decodeErr error
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			decodeErr = yamlErrors(path, err)
		}
		// Validation of a half-decoded file would only add noise; the zeros are reliable.
		if err := errors.Join(decodeErr, explicitZeros(path, zeros), nonIntegers(path, &root)); err != nil {
			return nil, err
		}
	}
	c.ApplyDefaults()
	c.resolvePaths()
	if c.BGP != nil {
		for _, p := range c.BGP.ServicePrefixes() {
			c.HAProxy.OwnAddrs = append(c.HAProxy.OwnAddrs, p.Addr())
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// resolvePaths makes relative haproxy.cfg paths relative to halo.yaml's directory, so that
// a directory holding both files is self-contained wherever it is run from.
func (c *Config) resolvePaths() {
	if c.path == "" {
		return
	}
	dir := filepath.Dir(c.path)
	for i, p := range c.HAProxy.Config {
		if p != "" && !filepath.IsAbs(p) {
			c.HAProxy.Config[i] = filepath.Join(dir, p)
		}
	}
}

// Validate checks every section and returns all problems, located.
func (c *Config) Validate() error {
	var errs []error
	add := func(prefix string, err error) {
		for _, e := range unjoin(err) {
			ce := &ConfigError{File: c.path, Msg: e.Error()}
			var fe interface{ FieldPath() string }
			if errors.As(e, &fe) {
				ce.Field = prefix + fe.FieldPath()
				ce.Msg = strings.TrimPrefix(e.Error(), fe.FieldPath()+": ")
				ce.Line = c.lineOf(ce.Field)
			}
			errs = append(errs, ce)
		}
	}
	add("haproxy.", c.HAProxy.Validate())
	add("vrrp.", c.VRRP.Validate())
	if c.BGP != nil {
		add("bgp.", c.BGP.Validate())
	}
	add("", c.validateOwn())
	return errors.Join(errs...)
}

type fieldError struct{ path, msg string }

func (e *fieldError) Error() string     { return e.path + ": " + e.msg }
func (e *fieldError) FieldPath() string { return e.path }

func (c *Config) validateOwn() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &fieldError{path, fmt.Sprintf(format, args...)})
	}
	if len(c.VRRP.Instances) == 0 && c.BGP == nil {
		bad("vrrp.instances", "no VRRP instance and no bgp section configured: refused, as running neither would release every VIP (is the file empty or truncated?)")
	}
	c.checkNames(bad)
	c.checkCluster(bad)
	if !strings.HasPrefix(c.Control.Socket, "/") {
		bad("control.socket", "%q: must be an absolute path", c.Control.Socket)
	}
	if m, err := strconv.ParseUint(c.Control.Mode, 8, 32); err != nil || m > 0o777 {
		bad("control.mode", "%q: must be octal permission bits such as \"0660\"", c.Control.Mode)
	} else if c.Control.Group != "" && m&0o060 != 0o060 {
		bad("control.mode", "%q gives control.group %q no access to the socket: use \"0660\"", c.Control.Mode, c.Control.Group)
	}
	if c.Control.Group != "" {
		if _, err := user.LookupGroup(c.Control.Group); err != nil {
			bad("control.group", "%q: no such group on this machine", c.Control.Group)
		}
	}
	if c.Metrics.Listen != "off" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			bad("metrics.listen", "%q: want host:port, :port or off", c.Metrics.Listen)
		}
	}
	if !strings.HasPrefix(c.Metrics.Path, "/") {
		bad("metrics.path", "%q: must start with /", c.Metrics.Path)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: must be debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q: must be text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}

// lineOf returns the line of a field path, or of its nearest ancestor that the file
// spells out (a defaulted field has no line of its own).
func (c *Config) lineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := c.lines[p]; ok {
			return l
		}
	}
	return 0
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// indexLines records the line of every key and sequence element under n, and in zeros
// the defaulted keys written with a zero value.
func indexLines(n *yaml.Node, prefix string, lines, zeros map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			lines[p] = k.Line
			if v.Kind == yaml.ScalarNode && defaultedKeys[keyPattern(p)] && isZero(v.Value) {
				zeros[p] = k.Line
			}
			indexLines(v, p, lines, zeros)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			lines[p] = v.Line
			indexLines(v, p, lines, zeros)
		}
	case yaml.AliasNode:
		// Not followed: an alias can refer to its own ancestor, and the alias's own line is
		// the one to name anyway.
	}
}

func isZero(s string) bool {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return n == 0
	}
	d, err := time.ParseDuration(s)
	return err == nil && d == 0
}

func explicitZeros(file string, zeros map[string]int) error {
	var errs []error
	for p, l := range zeros {
		errs = append(errs, &ConfigError{File: file, Line: l, Field: p, Msg: "0 is out of range; leave the key out to get its default"})
	}
	return errors.Join(Problems(errors.Join(errs...))...)
}

// yamlErrors turns yaml.v3's errors ("line 3: field foo not found in type ...") into
// located ConfigErrors, one per problem.
func yamlErrors(path string, err error) error {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var errs []error
	for _, m := range msgs {
		ce := &ConfigError{File: path, Msg: m}
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if num, msg, ok := strings.Cut(rest, ": "); ok {
				if l, err := strconv.Atoi(num); err == nil {
					ce.Line, ce.Msg = l, friendlyYAML(msg)
				}
			}
		}
		errs = append(errs, ce)
	}
	return errors.Join(errs...)
}

// friendlyYAML rewords yaml.v3's Go-flavoured messages for operators.
func friendlyYAML(msg string) string {
	if f, typ, ok := strings.Cut(msg, " not found in type "); ok {
		f = strings.TrimPrefix(f, "field ")
		return fmt.Sprintf("unknown key %q (in %s)", f, typ)
	}
	if strings.Contains(msg, "into time.Duration") {
		return msg + ` (durations are written like "1s", "100ms")`
	}
	return msg
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// Problems flattens an error returned by LoadConfig into its single problems, in file
// order, so that `halod -t` can list them one per line.
func Problems(err error) []error {
	errs := unjoin(err)
	sort.SliceStable(errs, func(i, j int) bool {
		a, aok := errs[i].(*ConfigError)
		b, bok := errs[j].(*ConfigError)
		return aok && bok && a.Line < b.Line
	})
	return errs
}
