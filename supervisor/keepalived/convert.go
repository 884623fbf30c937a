package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/halo-lb/halo/vrrp"
)

// maxVIPs is the most addresses an advert carries (RFC 5798 §5.2.5, an 8-bit count).
const maxVIPs = 255

// keepalived's own defaults where they differ from halo's, so that the output says what
// keepalived did rather than what halo would assume.
const (
	keepalivedVersion  = 2 // vrrp_version
	keepalivedPriority = 100
)

// anchor names the output item a message is written above: "" is the file header.
type anchor string

const (
	anchorHeader  anchor = ""
	anchorHAProxy anchor = "haproxy"
)

func instanceAnchor(name string) anchor { return anchor("instance " + name) }
func groupAnchor(name string) anchor    { return anchor("group " + name) }

// message is a Warning and where in the output it is repeated.
type message struct {
	Warning
	at anchor
}

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
	// trapTold: the pidof warning was given once, beside the first instance.
	trapTold bool
}

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
}

type trackRef struct {
	name   string
	weight *int
	pos    Pos
}

type group struct {
	pos            Pos
	cfg            vrrp.SyncGroupConfig
	at             map[string]Pos
	trackingWeight bool
	notify         []string
	notifyPos      Pos
}

// checkOut is what becomes haproxy.check, from the first HAProxy-running script.
type checkOut struct {
	from       *script
	rise, fall int
}

type converter struct {
	opts    Options
	msgs    []message
	scripts map[string]*script
	order   []*script

	routerID    string
	routerIDPos Pos
	version     int
	versionPos  Pos
	garp        vrrp.GARPConfig
	garpAt      map[string]Pos

	instances []*instance
	groups    []*group
	// v2Default lists the instances left at keepalived's default VRRPv2, for one note.
	v2Default []*instance
	check     *checkOut
	hap       *haproxyInfo
	files     map[string]int
	// mainName and baseDir: the main file's name as messages show it, and the
	// directory relative script paths are resolved against.
	mainName string
	baseDir  string
}

func (c *converter) add(at anchor, pos Pos, k Kind, format string, args ...any) {
	c.msgs = append(c.msgs, message{Warning{Pos: pos, Kind: k, Msg: fmt.Sprintf(format, args...)}, at})
}

func (c *converter) errors() int {
	n := 0
	for _, m := range c.msgs {
		if m.Kind == Error {
			n++
		}
	}
	return n
}

// convert walks the top level. Scripts and global_defs are read first because
// keepalived resolves them after the whole file is read: an instance may name a script
// defined below it.
func (c *converter) convert(nodes []*Node) {
	c.scripts = map[string]*script{}
	c.garpAt = map[string]Pos{}
	for _, n := range nodes {
		switch n.Name {
		case "global_defs":
			c.globalDefs(n)
		case "vrrp_script":
			c.vrrpScript(n)
		}
	}
	for _, n := range nodes {
		switch n.Name {
		case "global_defs", "vrrp_script":
		case "vrrp_instance":
			c.vrrpInstance(n)
		case "vrrp_sync_group":
			c.syncGroup(n)
		case "virtual_server", "virtual_server_group":
			c.add(anchorHeader, n.Pos, Warn, "%s %s refused: it configures LVS (IPVS) in the kernel; halo fronts HAProxy and does not program IPVS. Move the service into haproxy.cfg (a frontend and a backend with health checks) or keep a keepalived that only does LVS; the rest of the file was converted", n.Name, strings.Join(n.Args, " "))
		default:
			c.unsupported(anchorHeader, n, topLevelReasons)
		}
	}
	c.resolve()
	for _, s := range c.order {
		if !s.used {
			c.add(anchorHeader, s.pos, Note, "vrrp_script %s is tracked by no instance: not converted", s.name)
		}
	}
	if len(c.instances) == 0 && c.errors() == 0 {
		c.add(anchorHeader, Pos{File: c.mainName}, Error, "no vrrp_instance to convert: halo needs at least one VRRP instance")
	}
}

// unsupported warns about a directive halo does not carry, with the reason when one is
// known.
func (c *converter) unsupported(at anchor, n *Node, reasons map[string]string) {
	what := n.Name
	if len(n.Args) > 0 {
		what += " " + strings.Join(n.Args, " ")
	}
	if len(what) > 60 {
		what = what[:57] + "..."
	}
	if r, ok := reasons[n.Name]; ok {
		c.add(at, n.Pos, Warn, "%s: not carried over: %s", what, r)
		return
	}
	c.add(at, n.Pos, Warn, "%s: unknown or unsupported keyword, not carried over", what)
}

