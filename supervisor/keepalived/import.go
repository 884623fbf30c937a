package keepalived

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/halo-lb/halo/haproxy"
	"github.com/halo-lb/halo/supervisor"
)

// Kind grades a Warning.
type Kind int

const (
	// Note explains a conversion whose meaning is kept but reads differently in halo.
	Note Kind = iota
	// Warn marks something not carried over, or whose behaviour changes: read it.
	Warn
	// Error makes the result unusable: Import returns no YAML.
	Error
)

func (k Kind) String() string {
	switch k {
	case Note:
		return "note"
	case Warn:
		return "warning"
	}
	return "error"
}

// Warning is one message about the conversion, located at the keepalived (or haproxy.cfg)
// line it concerns.
type Warning struct {
	Pos  Pos
	Kind Kind
	Msg  string
}

// String renders "file:line: warning: message", the form compilers use, so that editors
// can jump to the line.
func (w Warning) String() string { return fmt.Sprintf("%s: %s: %s", w.Pos, w.Kind, w.Msg) }

// ErrUnusable is wrapped by Import's error when the configuration was read but cannot be
// converted into a halo.yaml that halod would run as keepalived ran (see the Error
// warnings), or when the result fails halo's own validation.
var ErrUnusable = errors.New("keepalived: configuration cannot be converted")

// Options tune Import. The zero value converts keepalived.conf alone, for a node where
// haproxy.service keeps running HAProxy.
type Options struct {
	// HAProxyConfig is the haproxy.cfg to read (optional): it fills the haproxy section
	// (config path, stats socket, frontends and backends of the check) and lets the
	// importer warn about VIPs that HAProxy does not bind.
	HAProxyConfig string
	// HAProxyMode is written as haproxy.mode. Default external: the node keeps
	// haproxy.service (Debian's runs the master CLI on /run/haproxy-master.sock) and
	// halod replaces only keepalived, the smallest step. Managed: halod runs HAProxy.
	HAProxyMode haproxy.Mode
	// Root is a directory holding a copy of the node's files: absolute paths of check
	// scripts (and of haproxy.cfg in the output) are looked up below it. Empty: "/".
	Root string
	// Host is the keepalived config id of the node being converted (keepalived -i, by
	// default the first label of its host name): lines "@Host ..." apply, lines for other
	// ids do not. Empty: no conditional line applies, and each is warned about.
	Host string
}

// Result is a converted configuration.
type Result struct {
	// YAML is halo.yaml, commented; nil when the conversion failed.
	YAML []byte
	// Warnings lists every note, warning and error in file order. The same text is in
	// YAML as comments.
	Warnings []Warning
	// Config is YAML as halod loads it (defaults applied); nil when the conversion failed.
	Config *supervisor.Config
}

// Import reads the keepalived configuration at path (with its includes) and converts it.
// When the configuration is read but not usable, Import returns the Result with its
// Warnings (and no YAML) and an error wrapping ErrUnusable; a configuration that cannot
// be read gives a *ParseError or the file error.
func Import(path string, opts Options) (*Result, error) {
	if opts.HAProxyMode == "" {
		opts.HAProxyMode = haproxy.External
	}
	if opts.HAProxyMode != haproxy.External && opts.HAProxyMode != haproxy.Managed {
		return nil, fmt.Errorf("keepalived: haproxy mode %q: must be external or managed", opts.HAProxyMode)
	}
	nodes, pw, err := ParseFor(path, opts.Host, opts.Host != "")
	c := &converter{opts: opts, mainName: filepath.Base(path), baseDir: filepath.Dir(path), files: map[string]int{}}
	for _, w := range pw {
		c.msgs = append(c.msgs, message{Warning: w})
	}
	if err != nil {
		return &Result{Warnings: warningsOf(c.sortedMessages())}, err
	}
	c.rankFiles(nodes)
	return c.finish(path, nodes)
}

// finish converts parsed nodes; split from Import for the fuzz target.
func (c *converter) finish(path string, nodes []*Node) (*Result, error) {
	// haproxy.cfg first: its frontends decide whether a TCP or HTTP check script tested
	// HAProxy.
	if c.opts.HAProxyConfig != "" {
		c.hap = c.readHAProxy(c.opts.HAProxyConfig)
	}
	c.convert(nodes)
	if c.hap != nil {
		c.checkVIPs(c.hap)
	}
	res := &Result{}
	msgs := c.sortedMessages()
	res.Warnings = warningsOf(msgs)
	if n := c.errors(); n > 0 {
		return res, fmt.Errorf("%w: %d error(s), see the messages", ErrUnusable, n)
	}
	out, err := c.render(path, msgs)
	if err != nil {
		return res, fmt.Errorf("keepalived: render halo.yaml: %w", err)
	}
	cfg, err := supervisor.ParseConfig("halo.yaml (generated)", out)
	if err != nil {
		var lines []string
		for _, p := range supervisor.Problems(err) {
			lines = append(lines, p.Error())
		}
		return res, fmt.Errorf("%w: the generated halo.yaml does not validate:\n%s", ErrUnusable, strings.Join(lines, "\n"))
	}
	res.YAML, res.Config = out, cfg
	return res, nil
}

func warningsOf(msgs []message) []Warning {
	out := make([]Warning, len(msgs))
	for i, m := range msgs {
		out[i] = m.Warning
	}
	return out
}

// rankFiles orders files by their first directive, so that messages follow the order in
// which keepalived reads the configuration.
func (c *converter) rankFiles(nodes []*Node) {
	var walk func([]*Node)
	walk = func(ns []*Node) {
		for _, n := range ns {
			if _, ok := c.files[n.Pos.File]; !ok {
				c.files[n.Pos.File] = len(c.files)
			}
			walk(n.Block)
		}
	}
	walk(nodes)
}
