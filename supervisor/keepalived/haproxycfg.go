package keepalived

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

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

// bindAddr is one address of a bind line and the proxy that binds it.
type bindAddr struct {
	proxy string
	haproxy.BindAddr
}

// readHAProxy reads haproxy.cfg through the haproxy package's reader, the one halod's
// lint uses, so that both see the same sockets and binds at the same lines.
func (c *converter) readHAProxy(path string) *haproxyInfo {
	name := path
	files, err := haproxy.ReadConfigFiles(path)
	if err != nil {
		// The file's own error says it all; the reader's prefix is for halod's logs.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe
		}
		c.add(anchorHAProxy, Pos{File: name}, Error, "-haproxy-config: %v", err)
		return nil
	}
	f := files[0]
	if f.ParseErr != nil {
		c.add(anchorHAProxy, Pos{File: name}, Error, "haproxy.cfg: %v", f.ParseErr)
		return nil
	}
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
	var plain []haproxy.StatsSocket
	for _, s := range f.StatsSockets {
		if s.Level == "admin" {
			h.statsSocket, h.statsPos = s.Path, Pos(s.Loc)
			break
		}
		plain = append(plain, s)
	}
	switch {
	case h.statsSocket == "" && len(plain) > 0:
		c.add(anchorHAProxy, Pos(plain[0].Loc), Warn, "stats socket %s has no \"level admin\": halo needs an admin-level runtime API (it reads server states and, in maintenance, changes them); add \"level admin\" to it (stats_socket names it already)", plain[0].Path)
		h.statsSocket, h.statsPos = plain[0].Path, Pos(plain[0].Loc)
	case h.statsSocket != "" && !strings.HasPrefix(h.statsSocket, "/"):
		c.add(anchorHAProxy, h.statsPos, Warn, "stats socket %s is not a unix socket path: halo talks to the runtime API over a unix socket; declare one such as \"stats socket /run/haproxy/admin.sock mode 660 level admin\"", h.statsSocket)
	}
	if h.statsSocket == "" {
		c.add(anchorHAProxy, Pos{File: name}, Warn, "haproxy.cfg declares no stats socket: halo checks HAProxy through its runtime API; add \"stats socket /run/haproxy/admin.sock mode 660 level admin\" to the global section")
	}

	// Frontends, then listen sections, each by name: the order check.frontends and the
	// messages list them in.
	proxies := slices.Clone(f.Proxies)
	rank := map[string]int{haproxy.SectionFrontend: 0, haproxy.SectionListen: 1, haproxy.SectionBackend: 2}
	slices.SortStableFunc(proxies, func(a, b haproxy.Proxy) int {
		return cmp.Or(cmp.Compare(rank[a.Section], rank[b.Section]), strings.Compare(a.Name, b.Name))
	})
	for _, px := range proxies {
		if len(px.Binds) > 0 {
			h.frontends = append(h.frontends, px.Name)
		}
		for _, b := range px.Binds {
			for _, a := range b.Addrs() {
				h.binds = append(h.binds, bindAddr{proxy: px.Name, BindAddr: a})
			}
		}
		switch {
		case px.Section == haproxy.SectionFrontend && px.DefaultBackend != "":
			h.backends[px.DefaultBackend] = 1
		case px.Section == haproxy.SectionListen && px.Servers > 0 && len(px.Binds) > 0:
			h.backends[px.Name] = 1
		}
	}
	if len(h.frontends) == 0 {
		c.add(anchorHAProxy, Pos{File: name}, Warn, "haproxy.cfg has no frontend or listen section with a bind line: check.frontends stays empty")
	}
	return h
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
				case b.Addr == a:
					covered, explicit = true, true
				case !b.Addr.IsValid() && ((a.Is4() && b.Any4) || (a.Is6() && b.Any6)):
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
		s = append(s, fmt.Sprintf("%s in %s", b.Raw, b.proxy))
	}
	return strings.Join(s, ", ")
}
