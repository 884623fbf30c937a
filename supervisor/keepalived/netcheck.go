package keepalived

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// netProbe is a check script command that connects to a service: a TCP connect
// ("</dev/tcp/HOST/PORT", "nc -z HOST PORT") or an HTTP request (curl, wget). When the
// service is an HAProxy frontend, halo's frontend check replaces it.
type netProbe struct {
	http bool
	host string
	port int
	// how is the command as written; note what it tests beyond the connection.
	how, note string
}

func (p netProbe) target() string {
	return netipJoin(p.host, p.port)
}

func netipJoin(host string, port int) string {
	if strings.Contains(host, ":") {
		return fmt.Sprintf("[%s]:%d", host, port)
	}
	return fmt.Sprintf("%s:%d", host, port)
}

// local reports whether the probe's host is this node: a loopback address or name, or
// one of vips (the probe reaches the frontend bound to the VIP while the node holds it).
func (p netProbe) local(vips []netip.Addr) bool {
	if p.host == "localhost" || p.host == "localhost.localdomain" || p.host == "ip6-localhost" {
		return true
	}
	a, err := netip.ParseAddr(p.host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	for _, v := range vips {
		if v == a {
			return true
		}
	}
	return false
}

// netProbeOf recognises one simple command (its words, quotes removed) as a TCP or HTTP
// probe.
func netProbeOf(words []string) (netProbe, bool) {
	if len(words) == 0 {
		return netProbe{}, false
	}
	show := strings.Join(words, " ")
	// "</dev/tcp/h/p" or "< /dev/tcp/h/p", a bash redirection that connects.
	if first := strings.TrimPrefix(words[0], "<"); first != words[0] {
		target := first
		if target == "" && len(words) > 1 {
			target = words[1]
		}
		if rest, ok := strings.CutPrefix(target, "/dev/tcp/"); ok {
			host, portStr, _ := strings.Cut(rest, "/")
			if port, err := strconv.Atoi(portStr); err == nil && host != "" {
				return netProbe{host: host, port: port, how: show}, true
			}
		}
		return netProbe{}, false
	}
	base := path.Base(words[0])
	switch base {
	case "timeout":
		// timeout [-s SIG] [-k D] [--foreground] DURATION COMMAND...
		i := 1
		for i < len(words) && strings.HasPrefix(words[i], "-") {
			if words[i] == "-s" || words[i] == "-k" || words[i] == "--signal" || words[i] == "--kill-after" {
				i++
			}
			i++
		}
		if i+1 < len(words) {
			p, ok := netProbeOf(words[i+1:])
			p.how = show
			return p, ok
		}
	case "nc", "ncat", "netcat":
		return ncProbe(words, show)
	case "curl", "wget":
		for _, w := range words[1:] {
			if !strings.HasPrefix(w, "http://") && !strings.HasPrefix(w, "https://") {
				continue
			}
			u, err := url.Parse(w)
			if err != nil || u.Hostname() == "" {
				return netProbe{}, false
			}
			port := 80
			if u.Scheme == "https" {
				port = 443
			}
			if u.Port() != "" {
				if port, err = strconv.Atoi(u.Port()); err != nil {
					return netProbe{}, false
				}
			}
			p := netProbe{http: true, host: u.Hostname(), port: port, how: show}
			if base == "curl" && !hasShortFlag(words, 'f') && !hasWord(words, "--fail") && !hasWord(words, "--fail-with-body") {
				p.note = "without -f, curl succeeds whatever the HTTP status, so it only tested that something answered"
			}
			return p, true
		}
	}
	return netProbe{}, false
}

// ncProbe reads "nc -z [-v] [-w N] HOST PORT": only -z (connect, send nothing) is a probe.
func ncProbe(words []string, show string) (netProbe, bool) {
	if !hasShortFlag(words, 'z') {
		return netProbe{}, false
	}
	var targets []string
	for i := 1; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "-") {
			// Flags whose value is the next word, unless glued ("-w1").
			if len(w) == 2 && strings.ContainsRune("wiIsSpPqTxXOW", rune(w[1])) {
				i++
			}
			continue
		}
		targets = append(targets, w)
	}
	if len(targets) != 2 {
		return netProbe{}, false
	}
	port, err := strconv.Atoi(targets[1])
	if err != nil {
		return netProbe{}, false
	}
	return netProbe{host: targets[0], port: port, how: show}, true
}

// hasShortFlag reports a short flag c alone or in a cluster ("-fsS").
func hasShortFlag(words []string, c byte) bool {
	for _, w := range words[1:] {
		if len(w) > 1 && w[0] == '-' && w[1] != '-' && strings.IndexByte(w[1:], c) >= 0 {
			return true
		}
	}
	return false
}

func hasWord(words []string, s string) bool {
	for _, w := range words {
		if w == s {
			return true
		}
	}
	return false
}
