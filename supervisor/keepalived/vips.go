package keepalived

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/halo-lb/halo/vrrp"
)

// maxVIPs is the most addresses an advert carries (RFC 5798 §5.2.5, an 8-bit count).
const maxVIPs = 255

// vips reads virtual_ipaddress: one address per line, with ip-addr options.
func (c *converter) vips(in *instance, d *Node) {
	at := instanceAnchor(in.cfg.Name)
	for _, l := range d.Block {
		w := l.Words()
		addrs, err := expandRange(w[0])
		if err != nil {
			c.add(at, l.Pos, Error, "virtual_ipaddress %s: %v", w[0], err)
			continue
		}
		var dev, label string
		for i := 1; i < len(w); i++ {
			opt := w[i]
			val := ""
			switch opt {
			case "dev", "label", "brd", "broadcast", "scope", "preferred_lft", "peer", "metric", "track_group":
				if i+1 >= len(w) {
					c.add(at, l.Pos, Warn, "virtual_ipaddress %s: %s needs a value: ignored", w[0], opt)
					continue
				}
				i++
				val = w[i]
			}
			switch opt {
			case "dev":
				dev = val
			case "label":
				label = val
			case "brd", "broadcast":
				c.add(at, l.Pos, Note, "virtual_ipaddress %s: brd %s not carried over: the kernel derives the broadcast address from the prefix", w[0], val)
			case "scope":
				if val != "global" && val != "0" {
					c.add(at, l.Pos, Warn, "virtual_ipaddress %s: scope %s not carried over: halo adds VIPs with scope global", w[0], val)
				}
			case "no_track":
				c.add(at, l.Pos, Warn, "virtual_ipaddress %s: no_track not carried over: the link of a VIP's dev does not change the instance's state in halo either way unless it is listed in track_interfaces", w[0])
			case "home", "nodad", "-", "noprefixroute", "autojoin":
				c.add(at, l.Pos, Warn, "virtual_ipaddress %s: %s not carried over (halo adds IPv6 VIPs with nodad)", w[0], opt)
			default:
				c.add(at, l.Pos, Warn, "virtual_ipaddress %s: %s %s not carried over", w[0], opt, val)
			}
		}
		if len(in.cfg.VIPs)+len(addrs) > maxVIPs {
			c.add(at, l.Pos, Error, "virtual_ipaddress: more than %d addresses, which one VRRP advert cannot list (its count field is 8 bits): split them over several instances", maxVIPs)
			return
		}
		for _, a := range addrs {
			p, err := vrrp.ParseVIP(a)
			if err != nil {
				c.add(at, l.Pos, Error, "virtual_ipaddress: %v", err)
				continue
			}
			v := vrrp.VIP{Prefix: p, Dev: dev, Label: label}
			if label != "" && len(addrs) > 1 {
				v.Label = "" // one label cannot name several addresses of a range
			}
			in.cfg.VIPs = append(in.cfg.VIPs, v)
			in.vipAt = append(in.vipAt, l.Pos)
		}
	}
}

// expandRange accepts keepalived's "192.0.2.10-12/24" ranges (last octet, or last group
// for IPv6) besides plain addresses.
func expandRange(s string) ([]string, error) {
	addr, bits, hasBits := strings.Cut(s, "/")
	suffix := ""
	if hasBits {
		suffix = "/" + bits
	}
	lo, hiStr, isRange := strings.Cut(addr, "-")
	if !isRange {
		return []string{s}, nil
	}
	first, err := netip.ParseAddr(lo)
	if err != nil {
		return nil, fmt.Errorf("%q is not an address", lo)
	}
	hi, err := strconv.ParseUint(hiStr, 10, 16)
	if first.Is6() {
		hi, err = strconv.ParseUint(hiStr, 16, 16)
	}
	if err != nil {
		return nil, fmt.Errorf("range end %q is not a number", hiStr)
	}
	b := first.AsSlice()
	var last uint64
	if first.Is4() {
		last = uint64(b[3])
	} else {
		last = uint64(b[14])<<8 | uint64(b[15])
	}
	if hi < last || hi-last > 255 || (first.Is4() && hi > 255) {
		return nil, fmt.Errorf("range %s: the end must follow the start, at most 256 addresses", s)
	}
	var out []string
	a := first
	for i := last; i <= hi; i++ {
		out = append(out, a.String()+suffix)
		a = a.Next()
	}
	return out, nil
}