const mailReason = "halo sends no e-mail; run a mailer from a notify hook instead"

var topLevelReasons = map[string]string{
	"static_ipaddress":     "static addresses are host network configuration: move them to the system's network setup (ifupdown, systemd-networkd, netplan)",
	"static_routes":        "static routes are host network configuration: move them to the system's network setup",
	"static_rules":         "static rules are host network configuration: move them to the system's network setup",
	"vrrp_track_process":   "halo tracks HAProxy through its runtime API (track_haproxy) and runs no process trackers",
	"vrrp_track_file":      "halo has no file trackers; its control socket (haloctl maintenance on|off, resign) covers the usual uses",
	"track_file":           "halo has no file trackers; its control socket (haloctl maintenance on|off, resign) covers the usual uses",
	"bfd_instance":         "halo has no BFD",
	"linkbeat_use_polling": "halo follows link state through netlink",
	"net_namespace":        "run halod itself in the namespace (ip netns exec, or the unit's NetworkNamespacePath=)",
	"real_server":          "LVS is out of scope for halo",
	"garp_group":           "halo sends gratuitous ARP per instance (vrrp.instances[].garp)",
	"vrrp_gna_interval":    "use vrrp.instances[].garp.refresh",
}

var globalReasons = map[string]string{
	"notification_email":              mailReason,
	"notification_email_from":         mailReason,
	"smtp_server":                     mailReason,
	"smtp_connect_timeout":            mailReason,
	"smtp_helo_name":                  mailReason,
	"smtp_alert":                      mailReason,
	"smtp_alert_vrrp":                 mailReason,
	"smtp_alert_checker":              mailReason,
	"email_faults":                    mailReason,
	"vrrp_strict":                     "halo has no strict mode; it already refuses what RFC 5798 forbids (VRRPv3 authentication, priority 255 for a non-owner) and adds no firewall rules for the VIPs",
	"vrrp_iptables":                   "halo adds no firewall rules",
	"vrrp_ipsets":                     "halo adds no firewall rules",
	"nftables":                        "halo adds no firewall rules",
	"vrrp_skip_check_adv_addr":        "halo accepts adverts whatever addresses they list",
	"vrrp_check_unicast_src":          "halo always drops unicast adverts from addresses that are not listed peers",
	"vrrp_mcast_group4":               "halo uses the standard group 224.0.0.18",
	"vrrp_mcast_group6":               "halo uses the standard group ff02::12",
	"vrrp_garp_lower_prio_delay":      "halo has no GARP for lower-priority adverts",
	"vrrp_garp_lower_prio_repeat":     "halo has no GARP for lower-priority adverts",
	"vrrp_garp_master_refresh_repeat": "halo sends vrrp.instances[].garp.repeat messages on every refresh",
	"vrrp_higher_prio_send_advert":    "not configurable in halo",
	"vrrp_lower_prio_no_advert":       "not configurable in halo",
	"vrrp_priority":                   "halod's scheduling priority belongs in its systemd unit (Nice=, CPUSchedulingPolicy=)",
	"vrrp_rt_priority":                "halod's scheduling priority belongs in its systemd unit (CPUSchedulingPolicy=, CPUSchedulingPriority=)",
	"checker_priority":                "LVS checkers are out of scope for halo",
	"max_auto_priority":               "halod's scheduling priority belongs in its systemd unit",
	"vrrp_no_swap":                    "use the unit's MemoryLock settings",
	"enable_traps":                    "halo has no SNMP; scrape its Prometheus metrics instead",
	"enable_snmp_vrrp":                "halo has no SNMP; scrape its Prometheus metrics instead",
	"enable_snmp_keepalived":          "halo has no SNMP; scrape its Prometheus metrics instead",
	"enable_snmp_rfcv2":               "halo has no SNMP; scrape its Prometheus metrics instead",
	"enable_snmp_rfcv3":               "halo has no SNMP; scrape its Prometheus metrics instead",
	"enable_dbus":                     "halo has no D-Bus interface; use haloctl or the control socket",
	"dynamic_interfaces":              "halo waits for a missing interface by itself: an instance whose link is absent is in FAULT",
	"vrrp_startup_delay":              "not configurable in halo",
	"vrrp_notify_fifo":                "halo runs notify hooks itself, in order, each with a timeout",
	"vrrp_notify_fifo_script":         "halo runs notify hooks itself, in order, each with a timeout",
	"notify_fifo":                     "halo runs notify hooks itself, in order, each with a timeout",
	"notify_fifo_script":              "halo runs notify hooks itself, in order, each with a timeout",
	"lvs_id":                          "LVS is out of scope for halo",
	"lvs_sync_daemon":                 "LVS is out of scope for halo",
	"lvs_flush":                       "LVS is out of scope for halo",
	"lvs_timeouts":                    "LVS is out of scope for halo",
	"script_security":                 "halo runs no check scripts",
}

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
	"accept":                     "halo never accepts traffic to the VIPs on behalf of HAProxy; HAProxy binds them",
	"no_accept":                  "halo never accepts traffic to the VIPs on behalf of HAProxy; HAProxy binds them",
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

