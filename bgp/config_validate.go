package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode"
)

// FieldError is a validation error about one field, named by its path inside the bgp
// section ("neighbors[0].asn"), so that the loader can add the file and line.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// FieldPath returns the field's path, for the loader's line lookup.
func (e *FieldError) FieldPath() string { return e.Path }

// maxIfNameLen is IFNAMSIZ less the NUL.
const maxIfNameLen = 15

// Validate checks the section after ApplyDefaults and returns every problem found, each a
// *FieldError, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if c.ASN == 0 {
		bad("asn", "required: this node's AS number, 1..4294967295")
	}
	if c.RouterID == "" {
		bad("router_id", "required: an IPv4 address unique among the router's peers")
	} else if a, err := netip.ParseAddr(c.RouterID); err != nil || !a.Is4() || a.IsUnspecified() {
		bad("router_id", "%q: must be an IPv4 address other than 0.0.0.0 (RFC 6286)", c.RouterID)
	}
	if c.ListenPort < 0 || c.ListenPort > 65535 {
		bad("listen_port", "%d not in 0..65535 (0: do not listen)", c.ListenPort)
	}
	if len(c.Interface) > maxIfNameLen || !printable(c.Interface) {
		bad("interface", "%q: not an interface name (at most 15 printable characters)", c.Interface)
	}
	if d := c.DrainTime(); d < 0 || d > MaxDrain {
		bad("drain", "%s not in 0s..%s", d, MaxDrain)
	}
	fams := map[bool]bool{} // address families (true: IPv6) some neighbour carries
	if len(c.Neighbors) == 0 {
		bad("neighbors", "at least one neighbour is required")
	}
	addrs := map[netip.Addr]int{}
	for i := range c.Neighbors {
		n := &c.Neighbors[i]
		p := fmt.Sprintf("neighbors[%d]", i)
		a, err := netip.ParseAddr(n.Address)
		switch {
		case n.Address == "":
			bad(p+".address", "required")
		case err != nil || a.IsUnspecified() || a.IsMulticast():
			bad(p+".address", "%q: not a unicast IP address", n.Address)
		case a.Zone() != "":
			bad(p+".address", "%q: link-local neighbours are not supported; use a global address", n.Address)
		default:
			a = a.Unmap()
			if j, dup := addrs[a]; dup {
				bad(p+".address", "%s already names neighbors[%d]", a, j)
			} else {
				addrs[a] = i
				fams[a.Is6()] = true
			}
		}
		if n.ASN == 0 {
			bad(p+".asn", "required: the peer's AS number")
		}
		if n.Port < 1 || n.Port > 65535 {
			bad(p+".port", "%d not in 1..65535", n.Port)
		}
		if len(n.Password) > 80 {
			bad(p+".password", "%d characters: TCP MD5 keys are at most 80 bytes", len(n.Password))
		}
		if h := n.HoldTime; h%time.Second != 0 || h < 3*time.Second || h > 65535*time.Second {
			bad(p+".hold_time", "%s: whole seconds from 3s to 65535s (RFC 4271 §4.2)", h)
		}
		if b := n.BFD; b != nil {
			if b.Interval%time.Millisecond != 0 || b.Interval < 10*time.Millisecond || b.Interval > 10*time.Second {
				bad(p+".bfd.interval", "%s: whole milliseconds from 10ms to 10s", b.Interval)
			}
			if b.Multiplier < 2 || b.Multiplier > 255 {
				bad(p+".bfd.multiplier", "%d not in 2..255", b.Multiplier)
			}
		}
	}
	if len(c.Prefixes) == 0 {
		bad("prefixes", "at least one service prefix is required")
	}
	seen := map[netip.Prefix]int{}
	for i := range c.Prefixes {
		pc := &c.Prefixes[i]
		p := fmt.Sprintf("prefixes[%d]", i)
		pf, err := netip.ParsePrefix(pc.Prefix)
		switch {
		case pc.Prefix == "":
			bad(p+".prefix", "required")
		case err != nil:
			bad(p+".prefix", "%q: not a prefix such as 198.51.100.10/32", pc.Prefix)
		case !pf.IsSingleIP():
			bad(p+".prefix", "%s: a service address is a host route, /32 or /128", pf)
		case pf.Addr().Is4In6():
			bad(p+".prefix", "%s: write an IPv4 service address as IPv4", pf)
		case pf.Addr().IsUnspecified() || pf.Addr().IsMulticast() || pf.Addr().IsLoopback() || pf.Addr().IsLinkLocalUnicast():
			bad(p+".prefix", "%s: not a routable unicast address", pf)
		default:
			if j, dup := seen[pf]; dup {
				bad(p+".prefix", "%s already names prefixes[%d]", pf, j)
			} else {
				seen[pf] = i
				if len(c.Neighbors) > 0 && !fams[pf.Addr().Is6()] {
					bad(p+".prefix", "%s: no %s neighbour to announce it to (an IPv4 session carries IPv4 prefixes, an IPv6 session IPv6 ones)", pf, family(pf.Addr().Is6()))
				}
			}
		}
		for j, cm := range pc.Communities {
			v, err := ParseCommunity(cm)
			if err != nil {
				bad(fmt.Sprintf("%s.communities[%d]", p, j), "%v", err)
			} else if v == GracefulShutdown {
				bad(fmt.Sprintf("%s.communities[%d]", p, j), "65535:0 is GRACEFUL_SHUTDOWN, which halo adds itself while draining")
			}
		}
	}
	return errors.Join(errs...)
}

func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '/' {
			return false
		}
	}
	return s != ""
}