func (c *converter) peers(in *instance, d *Node) {
	at := instanceAnchor(in.cfg.Name)
	if in.cfg.Unicast == nil {
		in.cfg.Unicast = &vrrp.Unicast{}
	}
	in.at["unicast.peers"] = d.Pos
	for _, l := range d.Block {
		w := l.Words()
		if _, err := netip.ParseAddr(w[0]); err != nil {
			c.add(at, l.Pos, Error, "unicast_peer %s is not an address", w[0])
			continue
		}
		in.cfg.Unicast.Peers = append(in.cfg.Unicast.Peers, w[0])
		if len(w) > 1 {
			c.add(at, l.Pos, Warn, "unicast_peer %s: %s not carried over: halo checks no TTL on unicast adverts (as keepalived by default)", w[0], strings.Join(w[1:], " "))
		}
	}
}

// accept reads accept and no_accept. keepalived's accept mode only matters where
// keepalived installs firewall rules (vrrp_strict, vrrp_iptables, nftables): without
// accept they drop traffic addressed to the VIPs on a master that is not the address
// owner (vrrp.c vrrp_complete_instance, vrrp_firewall.c). halo installs no firewall rules:
// its master holds the VIPs on the interface and the kernel delivers every packet to
// them, to HAProxy as to ping or ssh, which is keepalived's accept mode.
func (c *converter) accept(in *instance, d *Node) {
	at := in.anchor()
	if d.Name == "accept" {
		c.add(at, d.Pos, Note, "accept: nothing to carry over: halo behaves so always. Its master holds the VIPs on the interface and the kernel delivers all traffic to them (HAProxy, ping, ssh), as keepalived in accept mode; halo installs no firewall rules")
		return
	}
	c.add(at, d.Pos, Warn, "no_accept: not carried over: keepalived, where it installs firewall rules (vrrp_strict, vrrp_iptables, nftables), drops traffic to the VIPs on a master that is not the address owner; halo installs no firewall rules, so its master accepts all traffic to the VIPs (HAProxy's frontends need that anyway). If you relied on the drop rules, add your own nftables rule for the VIPs")
}

// mergeDuplicateVIPs keeps each address once. keepalived keeps a repeated address in its
// list and counts it twice in its adverts; the kernel holds it once, with the options of
// the line that added it first.
func (c *converter) mergeDuplicateVIPs(in *instance) {
	at := in.anchor()
	var vips []vrrp.VIP
	var vipAt []Pos
	first := map[netip.Addr]int{}
	for i, v := range in.cfg.VIPs {
		if v.Dev == in.cfg.Interface {
			v.Dev = "" // the same address either way
		}
		a := v.Prefix.Addr()
		j, dup := first[a]
		if !dup {
			first[a] = len(vips)
			vips, vipAt = append(vips, v), append(vipAt, in.vipAt[i])
			continue
		}
		kept := vips[j]
		diff := ""
		if kept.Prefix != v.Prefix || kept.Dev != v.Dev || kept.Label != v.Label {
			diff = fmt.Sprintf(" The kernel holds it once, as the first line added it (%s); this line's %s was never applied.", vipWords(kept), vipWords(v))
		}
		advert := fmt.Sprintf("keepalived lists the address twice in its adverts, halo once, and a keepalived node drops adverts whose address count differs from its own (\"received an unexpected ip number count\") unless vrrp_skip_check_adv_addr is set: remove the repeated line on the keepalived nodes before mixing them with halo nodes, or migrate every node of %s together", in.cfg.Name)
		if c.skipCheckAdvAddr {
			advert = "keepalived lists the address twice in its adverts and halo once, which keepalived accepts here (vrrp_skip_check_adv_addr)"
		}
		c.add(at, in.vipAt[i], Warn, "virtual_ipaddress %s is listed again (first at %s): merged into one VIP.%s %s", a, vipAt[j], diff, advert)
	}
	in.cfg.VIPs, in.vipAt = vips, vipAt
}

func vipWords(v vrrp.VIP) string {
	s := v.Prefix.String()
	if v.Dev != "" {
		s += " dev " + v.Dev
	}
	if v.Label != "" {
		s += " label " + v.Label
	}
	return s
}
