package keepalived

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	cfgparser "github.com/haproxytech/client-native/v6/config-parser"
	"github.com/haproxytech/client-native/v6/config-parser/options"
	"github.com/haproxytech/client-native/v6/config-parser/types"

	"github.com/halo-lb/halo/haproxy"
)

// haproxyInfo is what the importer takes from haproxy.cfg.
type haproxyInfo struct {
	// path is written into haproxy.config.
	path        string
	pos         Pos
	statsSocket string
	statsPos    Pos
	frontends   []string
	backends    map[string]int
	binds       []bindAddr
}

// bindAddr is one address of a bind line; a zero addr is a wildcard of its family.
type bindAddr struct {
	proxy string
	pos   Pos
	addr  netip.Addr
	// any4, any6: the wildcard covers every IPv4 / IPv6 address.
	any4, any6 bool
	raw        string
}

// readHAProxy reads haproxy.cfg with client-native's config-parser (the parser the
// haproxy package uses too) for the structure, and scans the text for the lines the
// parser does not report, so that messages can point at them.
func (c *converter) readHAProxy(path string) *haproxyInfo {
	name := path
	data, err := os.ReadFile(path)
	if err != nil {
		c.add(anchorHAProxy, Pos{File: name}, Error, "-haproxy-config: %v", err)
		return nil
	}
	p, err := cfgparser.New(options.Reader(bytes.NewReader(data)), options.UseListenSectionParsers)
	if err != nil {
		c.add(anchorHAProxy, Pos{File: name}, Error, "haproxy.cfg: %v", err)
		return nil
	}
	lines := sectionLines(name, data)
	// haproxy.config must name the file as the node sees it. An absolute path is taken
	// as that (below Root, the part after it); a relative one is a copy, whose place on
	// the node the importer cannot know.
	cfgPath := path
	if c.opts.Root != "" {
		if rel, err := filepath.Rel(c.opts.Root, path); err == nil && !strings.HasPrefix(rel, "..") {
			cfgPath = "/" + filepath.ToSlash(rel)
		}
	}
	if !filepath.IsAbs(cfgPath) {
		c.add(anchorHAProxy, Pos{File: name}, Warn, "-haproxy-config %s is a relative path: haproxy.config is written as %s; change it if the node keeps haproxy.cfg elsewhere", path, haproxy.DefaultConfigFile)
		cfgPath = haproxy.DefaultConfigFile
	}
	h := &haproxyInfo{path: cfgPath, pos: Pos{File: name}, backends: map[string]int{}}

	// The stats socket halo needs is the one with level admin.
	if d, err := p.Get(cfgparser.Global, cfgparser.GlobalSectionName, "stats socket"); err == nil {
		socks, _ := d.([]types.Socket)
		var plain []types.Socket
		for _, s := range socks {
			admin := false
			for _, o := range s.Params {
				if o.String() == "level admin" {
					admin = true
				}
			}
			if admin {
				h.statsSocket, h.statsPos = s.Path, lines["stats socket "+s.Path]
				break
			}
			plain = append(plain, s)
		}
		switch {
		case h.statsSocket == "" && len(plain) > 0:
			c.add(anchorHAProxy, lines["stats socket "+plain[0].Path], Warn, "stats socket %s has no \"level admin\": halo needs an admin-level runtime API (it reads server states and, in maintenance, changes them); add \"level admin\" to it (stats_socket names it already)", plain[0].Path)
			h.statsSocket, h.statsPos = plain[0].Path, lines["stats socket "+plain[0].Path]
		case h.statsSocket != "" && !strings.HasPrefix(h.statsSocket, "/"):
			c.add(anchorHAProxy, h.statsPos, Warn, "stats socket %s is not a unix socket path: halo talks to the runtime API over a unix socket; declare one such as \"stats socket /run/haproxy/admin.sock mode 660 level admin\"", h.statsSocket)
		}
	}
	if h.statsSocket == "" {
		c.add(anchorHAProxy, Pos{File: name}, Warn, "haproxy.cfg declares no stats socket: halo checks HAProxy through its runtime API; add \"stats socket /run/haproxy/admin.sock mode 660 level admin\" to the global section")
	}

	add := func(sec cfgparser.Section, kind string) {
		names, _ := p.SectionsGet(sec)
		sort.Strings(names)
		for _, n := range names {
			pos := lines[kind+" "+n]
			bl, _ := p.Get(sec, n, "bind")
			binds, _ := bl.([]types.Bind)
			if len(binds) > 0 {
				h.frontends = append(h.frontends, n)
			}
			for _, b := range binds {
				h.binds = append(h.binds, parseBind(n, pos, b.Path)...)
			}
			if sec == cfgparser.Frontends {
				if d, err := p.Get(sec, n, "default_backend"); err == nil {
					if s, ok := d.(*types.StringC); ok && s.Value != "" {
						h.backends[s.Value] = 1
					}
				}
			} else if d, err := p.Get(sec, n, "server"); err == nil {
				if srv, ok := d.([]types.Server); ok && len(srv) > 0 && len(binds) > 0 {
					h.backends[n] = 1
				}
			}
		}
	}
	add(cfgparser.Frontends, "frontend")
	add(cfgparser.Listen, "listen")
	if len(h.frontends) == 0 {
		c.add(anchorHAProxy, Pos{File: name}, Warn, "haproxy.cfg has no frontend or listen section with a bind line: check.frontends stays empty")
	}
	return h
}