// ---- global_defs ----

func (c *converter) globalDefs(n *Node) {
	for _, d := range n.Block {
		switch d.Name {
		case "router_id":
			if v, ok := c.arg(anchorHeader, d, 0); ok {
				c.routerID, c.routerIDPos = v, d.Pos
			}
		case "vrrp_version":
			v, ok := c.intArg(anchorHeader, d, 2, 3)
			if ok {
				c.version, c.versionPos = v, d.Pos
			}
		case "vrrp_garp_master_delay":
			if v, ok := c.intArg(anchorHeader, d, 0, 1000); ok {
				dur := time.Duration(v) * time.Second
				c.garp.Delay, c.garpAt["delay"] = &dur, d.Pos
			}
		case "vrrp_garp_master_repeat":
			if v, ok := c.intArg(anchorHeader, d, 1, 255); ok {
				c.garp.Repeat, c.garpAt["repeat"] = v, d.Pos
			}
		case "vrrp_garp_master_refresh":
			if v, ok := c.intArg(anchorHeader, d, 0, 1<<20); ok {
				c.garp.Refresh, c.garpAt["refresh"] = time.Duration(v)*time.Second, d.Pos
			}
		case "enable_script_security", "script_user":
			c.add(anchorHeader, d.Pos, Note, "%s: nothing to carry over: halo runs no check scripts, and its notify hooks run as argv without a shell, as halod's user", d.Name)
		default:
			c.unsupported(anchorHeader, d, globalReasons)
		}
	}
}

// ---- vrrp_script ----

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
		switch d.Name {
		case "script":
			argv, runAs, err := commandOf(d)
			if err != nil {
				c.add(anchorHeader, d.Pos, Warn, "vrrp_script %s: cannot split the command: %v", s.name, err)
				continue
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
		case "interval":
			if v, ok := c.floatArg(anchorHeader, d, 0, math.MaxInt32); ok {
				s.interval = v
			}
		case "timeout":
			if v, ok := c.floatArg(anchorHeader, d, 0, math.MaxInt32); ok {
				s.timeout = v
			}
		case "weight":
			if v, ok := c.intArg(anchorHeader, d, -253, 253); ok {
				s.weight = v
			}
			if len(d.Args) > 1 && d.Args[1] == "reverse" {
				s.reverse = true
			}
		case "rise":
			if v, ok := c.intArg(anchorHeader, d, 1, math.MaxInt32); ok {
				s.rise = v
			}
		case "fall":
			if v, ok := c.intArg(anchorHeader, d, 1, math.MaxInt32); ok {
				s.fall = v
			}
		case "user":
			c.add(anchorHeader, d.Pos, Note, "vrrp_script %s: user %s: halo runs no check scripts", s.name, strings.Join(d.Args, " "))
		case "init_fail":
			c.add(anchorHeader, d.Pos, Note, "vrrp_script %s: init_fail: halo starts HAProxy tracking as failed until the first rise checks pass", s.name)
		default:
			c.unsupported(anchorHeader, d, nil)
		}
	}
	if s.argv == nil {
		c.add(anchorHeader, n.Pos, Warn, "vrrp_script %s has no script: skipped", s.name)
	}
	if _, dup := c.scripts[s.name]; !dup {
		c.order = append(c.order, s)
	}
	c.scripts[s.name] = s
}

// commandOf splits a script or notify directive as keepalived does: the whole line with
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

// ---- vrrp_instance ----

