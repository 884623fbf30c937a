package keepalived

import (
	"math"
	"strconv"
	"time"

	"github.com/halo-lb/halo/vrrp"
)

// instance is a vrrp_instance on its way to vrrp.InstanceConfig.
type instance struct {
	pos Pos
	cfg vrrp.InstanceConfig
	// at maps an output key ("priority", "notify.master") to the keepalived line it
	// came from.
	at map[string]Pos
	// comment replaces the plain "file:line" comment of a key whose value was computed.
	comment map[string]string
	vipAt   []Pos
	version int // explicit version, 0 when keepalived's default applies
	advert  float64
	// tracks are the track_script entries: script name, override weight (nil: the
	// script's), line.
	tracks []trackRef
	group  *group
	// notify is the generic "notify" script (keepalived appends type, name, state and
	// priority to it).
	notify    []string
	notifyPos Pos
	// state is keepalived's initial state, which halo has not; nopreempt matters with it.
	state     string
	statePos  Pos
	nopreempt bool
	// trackIfAt holds the line of each cfg.TrackInterfaces entry, trackIfGroup whether it
	// came from the instance's sync group.
	trackIfAt    []Pos
	trackIfGroup []bool
}

func (in *instance) anchor() anchor { return instanceAnchor(in.cfg.Name) }

type trackRef struct {
	name string
	// weight and reverse override the script's; nil: the script's.
	weight  *int
	reverse *bool
	pos     Pos
	// fromGroup: the line is the sync group's, applied to each member.
	fromGroup bool
}

// instanceReasons say why a vrrp_instance directive is not carried over.
var instanceReasons = map[string]string{
	"mcast_src_ip":               "halo sends multicast adverts from the interface's primary address",
	"use_vmac":                   "halo has no VMAC (macvlan) interfaces: the VIPs move with gratuitous ARP",
	"vmac_xmit_base":             "halo has no VMAC interfaces",
	"native_ipv6":                "halo picks the family from the VIPs",
	"smtp_alert":                 mailReason,
	"virtual_routes":             "halo adds no routes; add them from a notify hook if needed",
	"virtual_rules":              "halo adds no rules; add them from a notify hook if needed",
	"track_file":                 "halo has no file trackers; haloctl maintenance on|off and resign cover the usual uses",
	"track_process":              "halo tracks HAProxy through its runtime API (track_haproxy), not processes",
	"track_bfd":                  "halo has no BFD",
	"strict_mode":                "halo has no strict mode",
	"skip_check_adv_addr":        "halo accepts adverts whatever addresses they list",
	"check_unicast_src":          "halo always drops unicast adverts from addresses that are not listed peers",
	"garp_master_refresh_repeat": "halo sends garp.repeat messages on every refresh",
	"garp_lower_prio_delay":      "halo has no GARP for lower-priority adverts",
	"garp_lower_prio_repeat":     "halo has no GARP for lower-priority adverts",
	"lower_prio_no_advert":       "not configurable in halo",
	"higher_prio_send_advert":    "not configurable in halo",
	"notify_master_rx_lower_pri": "halo has no hook for a lower-priority advert received as master",
	"notify_deleted":             "halo runs notify.stop when an instance is removed",
	"notify_priority_changes":    "halo has no hook for priority changes; haloctl status and the metrics show them",
	"debug":                      "set log.level: debug",
	"lvs_sync_daemon_interface":  "LVS is out of scope for halo",
	"kernel_rx_buf_size":         "not configurable in halo",
	"unicast_fault_no_peer":      "halo refuses an empty unicast peer list at load time",
	"unicast_ttl":                "halo sends unicast adverts with TTL 255",
	"old_unicast_checksum":       "halo computes the RFC checksum",
	"vrrp_gna_interval":          "use garp.refresh",
	"garp_extra_if":              "halo announces on the instance's interface only",
	"down_timer_adverts":         "not configurable in halo",
	"version_3_checksum_as_v2":   "not configurable in halo",
	"nopreempt_delay":            "use preempt_delay",
	"track_src_ip":               "halo uses unicast.source as given",
	"dont_track_primary":         "halo always tracks the instance's own interface: a down link puts the instance in FAULT",
	"virtual_ipaddress_excluded": "halo has no excluded VIPs (held by the master, left out of adverts). Adding them to vips would change the advert, and keepalived drops adverts whose address list differs from its own (unless vrrp_skip_check_adv_addr), so a mixed keepalived/halo cluster would split. Add them to vips once every node runs halo, or give them an instance of their own",
}