// sectionLines finds the lines of section headers and stats sockets, which the
// config-parser does not report.
func sectionLines(name string, data []byte) map[string]Pos {
	out := map[string]Pos{}
	for i, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			key := f[0] + " " + f[1]
			if f[0] == "stats" && f[1] == "socket" && len(f) >= 3 {
				key = "stats socket " + f[2]
			}
			if _, seen := out[key]; !seen {
				out[key] = Pos{File: name, Line: i + 1}
			}
		}
	}
	return out
}

// parseBind reads the addresses of a bind line: "192.0.2.1:80,192.0.2.2:80", ":443",
// "*:80", "ipv6@:::80", "[2001:db8::1]:443". Sockets and variables are skipped.
func parseBind(proxy string, pos Pos, spec string) []bindAddr {
	var out []bindAddr
	for _, one := range strings.Split(spec, ",") {
		raw := one
		if fam, rest, ok := strings.Cut(one, "@"); ok {
			switch fam {
			case "ipv4", "ipv6", "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "quic4", "quic6":
				one = rest
			default:
				continue // unix@, abns@, fd@, sockpair@
			}
		}
		if strings.HasPrefix(one, "/") || strings.Contains(one, "${") {
			continue
		}
		i := strings.LastIndexByte(one, ':')
		if i < 0 {
			continue
		}
		host := strings.Trim(one[:i], "[]")
		b := bindAddr{proxy: proxy, pos: pos, raw: raw}
		switch host {
		case "", "*", "0.0.0.0":
			b.any4 = true
		case "::":
			b.any4, b.any6 = true, true // IPv4-mapped too, with the default bindv6only=0
		default:
			a, err := netip.ParseAddr(host)
			if err != nil {
				continue
			}
			b.addr = a.Unmap()
		}
		out = append(out, b)
	}
	return out
}

// checkVIPs warns about VIPs HAProxy does not listen on, and notes the sysctl a bind to a
// VIP needs on a backup node.
func (c *converter) checkVIPs(h *haproxyInfo) {
	explicit := false
	for _, in := range c.instances {
		for i, v := range in.cfg.VIPs {
			a := v.Prefix.Addr()
			covered := false
			for _, b := range h.binds {
				switch {
				case b.addr == a:
					covered, explicit = true, true
				case !b.addr.IsValid() && ((a.Is4() && b.any4) || (a.Is6() && b.any6)):
					covered = true
				}
			}
			if !covered {
				pos := in.pos
				if i < len(in.vipAt) {
					pos = in.vipAt[i]
				}
				c.add(instanceAnchor(in.cfg.Name), pos, Warn, "VIP %s is not an address %s binds (it binds %s): clients of this VIP reach no HAProxy frontend", a, h.pos.File, h.bindList())
			}
		}
	}
	if explicit {
		c.add(anchorHAProxy, h.pos, Note, "HAProxy binds VIPs by address: on a node that is not master it can start or reload only with net.ipv4.ip_nonlocal_bind=1 (net.ipv6.ip_nonlocal_bind=1 for IPv6) or the \"transparent\" bind option")
	}
}

func (h *haproxyInfo) bindList() string {
	if len(h.binds) == 0 {
		return "no address"
	}
	var s []string
	for _, b := range h.binds {
		s = append(s, fmt.Sprintf("%s in %s", b.raw, b.proxy))
	}
	return strings.Join(s, ", ")
}
