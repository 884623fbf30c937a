package keepalived

import (
	"fmt"
	"net/netip"
	"strings"
)

// coverNet decides whether a TCP or HTTP check script tested HAProxy: every service it
// connects to must be this node (loopback, or one of the instance's VIPs) on a port that
// a frontend or listen section of haproxy.cfg binds. It returns those sections, or warns
// what the script is and returns false.
func (c *converter) coverNet(at anchor, t trackRef, chk scriptCheck, in *instance) (desc string, proxies []string, ok bool) {
	kind := "a TCP"
	for _, n := range chk.nets {
		if n.http {
			kind = "an HTTP"
		}
	}
	var targets []string
	for _, n := range chk.nets {
		targets = append(targets, n.target())
	}
	what := fmt.Sprintf("track_script %s is %s check of %s (%s)", t.name, kind, strings.Join(dedupe(targets), ", "), chk.how)
	if chk.file != "" {
		what += " in " + chk.file
	}
	if trap := chk.trap(); trap != "" {
		// Not carried over changes what the node advertised too: keepalived counted the
		// check as failing all along.
		defer func() {
			if !ok {
				c.add(at, t.pos, Warn, "track_script %s: besides, %s; keepalived counted it as failing all along (its weight always applied, or with no weight the instance sat in FAULT), which dropping it changes", t.name, trap)
			}
		}()
	}
	if c.hap == nil {
		c.add(at, t.pos, Warn, "%s: halo runs no check scripts, and without -haproxy-config the importer cannot tell whether HAProxy serves that port: not carried over. If an HAProxy frontend binds it, import again with -haproxy-config so that the frontend is checked instead", what)
		return "", nil, false
	}
	var vips []netip.Addr
	for _, v := range in.cfg.VIPs {
		vips = append(vips, v.Prefix.Addr())
	}
	var names []string
	for _, n := range chk.nets {
		if !n.local(vips) {
			c.add(at, t.pos, Warn, "%s: %s is not this node (neither loopback nor a VIP of %s), so it tested another service, which halo does not check: not carried over", what, n.host, in.cfg.Name)
			return "", nil, false
		}
		px := c.hap.proxyFor(n)
		if px == "" {
			c.add(at, t.pos, Warn, "%s: no frontend or listen section of %s binds port %d there (it binds %s), so it tested a service other than HAProxy, which halo does not check: not carried over", what, c.hap.pos.File, n.port, c.hap.bindList())
			return "", nil, false
		}
		if !containsString(names, px) {
			names = append(names, px)
		}
	}
	word := "frontend"
	if len(names) > 1 {
		word = "frontends"
	}
	var notes []string
	for _, n := range chk.nets {
		if n.note != "" && !containsString(notes, n.note) {
			notes = append(notes, n.note)
		}
		if a, err := netip.ParseAddr(n.host); err == nil && !a.IsLoopback() && !a.IsUnspecified() && !chk.ipGuard {
			if v := "on a node that was not master, its connection to the VIP reached the master's HAProxy; halo checks the node's own"; !containsString(notes, v) {
				notes = append(notes, v)
			}
		}
	}
	s := fmt.Sprintf("%s check of %s", strings.TrimPrefix(strings.TrimPrefix(kind, "an "), "a "), strings.Join(dedupe(targets), ", "))
	if chk.file != "" {
		s += " (script " + chk.file + ")"
	}
	s += " served by HAProxy's " + word + " " + strings.Join(names, ", ")
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, "; ") + ")"
	}
	return s, names, true
}

// proxyFor returns the frontend or listen section that serves probe n, "" when none.
func (h *haproxyInfo) proxyFor(n netProbe) string {
	a, err := netip.ParseAddr(n.host)
	isName := err != nil // localhost: either loopback address
	a = a.Unmap()
	for _, b := range h.binds {
		if b.Port == 0 || n.port < b.Port || n.port > max(b.Port, b.PortEnd) {
			continue
		}
		switch {
		case !b.Addr.IsValid():
			if isName || (a.Is4() && b.Any4) || (a.Is6() && b.Any6) {
				return b.proxy
			}
		case isName && b.Addr.IsLoopback():
			return b.proxy
		case !isName && (b.Addr == a || (a.IsUnspecified() && b.Addr.Is4() == a.Is4())):
			return b.proxy
		}
	}
	return ""
}

func containsString(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