func (c *converter) vrrpInstance(n *Node) {
	if len(n.Args) != 1 {
		c.add(anchorHeader, n.Pos, Error, "vrrp_instance needs exactly one name")
		return
	}
	in := &instance{pos: n.Pos, at: map[string]Pos{}, comment: map[string]string{}}
	in.cfg.Name = n.Args[0]
	in.cfg.Priority = keepalivedPriority
	in.advert = 1
	at := in.anchor()
	for _, prev := range c.instances {
		if prev.cfg.Name == in.cfg.Name {
			c.add(at, n.Pos, Error, "vrrp_instance %s is defined twice (first at %s)", in.cfg.Name, prev.pos)
			return
		}
	}
	c.instances = append(c.instances, in)
	if !n.HasBlock {
		c.add(at, n.Pos, Error, "vrrp_instance %s has no '{' block", in.cfg.Name)
		return
	}
	for _, d := range n.Block {
		if read, ok := instanceKeywords[d.Name]; ok {
			read(c, in, d)
		} else {
			c.unsupported(at, d, instanceReasons)
		}
	}
	c.checkInstance(in, n)
	c.skippedConditionals(in, n)
}

// instanceKeyword reads one directive of a vrrp_instance block into in.
type instanceKeyword func(c *converter, in *instance, d *Node)

// instanceKeywords are the vrrp_instance directives halo carries over; any other is
// reported with its reason from instanceReasons. The key in in.at is the output key the
// directive becomes, so that its comment names the line.
var instanceKeywords = map[string]instanceKeyword{
	"state": func(c *converter, in *instance, d *Node) {
		v, ok := c.arg(in.anchor(), d, 0)
		switch {
		case !ok:
		case in.state == "MASTER" && v != "MASTER":
			c.add(in.anchor(), d.Pos, Warn, "state %s after state MASTER (%s): keepalived ignores it and keeps MASTER, and so does the import", v, in.statePos)
		default:
			in.state, in.statePos = v, d.Pos
		}
	},
	"interface":         instanceString("interface", func(in *instance, v string) { in.cfg.Interface = v }),
	"virtual_router_id": instanceInt(1, 255, "vrid", func(in *instance, v int) { in.cfg.VRID = v }),
	"priority":          instanceInt(1, 255, "priority", func(in *instance, v int) { in.cfg.Priority = v }),
	"advert_int":        instanceFloat(0.01, 255, "advert_interval", func(in *instance, v float64) { in.advert = v }),
	"version":           instanceInt(2, 3, "version", func(in *instance, v int) { in.version = v }),
	"nopreempt": func(c *converter, in *instance, d *Node) {
		f := false
		in.cfg.Preempt, in.at["preempt"] = &f, d.Pos
		in.nopreempt = true
	},
	"preempt": func(c *converter, in *instance, d *Node) {
		t := true
		in.cfg.Preempt, in.at["preempt"] = &t, d.Pos
		in.nopreempt = false
	},
	"preempt_delay":     instanceFloat(0, 1000, "preempt_delay", func(in *instance, v float64) { in.cfg.PreemptDelay = seconds(v) }),
	"authentication":    (*converter).authentication,
	"virtual_ipaddress": (*converter).vips,
	"unicast_src_ip": instanceString("unicast.source", func(in *instance, v string) {
		if in.cfg.Unicast == nil {
			in.cfg.Unicast = &vrrp.Unicast{}
		}
		in.cfg.Unicast.Source = v
	}),
	"unicast_peer":    (*converter).peers,
	"track_interface": (*converter).trackInterfaces,
	"track_script":    (*converter).trackScripts,
	"accept":          (*converter).accept,
	"no_accept":       (*converter).accept,
	"notify_master":   instanceNotifyHook,
	"notify_backup":   instanceNotifyHook,
	"notify_fault":    instanceNotifyHook,
	"notify_stop":     instanceNotifyHook,
	"notify": func(c *converter, in *instance, d *Node) {
		if argv, ok := c.hookArgv(in.anchor(), d); ok {
			in.notify, in.notifyPos = argv, d.Pos
		}
	},
	"garp_master_delay": instanceInt(0, 1000, "garp.delay", func(in *instance, v int) {
		dur := time.Duration(v) * time.Second
		in.cfg.GARP.Delay = &dur
	}),
	"garp_master_repeat":  instanceInt(1, 255, "garp.repeat", func(in *instance, v int) { in.cfg.GARP.Repeat = v }),
	"garp_master_refresh": instanceInt(0, 1<<20, "garp.refresh", func(in *instance, v int) { in.cfg.GARP.Refresh = time.Duration(v) * time.Second }),
}

