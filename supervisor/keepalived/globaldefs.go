package keepalived

import (
	"strconv"
	"time"
)

// globalReasons say why a global_defs directive is not carried over.
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
	"default_interface":               "keepalived uses it only for static addresses without a dev (vrrp_ipaddress.c), which halo does not carry; every vrrp_instance names its interface",
}

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
		case "vrrp_garp_interval", "vrrp_gna_interval":
			if v, ok := c.arg(anchorHeader, d, 0); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
					c.add(anchorHeader, d.Pos, Note, "%s 0: keepalived's default, which halo follows: a burst's gratuitous ARP / NA messages go back to back", d.Name)
				} else {
					c.add(anchorHeader, d.Pos, Warn, "%s %s: not carried over: halo sends a burst's gratuitous ARP / NA messages back to back (keepalived's default, 0)", d.Name, v)
				}
			}
		case "vrrp_min_garp":
			if len(d.Args) > 0 && d.Args[0] != "true" && d.Args[0] != "on" && d.Args[0] != "yes" {
				continue
			}
			// keepalived's vrrp_min_garp_handler: one message, no second burst, unless
			// set already (a later line overrides it, as here).
			if c.garp.Repeat == 0 {
				c.garp.Repeat, c.garpAt["repeat"] = 1, d.Pos
			}
			if c.garp.Delay == nil {
				zero := time.Duration(0)
				c.garp.Delay, c.garpAt["delay"] = &zero, d.Pos
			}
			c.add(anchorHeader, d.Pos, Note, "vrrp_min_garp: as in keepalived, one gratuitous ARP / NA message and no second burst: garp.repeat 1, garp.delay 0s unless set")
		case "enable_script_security", "script_user":
			c.add(anchorHeader, d.Pos, Note, "%s: nothing to carry over: halo runs no check scripts, and its notify hooks run as argv without a shell, as halod's user", d.Name)
		default:
			if d.Name == "vrrp_skip_check_adv_addr" && (len(d.Args) == 0 || d.Args[0] == "true" || d.Args[0] == "on" || d.Args[0] == "yes") {
				c.skipCheckAdvAddr = true
			}
			c.unsupported(anchorHeader, d, globalReasons)
		}
	}
}