func (c *converter) vrrpInstance(n *Node) {
	if len(n.Args) != 1 {
		c.add(anchorHeader, n.Pos, Error, "vrrp_instance needs exactly one name")
		return
	}
	in := &instance{pos: n.Pos, at: map[string]Pos{}, comment: map[string]string{}}
	in.cfg.Name = n.Args[0]
	in.cfg.Priority = keepalivedPriority
	in.advert = 1
	at := instanceAnchor(in.cfg.Name)
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
	var state string
	var statePos Pos
	var nopreempt *Node
	for _, d := range n.Block {
		switch d.Name {
		case "state":
			if v, ok := c.arg(at, d, 0); ok {
				state, statePos = v, d.Pos
			}
		case "interface":
			if v, ok := c.arg(at, d, 0); ok {
				in.cfg.Interface, in.at["interface"] = v, d.Pos
			}
		case "virtual_router_id":
			if v, ok := c.intArg(at, d, 1, 255); ok {
				in.cfg.VRID, in.at["vrid"] = v, d.Pos
			}
		case "priority":
			if v, ok := c.intArg(at, d, 1, 255); ok {
				in.cfg.Priority, in.at["priority"] = v, d.Pos
			}
		case "advert_int":
			if v, ok := c.floatArg(at, d, 0.01, 255); ok {
				in.advert, in.at["advert_interval"] = v, d.Pos
			}
		case "version":
			if v, ok := c.intArg(at, d, 2, 3); ok {
				in.version, in.at["version"] = v, d.Pos
			}
		case "nopreempt":
			f := false
			in.cfg.Preempt, in.at["preempt"] = &f, d.Pos
			nopreempt = d
		case "preempt":
			t := true
			in.cfg.Preempt, in.at["preempt"] = &t, d.Pos
		case "preempt_delay":
			if v, ok := c.floatArg(at, d, 0, 1000); ok {
				in.cfg.PreemptDelay, in.at["preempt_delay"] = seconds(v), d.Pos
			}
		case "authentication":
			c.authentication(in, d)
		case "virtual_ipaddress":
			c.vips(in, d)
		case "unicast_src_ip":
			if v, ok := c.arg(at, d, 0); ok {
				if in.cfg.Unicast == nil {
					in.cfg.Unicast = &vrrp.Unicast{}
				}
				in.cfg.Unicast.Source, in.at["unicast.source"] = v, d.Pos
			}
		case "unicast_peer":
			c.peers(in, d)
		case "track_interface":
			c.trackInterfaces(in, d)
		case "track_script":
			for _, l := range d.Block {
				t := trackRef{name: l.Name, pos: l.Pos}
				if len(l.Args) > 0 && l.Args[0] != "weight" {
					c.add(at, l.Pos, Warn, "track_script %s: %q ignored: keepalived reads one script per line, then an optional \"weight N\"", l.Name, strings.Join(l.Args, " "))
				}
				if len(l.Args) >= 2 && l.Args[0] == "weight" {
					w, err := strconv.Atoi(l.Args[1])
					if err != nil || w < -253 || w > 253 {
						c.add(at, l.Pos, Warn, "track_script %s: weight %q is not a number in -253..253: the script's own weight is used", l.Name, l.Args[1])
					} else {
						t.weight = &w
					}
					if len(l.Args) > 2 && l.Args[2] == "reverse" {
						c.add(at, l.Pos, Warn, "track_script %s: reverse is not carried over", l.Name)
					}
				}
				in.tracks = append(in.tracks, t)
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop":
			c.notifyHook(at, &in.cfg.Notify, in.at, d)
		case "notify":
			if argv, ok := c.hookArgv(at, d); ok {
				in.notify, in.notifyPos = argv, d.Pos
			}
		case "garp_master_delay":
			if v, ok := c.intArg(at, d, 0, 1000); ok {
				dur := time.Duration(v) * time.Second
				in.cfg.GARP.Delay, in.at["garp.delay"] = &dur, d.Pos
			}
		case "garp_master_repeat":
			if v, ok := c.intArg(at, d, 1, 255); ok {
				in.cfg.GARP.Repeat, in.at["garp.repeat"] = v, d.Pos
			}
		case "garp_master_refresh":
			if v, ok := c.intArg(at, d, 0, 1<<20); ok {
				in.cfg.GARP.Refresh, in.at["garp.refresh"] = time.Duration(v)*time.Second, d.Pos
			}
		default:
			c.unsupported(at, d, instanceReasons)
		}
	}

	switch state {
	case "":
	case "MASTER", "BACKUP":
		msg := "state %s: halo has no initial state; the priority (and preempt) decide who becomes master"
		if state == "MASTER" && nopreempt != nil {
			c.add(at, statePos, Warn, msg+"; note that keepalived ignores nopreempt on an instance whose state is MASTER, so this node used to preempt. halo honours nopreempt (preempt: false): remove that line to keep keepalived's behaviour", state)
		} else {
			c.add(at, statePos, Note, msg, state)
		}
	default:
		c.add(at, statePos, Warn, "state %s is not MASTER or BACKUP (keepalived treats it as BACKUP); halo has no initial state anyway: the priority decides", state)
	}
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

func (c *converter) trackInterfaces(in *instance, d *Node) {
	at := instanceAnchor(in.cfg.Name)
	in.at["track_interfaces"] = d.Pos
	for _, l := range d.Block {
		in.cfg.TrackInterfaces = append(in.cfg.TrackInterfaces, l.Name)
		if len(l.Args) > 0 {
			c.add(at, l.Pos, Warn, "track_interface %s: %s not carried over: in halo a tracked interface that goes down puts the instance in FAULT (keepalived's weight 0)", l.Name, strings.Join(l.Args, " "))
		}
	}
}

// hookArgv reads a notify command; the user/group words keepalived allows after it are
// dropped with a warning.
func (c *converter) hookArgv(at anchor, d *Node) ([]string, bool) {
	argv, runAs, err := commandOf(d)
	if err != nil {
		c.add(at, d.Pos, Warn, "%s: cannot split the command: %v: not carried over", d.Name, err)
		return nil, false
	}
	if len(runAs) > 0 {
		c.add(at, d.Pos, Warn, "%s: keepalived runs %s as user/group %q (the words after an unquoted command); halo runs hooks as halod's user. If those words were meant as arguments, quote the whole command in keepalived.conf", d.Name, argv[0], strings.Join(runAs, " "))
	}
	return argv, true
}

func (c *converter) notifyHook(at anchor, n *vrrp.Notify, where map[string]Pos, d *Node) {
	argv, ok := c.hookArgv(at, d)
	if !ok {
		return
	}
	key := strings.TrimPrefix(d.Name, "notify_")
	switch key {
	case "master":
		n.Master = argv
	case "backup":
		n.Backup = argv
	case "fault":
		n.Fault = argv
	case "stop":
		n.Stop = argv
	}
	where["notify."+key] = d.Pos
}

// genericNotify spreads keepalived's "notify" script over the four hooks, with the
// arguments keepalived appends: type, name, state and (for instances) the priority.
func (c *converter) genericNotify(at anchor, n *vrrp.Notify, where map[string]Pos, argv []string, pos Pos, typ, name string, prio int) {
	hooks := []struct {
		key, state string
		dst        *[]string
	}{{"master", "MASTER", &n.Master}, {"backup", "BACKUP", &n.Backup}, {"fault", "FAULT", &n.Fault}, {"stop", "STOP", &n.Stop}}
	var kept []string
	for _, h := range hooks {
		if *h.dst != nil {
			c.add(at, pos, Warn, "notify %s: halo runs one hook per state and notify_%s is set, so this script does not run on %s (keepalived ran both)", argv[0], h.key, h.state)
			continue
		}
		a := append(append([]string{}, argv...), typ, name, h.state)
		if typ == "INSTANCE" {
			a = append(a, strconv.Itoa(prio))
		}
		*h.dst = a
		where["notify."+h.key] = pos
		kept = append(kept, h.key)
	}
	if len(kept) > 0 && typ == "INSTANCE" {
		c.add(at, pos, Note, "notify %s: keepalived calls it with \"%s %s <state> <priority>\"; halo passes the same words, written out per state, with the configured priority %d rather than the effective one", argv[0], typ, name, prio)
	}
}

// ---- vrrp_sync_group ----

func (c *converter) syncGroup(n *Node) {
	if len(n.Args) != 1 {
		c.add(anchorHeader, n.Pos, Error, "vrrp_sync_group needs exactly one name")
		return
	}
	g := &group{pos: n.Pos, at: map[string]Pos{}}
	g.cfg.Name = n.Args[0]
	at := groupAnchor(g.cfg.Name)
	c.groups = append(c.groups, g)
	groups := 0
	for _, d := range n.Block {
		switch d.Name {
		case "group":
			groups++
			if groups > 1 {
				c.add(at, d.Pos, Note, "a second group block: its instances are added to %s, as keepalived does", g.cfg.Name)
			}
			for _, l := range d.Block {
				g.cfg.Instances = append(g.cfg.Instances, l.Words()...)
			}
			g.at["instances"] = d.Pos
		case "notify_master", "notify_backup", "notify_fault", "notify_stop":
			c.notifyHook(at, &g.cfg.Notify, g.at, d)
		case "notify":
			if argv, ok := c.hookArgv(at, d); ok {
				g.notify, g.notifyPos = argv, d.Pos
			}
		case "sync_group_tracking_weight", "global_tracking":
			g.trackingWeight = true
		case "smtp_alert":
			c.unsupported(at, d, map[string]string{"smtp_alert": mailReason})
		case "track_interface", "track_script", "track_file", "track_process", "track_bfd":
			c.add(at, d.Pos, Warn, "%s on a sync group: not carried over: put it on each member instance (halo tracks per instance, and a FAULT in one member moves the group)", d.Name)
		default:
			c.unsupported(at, d, nil)
		}
	}
	if g.notify != nil {
		c.genericNotify(at, &g.cfg.Notify, g.at, g.notify, g.notifyPos, "GROUP", g.cfg.Name, 0)
	}
}

// ---- resolution across blocks ----

// resolve settles what depends on more than one block: versions and intervals (global
// vrrp_version), GARP defaults, sync-group membership, tracked scripts and the generic
// notify.
func (c *converter) resolve() {
	byName := map[string]*instance{}
	for _, in := range c.instances {
		byName[in.cfg.Name] = in
	}
	for _, g := range c.groups {
		at := groupAnchor(g.cfg.Name)
		var kept []string
		for _, name := range g.cfg.Instances {
			in, ok := byName[name]
			switch {
			case !ok:
				c.add(at, g.at["instances"], Error, "sync group %s names %s, which is no vrrp_instance", g.cfg.Name, name)
			case in.group != nil:
				c.add(at, g.at["instances"], Error, "instance %s is in sync groups %s and %s; keepalived and halo allow one", name, in.group.cfg.Name, g.cfg.Name)
			default:
				in.group = g
				kept = append(kept, name)
			}
		}
		g.cfg.Instances = kept
		if len(kept) == 1 {
			c.add(at, g.pos, Warn, "sync group %s has a single instance: dropped, as keepalived does", g.cfg.Name)
			byName[kept[0]].group = nil
			g.cfg.Instances = nil
		}
	}
	for _, in := range c.instances {
		c.resolveInstance(in)
	}
	if len(c.v2Default) > 0 {
		var names []string
		for _, in := range c.v2Default {
			names = append(names, in.cfg.Name)
		}
		c.add(anchorHeader, c.v2Default[0].pos, Note, "version: 2 for %s, because keepalived defaults to VRRPv2 and halo and keepalived nodes must speak the same version to form one cluster during the migration. Once every node runs halo, move all of them to version 3 together", strings.Join(names, ", "))
	}
}

func (c *converter) resolveInstance(in *instance) {
	at := instanceAnchor(in.cfg.Name)
	// Version: the instance's, else global_defs', else keepalived's default 2, then
	// raised to 3 where v2 cannot carry the instance.
	v, vpos := in.version, in.at["version"]
	if v == 0 && c.version != 0 {
		v, vpos = c.version, c.versionPos
	}
	defaulted := v == 0
	if defaulted {
		v = keepalivedVersion
	}
	ipv6 := len(in.cfg.VIPs) > 0 && in.cfg.VIPs[0].Prefix.Addr().Is6()
	frac := in.advert != math.Trunc(in.advert)
	switch {
	case v == 2 && ipv6:
		if !defaulted {
			c.add(at, vpos, Note, "IPv6 needs VRRPv3: version 3, as keepalived uses for IPv6 whatever vrrp_version says")
		}
		v = 3
	case v == 2 && frac:
		if defaulted {
			c.add(at, in.at["advert_interval"], Note, "advert_int %g is not whole seconds, which only VRRPv3 carries: version 3 (every keepalived node of this instance needs vrrp_version 3 too)", in.advert)
		} else {
			c.add(at, in.at["advert_interval"], Warn, "advert_int %g with VRRPv2, which carries whole seconds only (keepalived 2.2 refuses it): version 3 chosen; set vrrp_version 3 on the keepalived nodes too", in.advert)
		}
		v = 3
	case v == 2 && defaulted:
		c.v2Default = append(c.v2Default, in)
		in.comment["version"] = "keepalived's default"
	}
	in.cfg.Version = v
	if vpos.Line != 0 {
		in.at["version"] = vpos
	}
	in.cfg.AdvertInterval = seconds(in.advert)
	if v == 2 && in.advert < 1 {
		in.cfg.AdvertInterval = time.Second
	}
	if in.cfg.AuthPass != "" && v == 3 {
		c.add(at, in.at["auth_pass"], Warn, "authentication is not part of VRRPv3 (RFC 5798): dropped, as keepalived ignores it with version 3 too")
		in.cfg.AuthPass = ""
		delete(in.at, "auth_pass")
	}
	// GARP defaults from global_defs.
	if in.cfg.GARP.Delay == nil && c.garp.Delay != nil {
		in.cfg.GARP.Delay, in.at["garp.delay"] = c.garp.Delay, c.garpAt["delay"]
	}
	if in.cfg.GARP.Repeat == 0 && c.garp.Repeat != 0 {
		in.cfg.GARP.Repeat, in.at["garp.repeat"] = c.garp.Repeat, c.garpAt["repeat"]
	}
	if in.cfg.GARP.Refresh == 0 && c.garp.Refresh != 0 {
		in.cfg.GARP.Refresh, in.at["garp.refresh"] = c.garp.Refresh, c.garpAt["refresh"]
	}
	c.resolveTracks(in)
	if in.notify != nil {
		c.genericNotify(at, &in.cfg.Notify, in.at, in.notify, in.notifyPos, "INSTANCE", in.cfg.Name, in.cfg.Priority)
	}
}

// resolveTracks turns the instance's track_script entries into track_haproxy.
func (c *converter) resolveTracks(in *instance) {
	at := instanceAnchor(in.cfg.Name)
	for _, t := range in.tracks {
		s, ok := c.scripts[t.name]
		if !ok {
			c.add(at, t.pos, Warn, "track_script %s: no vrrp_script of that name (keepalived ignores it too)", t.name)
			continue
		}
		s.used = true
		if s.argv == nil {
			continue
		}
		chk := c.classify(s)
		switch chk.kind {
		case checkOther:
			c.add(at, t.pos, Warn, "track_script %s runs %q, which is not only a test that HAProxy runs (%s): halo runs no arbitrary check scripts, so it is not carried over", t.name, strings.Join(s.argv, " "), chk.how)
			continue
		case checkUnreadable:
			c.add(at, t.pos, Warn, "track_script %s runs the script %s, which the importer could not read (%s), so it cannot tell whether it only checks HAProxy: not carried over. If it does, add track_haproxy by hand (or import with -root pointing at a copy of the node's files)", t.name, chk.file, chk.how)
			continue
		}
		if in.cfg.TrackHAProxy != nil {
			c.add(at, t.pos, Warn, "track_script %s also checks HAProxy: the first such script (%s) decides track_haproxy", t.name, in.at["track_haproxy"])
			continue
		}
		weight := s.weight
		if t.weight != nil {
			weight = *t.weight
		}
		how := chk.how
		if chk.file != "" {
			how = fmt.Sprintf("%s (script %s)", how, chk.file)
		}
		tr := &vrrp.Track{}
		in.at["track_haproxy"] = t.pos
		switch {
		case s.reverse:
			c.add(at, t.pos, Warn, "track_script %s: weight %d reverse is not carried over: tracked as fault: true", t.name, weight)
			tr.Fault = true
		case weight == 0:
			tr.Fault = true
			c.add(at, t.pos, Note, "track_script %s (%s) has no weight: as in keepalived, a failed check puts the instance in FAULT (fault: true)", t.name, how)
		case in.group != nil && !in.group.trackingWeight:
			tr.Fault = true
			c.add(at, t.pos, Warn, "track_script %s has weight %d, but %s is in sync group %s, where keepalived ignores weighted trackers (unless sync_group_tracking_weight), so a dead HAProxy never moved it. halo tracks it as fault: true, which moves the whole group: remove track_haproxy to keep keepalived's behaviour", t.name, weight, in.cfg.Name, in.group.cfg.Name)
		case in.cfg.AddressOwner:
			c.add(at, t.pos, Warn, "track_script %s has weight %d, but keepalived never changes the priority of an address owner (priority 255): not carried over", t.name, weight)
			tr = nil
			delete(in.at, "track_haproxy")
		case weight > 0:
			// keepalived adds a positive weight while the check succeeds; halo applies
			// a weight while the check fails. Raising the base priority by the weight
			// and subtracting it on failure advertises exactly keepalived's priorities
			// in both states, so mixed keepalived/halo clusters agree on the master.
			p := in.cfg.Priority + weight
			if p > 254 {
				c.add(at, t.pos, Warn, "track_script %s: priority %d + weight %d exceeds 254 (keepalived caps it at 254 too): priority 254, weight %d", t.name, in.cfg.Priority, weight, -(254 - in.cfg.Priority))
				weight = 254 - in.cfg.Priority
				p = 254
			}
			c.add(at, t.pos, Note, "track_script %s (%s) weight %+d: keepalived adds it while HAProxy runs, halo subtracts a weight while HAProxy fails. Written as priority %d (%d%+d) and weight %d, which advertises the same priorities as keepalived in both states", t.name, how, weight, p, in.cfg.Priority, weight, -weight)
			base := "default"
			if bp, ok := in.at["priority"]; ok {
				base = bp.String()
			}
			in.comment["priority"] = fmt.Sprintf("%d (%s) + weight %d (%s)", in.cfg.Priority, base, weight, t.pos)
			in.cfg.Priority = p
			tr.Weight = -weight
		default:
			tr.Weight = weight
			c.add(at, t.pos, Note, "track_script %s (%s) weight %d: the priority drops by %d while HAProxy fails, as in keepalived", t.name, how, weight, -weight)
		}
		if tr == nil {
			continue
		}
		if chk.pidofTrap && !s.trapTold {
			s.trapTold = true
			c.add(at, s.argvPos, Warn, "vrrp_script %s runs pidof directly: on Debian 12 keepalived resolves /usr/bin/pidof to /sbin/killall5, which does not act as pidof, so this check has always failed there (the weight was never applied, or the instance sat in FAULT). halo checks HAProxy itself, so the check now works: expect failovers that keepalived never made", t.name)
		}
		in.cfg.TrackHAProxy = tr
		c.haproxyCheck(s)
	}
}

// haproxyCheck records rise/fall for haproxy.check from the first HAProxy script, and
// warns when another script tracked elsewhere disagrees (the check is one per node).
func (c *converter) haproxyCheck(s *script) {
	if c.check == nil {
		c.check = &checkOut{from: s, rise: s.rise, fall: s.fall}
		timeout := ""
		if s.timeout > 0 {
			timeout = fmt.Sprintf(" timeout %gs,", s.timeout)
		}
		c.add(anchorHAProxy, s.pos, Note, "vrrp_script %s ran every %gs,%s rise %d, fall %d: a dead HAProxy was noticed after about %gs. halo keeps rise and fall but checks every %s through the runtime API (frontends open, backends with UP servers, a hung process counts as dead), so it notices in about %s. Set check.interval to %gs to keep the old pace",
			s.name, s.interval, timeout, s.rise, s.fall, s.interval*float64(s.fall), defaultCheckInterval, time.Duration(s.fall)*defaultCheckInterval, s.interval)
		return
	}
	if c.check.from != s && (s.rise != c.check.rise || s.fall != c.check.fall) {
		c.add(anchorHAProxy, s.pos, Warn, "vrrp_script %s (rise %d, fall %d) differs from %s (rise %d, fall %d): halo has one HAProxy check per node, the first is used", s.name, s.rise, s.fall, c.check.from.name, c.check.rise, c.check.fall)
	}
}

// sortedMessages returns the messages in file order, stable within a line.
func (c *converter) sortedMessages() []message {
	out := append([]message(nil), c.msgs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.File != b.File {
			return c.fileRank(a.File) < c.fileRank(b.File)
		}
		return a.Line < b.Line
	})
	return out
}

func (c *converter) fileRank(f string) int {
	if r, ok := c.files[f]; ok {
		return r
	}
	return len(c.files) + 1
}

// ---- small argument readers that warn with the line ----

func (c *converter) arg(at anchor, d *Node, i int) (string, bool) {
	if i >= len(d.Args) {
		c.add(at, d.Pos, Warn, "%s: missing value: ignored", d.Name)
		return "", false
	}
	return d.Args[i], true
}

func (c *converter) intArg(at anchor, d *Node, lo, hi int) (int, bool) {
	s, ok := c.arg(at, d, 0)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		c.add(at, d.Pos, Error, "%s %s: not a whole number in %d..%d", d.Name, s, lo, hi)
		return 0, false
	}
	return v, true
}

func (c *converter) floatArg(at anchor, d *Node, lo, hi float64) (float64, bool) {
	s, ok := c.arg(at, d, 0)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < lo || v > hi {
		c.add(at, d.Pos, Error, "%s %s: not a number in %g..%g", d.Name, s, lo, hi)
		return 0, false
	}
	return v, true
}