// instanceString, instanceInt and instanceFloat read a directive's first argument, warn
// about a missing or out-of-range one, and record the line under key.
func instanceString(key string, set func(*instance, string)) instanceKeyword {
	return func(c *converter, in *instance, d *Node) {
		if v, ok := c.arg(in.anchor(), d, 0); ok {
			set(in, v)
			in.at[key] = d.Pos
		}
	}
}

func instanceInt(lo, hi int, key string, set func(*instance, int)) instanceKeyword {
	return func(c *converter, in *instance, d *Node) {
		if v, ok := c.intArg(in.anchor(), d, lo, hi); ok {
			set(in, v)
			in.at[key] = d.Pos
		}
	}
}

func instanceFloat(lo, hi float64, key string, set func(*instance, float64)) instanceKeyword {
	return func(c *converter, in *instance, d *Node) {
		if v, ok := c.floatArg(in.anchor(), d, lo, hi); ok {
			set(in, v)
			in.at[key] = d.Pos
		}
	}
}

func instanceNotifyHook(c *converter, in *instance, d *Node) {
	c.notifyHook(in.anchor(), &in.cfg.Notify, in.at, d)
}

// trackScripts reads an instance's track_script block.
func (c *converter) trackScripts(in *instance, d *Node) {
next:
	for _, t := range c.trackScriptLines(in.anchor(), d) {
		for _, prev := range in.tracks {
			if prev.name == t.name {
				c.add(in.anchor(), t.pos, Warn, "track_script %s is listed twice (first at %s): keepalived ignores the later line (\"duplicate track_script\"), and so does the import", t.name, prev.pos)
				continue next
			}
		}
		in.tracks = append(in.tracks, t)
	}
}

// trackScriptLines reads track_script lines as keepalived 2.2.7's alloc_track_script
// does: "NAME [weight W [reverse|noreverse]]"; a line with another option, or a weight
// without value, is ignored whole; a weight outside -254..254 falls back to the script's.
func (c *converter) trackScriptLines(at anchor, d *Node) []trackRef {
	var out []trackRef
	for _, l := range d.Block {
		t := trackRef{name: l.Name, pos: l.Pos}
		if len(l.Args) > 0 {
			if l.Args[0] != "weight" {
				c.add(at, l.Pos, Warn, "track_script %s: unknown option %q: keepalived ignores the whole line (\"unknown track script option\"), so the script is not tracked (here neither)", l.Name, l.Args[0])
				continue
			}
			if len(l.Args) == 1 {
				c.add(at, l.Pos, Warn, "track_script %s: weight without a value: keepalived ignores the whole line, so the script is not tracked (here neither)", l.Name)
				continue
			}
			w, err := strconv.Atoi(l.Args[1])
			switch {
			case err != nil || w < -254 || w > 254:
				c.add(at, l.Pos, Warn, "track_script %s: weight %q is not in -253..253: the script's own weight is used, as by keepalived", l.Name, l.Args[1])
			case w == -254 || w == 254:
				w = w / 254 * 253
				c.add(at, l.Pos, Note, "track_script %s: weight %s is taken as %d, as keepalived does", l.Name, l.Args[1], w)
				t.weight = &w
			default:
				t.weight = &w
			}
			if len(l.Args) > 2 {
				switch l.Args[2] {
				case "reverse", "noreverse":
					r := l.Args[2] == "reverse"
					t.reverse = &r
				default:
					c.add(at, l.Pos, Warn, "track_script %s: unknown weight option %q ignored, as keepalived does", l.Name, l.Args[2])
				}
			}
		}
		out = append(out, t)
	}
	return out
}

