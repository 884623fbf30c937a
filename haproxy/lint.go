package haproxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// lint reads every file once and reports what `haproxy -c` does not: it never binds,
// never reads sysctls and knows nothing of halo.
func (v validator) lint(paths []string) ([]Finding, error) {
	all, err := ReadConfigFiles(paths...)
	if err != nil {
		return nil, err
	}
	var files []*ConfigFile
	var fs []Finding
	for _, f := range all {
		if f.ParseErr != nil {
			fs = append(fs, Finding{File: f.Path, Severity: SeverityError, Msg: "config parser: " + f.ParseErr.Error()})
			continue
		}
		files = append(files, f)
	}
	fs = append(fs, v.lintStatsSocket(files)...)
	if v.cfg.Mode == Managed {
		fs = append(fs, lintDaemon(files)...)
	}
	fs = append(fs, v.lintBinds(files)...)
	fs = append(fs, v.lintBindsInUse(files)...)
	fs = append(fs, lintIdleClose(files)...)
	fs = append(fs, v.lintChecked(files)...)
	return fs, nil
}

// lintStatsSocket: halo reads health through the stats socket, at the path halo.yaml
// names, and needs level admin for server state commands.
func (v validator) lintStatsSocket(files []*ConfigFile) []Finding {
	want := v.cfg.StatsSocket
	if want == "" {
		return nil
	}
	add := fmt.Sprintf("add \"stats socket %s mode 660 level admin\" to the global section", want)
	var others []string
	var first Finding
	for _, f := range files {
		for _, s := range f.StatsSockets {
			path := strings.TrimPrefix(s.Path, "unix@")
			if path != want {
				others = append(others, path)
				if first.File == "" {
					first = Finding{File: s.File, Line: s.Line}
				}
				continue
			}
			switch s.Level {
			case "admin":
				if v.cfg.Mode == Managed && v.cfg.RestartInPlace.On() && !s.ExposeFD {
					return []Finding{{File: s.File, Line: s.Line, Severity: SeverityWarning,
						Msg: fmt.Sprintf("stats socket %s: no \"expose-fd listeners\": halod cannot hold the listening sockets, so a crash of HAProxy fails over instead of restarting it in place (haproxy.restart_in_place): append \"expose-fd listeners\" to that line", want)}}
				}
				return nil
			case "":
				s.Level = "not set"
			}
			return []Finding{{File: s.File, Line: s.Line, Severity: SeverityError,
				Msg: fmt.Sprintf("stats socket %s: level %s; halo needs level admin: append \"level admin\" to that line", want, s.Level)}}
		}
	}
	if len(others) > 0 {
		first.Severity = SeverityError
		first.Msg = fmt.Sprintf("stats socket %s does not match halo.yaml haproxy.stats_socket %s: change one of them, or %s", strings.Join(others, ", "), want, add)
		return []Finding{first}
	}
	f := Finding{Severity: SeverityError, Msg: "no stats socket: halo judges HAProxy's health through it: " + add}
	if len(files) > 0 {
		f.File, f.Line = files[0].Path, files[0].Global.Line
	}
	return []Finding{f}
}

// lintDaemon: in managed mode HAProxy must stay in the foreground under halod.
func lintDaemon(files []*ConfigFile) []Finding {
	var fs []Finding
	for _, f := range files {
		if d := f.Global.Daemon; d != nil {
			fs = append(fs, Finding{File: d.File, Line: d.Line, Severity: SeverityError,
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
func (v validator) lintBinds(files []*ConfigFile) []Finding {
	local, lerr := v.env.localAddrs()
	var fs []Finding
	for _, f := range files {
		for _, px := range f.Proxies {
			for _, b := range px.Binds {
				if slices.ContainsFunc(b.Params, func(p string) bool { return p == "transparent" || p == "freebind" }) {
					continue
				}
				for _, ba := range b.Addrs() {
					a := ba.Addr
					if !a.IsValid() || (lerr == nil && isLocal(a, local)) || slices.Contains(v.cfg.OwnAddrs, a) {
						continue // a wildcard binds whatever the host has
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
					fs = append(fs, Finding{File: b.File, Line: b.Line, Severity: SeverityError,
						Msg: fmt.Sprintf("%s %s: bind %s: %s is not an address of this host (a VIP held only by the VRRP master?) and %s %s here: "+
							"set %s=1 (sysctl -w, and in /etc/sysctl.d) or add \"transparent\" to the bind line (IP_TRANSPARENT/IP_FREEBIND)", b.Section, b.Proxy, b.Spec, a, sysctl, state, sysctl)})
				}
			}
		}
	}
	return fs
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
func lintIdleClose(files []*ConfigFile) []Finding {
	var fs []Finding
	for _, f := range files {
		for _, px := range f.Proxies {
			if px.Section == SectionBackend || px.Mode != "http" || px.IdleClose {
				continue
			}
			line := px.IdleCloseOff
			if line == 0 {
				line = px.Line
			}
			fs = append(fs, Finding{File: px.File, Line: line, Severity: SeverityWarning,
				Msg: fmt.Sprintf("%s %s: no \"option idle-close-on-response\": keep-alive clients can lose a request on every reload; add it to the defaults section", px.Section, px.Name)})
		}
	}
	return fs
}

// lintChecked: the frontends and backends halo.yaml checks must exist.
func (v validator) lintChecked(files []*ConfigFile) []Finding {
	has := func(name string, secs ...string) bool {
		for _, f := range files {
			for _, px := range f.Proxies {
				if px.Name == name && slices.Contains(secs, px.Section) {
					return true
				}
			}
		}
		return false
	}
	first := ""
	if len(files) > 0 {
		first = files[0].Path
	}
	var fs []Finding
	for _, fe := range v.cfg.Check.Frontends {
		if !has(fe, SectionFrontend, SectionListen) {
			fs = append(fs, Finding{Severity: SeverityError, File: first,
				Msg: fmt.Sprintf("halo.yaml haproxy.check.frontends names %q, which is neither a frontend nor a listen section here", fe)})
		}
	}
	backends := make([]string, 0, len(v.cfg.Check.Backends))
	for b := range v.cfg.Check.Backends {
		backends = append(backends, b)
	}
	slices.Sort(backends)
	for _, be := range backends {
		if !has(be, SectionBackend, SectionListen) {
			fs = append(fs, Finding{Severity: SeverityError, File: first,
				Msg: fmt.Sprintf("halo.yaml haproxy.check.backends names %q, which is neither a backend nor a listen section here", be)})
		}
	}
	return fs
}
