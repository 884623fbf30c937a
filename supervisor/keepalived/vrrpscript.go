package keepalived

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// script is a vrrp_script block.
type script struct {
	name     string
	pos      Pos
	argv     []string
	argvPos  Pos
	interval float64 // seconds; keepalived's default is 1
	timeout  float64
	weight   int
	reverse  bool
	rise     int
	fall     int
	check    scriptCheck
	checked  bool
	used     bool
}

func (c *converter) vrrpScript(n *Node) {
	if len(n.Args) != 1 {
		c.add(anchorHeader, n.Pos, Warn, "vrrp_script needs exactly one name: block skipped")
		return
	}
	s := &script{name: n.Args[0], pos: n.Pos, interval: 1, rise: 1, fall: 1}
	if _, dup := c.scripts[s.name]; dup {
		c.add(anchorHeader, n.Pos, Warn, "vrrp_script %s is defined twice; the later one is used, as by keepalived", s.name)
	}
	for _, d := range n.Block {
		if read, ok := scriptKeywords[d.Name]; ok {
			read(c, s, d)
		} else {
			c.unsupported(anchorHeader, d, nil)
		}
	}
	if s.argv == nil {
		var conds []string
		for _, k := range n.Skipped {
			if len(k.Words) > 0 && k.Words[0] == "script" {
				conds = append(conds, k.Pos.String())
			}
		}
		if len(conds) > 0 {
			c.add(anchorHeader, n.Pos, Warn, "vrrp_script %s: its script lines (%s) are conditional and were skipped (no -host), so it has no script: not converted, nor tracked. Import with -host NAME", s.name, strings.Join(conds, ", "))
		} else {
			c.add(anchorHeader, n.Pos, Warn, "vrrp_script %s has no script: skipped", s.name)
		}
	}
	if _, dup := c.scripts[s.name]; !dup {
		c.order = append(c.order, s)
	}
	c.scripts[s.name] = s
}

// scriptKeywords reads the directives of a vrrp_script block; one not listed is
// reported as unsupported.
var scriptKeywords = map[string]func(c *converter, s *script, d *Node){
	"script": (*converter).scriptCommand,
	"interval": func(c *converter, s *script, d *Node) {
		if v, ok := c.floatArg(anchorHeader, d, 0, math.MaxInt32); ok {
			s.interval = v
		}
	},
	"timeout": func(c *converter, s *script, d *Node) {
		if v, ok := c.floatArg(anchorHeader, d, 0, math.MaxInt32); ok {
			s.timeout = v
		}
	},
	"weight": func(c *converter, s *script, d *Node) {
		if v, ok := c.intArg(anchorHeader, d, -253, 253); ok {
			s.weight = v
		}
		if len(d.Args) > 1 && d.Args[1] == "reverse" {
			s.reverse = true
		}
	},
	"rise": func(c *converter, s *script, d *Node) {
		if v, ok := c.intArg(anchorHeader, d, 1, math.MaxInt32); ok {
			s.rise = v
		}
	},
	"fall": func(c *converter, s *script, d *Node) {
		if v, ok := c.intArg(anchorHeader, d, 1, math.MaxInt32); ok {
			s.fall = v
		}
	},
	"user": func(c *converter, s *script, d *Node) {
		c.add(anchorHeader, d.Pos, Note, "vrrp_script %s: user %s: halo runs no check scripts", s.name, strings.Join(d.Args, " "))
	},
	"init_fail": func(c *converter, s *script, d *Node) {
		c.add(anchorHeader, d.Pos, Note, "vrrp_script %s: init_fail: halo starts HAProxy tracking as failed until the first rise checks pass", s.name)
	},
}

// scriptCommand reads the script line. Unquoted, keepalived takes the words after the
// command as the user and group to run it as, which is seldom what was meant.
func (c *converter) scriptCommand(s *script, d *Node) {
	argv, runAs, err := commandOf(d)
	if err != nil {
		c.add(anchorHeader, d.Pos, Warn, "vrrp_script %s: cannot split the command: %v", s.name, err)
		return
	}
	if len(runAs) > 0 {
		if _, ok := probe(append(argv, runAs...)); ok {
			c.add(anchorHeader, d.Pos, Warn, "vrrp_script %s: the command is not quoted, so keepalived reads %q as the user (and group) to run %s as and ignores the script; taken here as the quoted command %q", s.name, strings.Join(runAs, " "), argv[0], strings.Join(append(argv, runAs...), " "))
			argv = append(argv, runAs...)
		} else {
			c.add(anchorHeader, d.Pos, Note, "vrrp_script %s runs as %s: halo runs no check scripts", s.name, strings.Join(runAs, " "))
		}
	}
	s.argv, s.argvPos = argv, d.Pos
}

// shell-like quoting, then the command word split again; words after it are the user and
// group to run as.
func commandOf(d *Node) (argv, runAs []string, err error) {
	words, err := splitCommand(d.Raw)
	if err != nil {
		return nil, nil, err
	}
	if len(words) < 2 {
		return nil, nil, fmt.Errorf("%s has no command", d.Name)
	}
	argv, err = splitCommand(words[1])
	if err != nil {
		return nil, nil, err
	}
	if len(argv) == 0 {
		return nil, nil, fmt.Errorf("%s has an empty command", d.Name)
	}
	return argv, words[2:], nil
}

// classify looks at a script once, reading a script file under Options.Root.
func (c *converter) classify(s *script) scriptCheck {
	if s.checked {
		return s.check
	}
	s.checked = true
	s.check = classifyCommand(s.argv, func(p string) ([]byte, string, error) {
		full := p
		if filepath.IsAbs(p) {
			if c.opts.Root != "" {
				full = filepath.Join(c.opts.Root, p)
			}
		} else {
			full = filepath.Join(c.baseDir, p)
		}
		data, err := os.ReadFile(full)
		if err != nil {
			return nil, p, fmt.Errorf("cannot read %s: %v", full, errUnwrapPath(err))
		}
		if len(data) > 64*1024 {
			return nil, p, fmt.Errorf("%s is longer than 64 KiB, not a simple check", full)
		}
		// Messages name the script as the node knows it, not the copy under Root.
		return data, p, nil
	})
	return s.check
}

func errUnwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