// checkInstance settles what the block as a whole decides: the state keepalived started
// in, the required directives, address ownership, unicast without peers, one family.
func (c *converter) checkInstance(in *instance, n *Node) {
	at := in.anchor()
	c.settleState(in)
	if in.cfg.Interface == "" {
		c.add(at, n.Pos, Error, "vrrp_instance %s has no interface", in.cfg.Name)
	}
	if in.cfg.VRID == 0 {
		c.add(at, n.Pos, Error, "vrrp_instance %s has no virtual_router_id", in.cfg.Name)
	}
	if len(in.cfg.VIPs) == 0 {
		c.add(at, n.Pos, Error, "vrrp_instance %s has no virtual_ipaddress: halo needs at least one VIP per instance", in.cfg.Name)
	}
	if in.cfg.Priority == 255 {
		in.cfg.AddressOwner = true
		c.add(at, in.at["priority"], Note, "priority 255: this node owns the addresses (address_owner: true)")
	}
	if in.cfg.Unicast != nil && len(in.cfg.Unicast.Peers) == 0 {
		c.add(at, in.at["unicast.source"], Warn, "unicast_src_ip without unicast_peer: keepalived before 2.2.4 silently sent multicast; halo would refuse an empty peer list, so the instance stays multicast")
		in.cfg.Unicast = nil
	}
	c.mergeDuplicateVIPs(in)
	// One family per instance, in halo as in keepalived (which moves the odd ones to
	// virtual_ipaddress_excluded): keep the family of the first VIP.
	var vips []vrrp.VIP
	var vipAt []Pos
	for i, v := range in.cfg.VIPs {
		if v.Dev == in.cfg.Interface {
			v.Dev = ""
		}
		if v.Prefix.Addr().Is6() != in.cfg.VIPs[0].Prefix.Addr().Is6() {
			c.add(at, in.vipAt[i], Warn, "virtual_ipaddress %s: not of the family of %s, and an instance carries one family (keepalived treats it as excluded): not carried over; give it an instance of its own", v.Prefix, in.cfg.VIPs[0].Prefix)
			continue
		}
		vips, vipAt = append(vips, v), append(vipAt, in.vipAt[i])
	}
	in.cfg.VIPs, in.vipAt = vips, vipAt
}

// seconds converts keepalived's decimal seconds, rounded to the centisecond VRRPv3 carries.
func seconds(v float64) time.Duration {
	return time.Duration(math.Round(v*100)) * 10 * time.Millisecond
}

func (c *converter) authentication(in *instance, d *Node) {
	at := instanceAnchor(in.cfg.Name)
	var typ, pass string
	var typPos, passPos Pos
	for _, l := range d.Block {
		switch l.Name {
		case "auth_type":
			if v, ok := c.arg(at, l, 0); ok {
				typ, typPos = v, l.Pos
			}
		case "auth_pass":
			if v, ok := c.arg(at, l, 0); ok {
				pass, passPos = v, l.Pos
			}
		default:
			c.unsupported(at, l, nil)
		}
	}
	switch typ {
	case "PASS":
		if len(pass) > 8 {
			c.add(at, passPos, Warn, "auth_pass is longer than 8 characters: keepalived sends only the first 8, and so does halo (auth_pass: %q)", pass[:8])
			pass = pass[:8]
		}
		if pass == "" {
			c.add(at, typPos, Warn, "auth_type PASS without auth_pass: no authentication")
			return
		}
		in.cfg.AuthPass, in.at["auth_pass"] = pass, passPos
	case "AH":
		c.add(at, typPos, Error, "auth_type AH refused: IPsec AH authentication (RFC 2338) was dropped from VRRP by RFC 3768 and RFC 5798, and halo does not implement it. Remove the authentication block on every keepalived node first (all nodes must agree), then import again")
	case "":
		c.add(at, d.Pos, Warn, "authentication without auth_type: ignored, as by keepalived")
	default:
		c.add(at, typPos, Warn, "auth_type %s is not PASS or AH: ignored", typ)
	}
}
