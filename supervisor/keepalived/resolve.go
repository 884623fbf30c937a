package keepalived

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/halo-lb/halo/vrrp"
)

// checkOut is what becomes haproxy.check, from the first HAProxy-running script.
type checkOut struct {
	from       *script
	rise, fall int
}

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
		var members []*instance
		for _, name := range g.cfg.Instances {
			members = append(members, byName[name])
		}
		c.groupTrackInterfaces(g, members)
		c.groupTrackScripts(g, members)
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
	c.settleTrackInterfaces(in)
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
			c.add(at, t.pos, Warn, "track_script %s runs \"%s\", which is not only a test that HAProxy runs (%s): halo runs no arbitrary check scripts, so it is not carried over", t.name, strings.Join(s.argv, " "), chk.how)
			continue
		case checkUnreadable:
			c.add(at, t.pos, Warn, "track_script %s runs the script %s, which the importer could not read (%s), so it cannot tell whether it only checks HAProxy: not carried over. If it does, add track_haproxy by hand (or import with -root pointing at a copy of the node's files)", t.name, chk.file, chk.how)
			continue
		case checkNet:
			desc, proxies, ok := c.coverNet(at, t, chk, in)
			if !ok {
				continue
			}
			if in.cfg.TrackHAProxy == nil {
				article := "a"
				if strings.HasPrefix(desc, "HTTP") {
					article = "an"
				}
				c.add(at, t.pos, Note, "track_script %s: %s %s, so it checked HAProxy: carried over as track_haproxy, with which halo checks through the runtime API that %s is OPEN and that the backends of check.backends keep UP servers", t.name, article, desc, strings.Join(proxies, ", "))
			}
			chk.how = fmt.Sprintf("%s check through %s", strings.Fields(desc)[0], strings.Join(proxies, ", "))
			chk.file = ""
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
		if chk.file != "" && chk.kind != checkNet {
			how = fmt.Sprintf("%s (script %s)", how, chk.file)
		}
		reverse := s.reverse
		if t.reverse != nil {
			reverse = *t.reverse
		}
		tr := c.trackPolicy(in, t, s, chk, weight, reverse, how)
		if tr == nil {
			continue
		}
		in.at["track_haproxy"] = t.pos
		in.cfg.TrackHAProxy = tr
		c.haproxyCheck(s)
	}
}

// weightedTrackDiff is what halo's weighted track_haproxy does beyond keepalived's
// weighted track_script (vrrp.Track).
const weightedTrackDiff = "Beyond keepalived, a node whose HAProxy fails also hands the VIPs over at once (priority 0) and does not preempt until HAProxy is healthy again, even where its lowered priority would still be the highest: keepalived kept such a node master."

// trap explains why keepalived 2.2.7 on Debian ran a check that failed every time, ""
// when it did not.
func (chk scriptCheck) trap() string {
	switch {
	case chk.pidofTrap:
		return "keepalived 2.2.7 resolves the command's symbolic links before running it (check_script_secure in lib/notify.c): on Debian 12 pidof (/usr/bin/pidof, /bin/pidof) links to /sbin/killall5 and no /usr/sbin/pidof exists, so keepalived runs /usr/sbin/killall5 haproxy, which is not pidof and exits 1 (\"only one argument, a signal number, allowed\"): the check failed on every run"
	case chk.dashTrap:
		return "keepalived 2.2.7 runs this /dev/tcp test through /bin/sh, which is dash on Debian and Ubuntu: dash has no /dev/tcp, so the check failed on every run there (it worked only where /bin/sh is bash)"
	}
	return ""
}

// trackPolicy turns a tracked script's weight into track_haproxy, saying what keepalived
// did with it; nil when keepalived ignored it.
func (c *converter) trackPolicy(in *instance, t trackRef, s *script, chk scriptCheck, weight int, reverse bool, how string) *vrrp.Track {
	at := in.anchor()
	trap := chk.trap()
	switch {
	case in.group != nil && !in.group.trackingWeight && weight != 0 && !t.fromGroup:
		c.add(at, t.pos, Warn, "track_script %s has weight %d, but %s is in sync group %s, where keepalived ignores weighted trackers (unless sync_group_tracking_weight), so a dead HAProxy never moved it. halo tracks it as fault: true, which moves the whole group: remove track_haproxy to keep keepalived's behaviour", t.name, weight, in.cfg.Name, in.group.cfg.Name)
		return &vrrp.Track{Fault: true}
	case in.cfg.AddressOwner && weight != 0:
		c.add(at, t.pos, Warn, "track_script %s has weight %d, but keepalived never changes the priority of an address owner (priority 255): not carried over", t.name, weight)
		return nil
	case reverse:
		c.add(at, t.pos, Warn, "track_script %s: weight %d reverse is not carried over: tracked as fault: true", t.name, weight)
		return &vrrp.Track{Fault: true}
	case weight == 0 && trap != "":
		c.add(at, t.pos, Warn, "track_script %s (%s) has no weight, so a failed check meant FAULT; but %s, so on such a node the instance sat in FAULT and never became master. halo checks HAProxy itself (fault: true): this node now competes for the VIPs", t.name, how, trap)
		return &vrrp.Track{Fault: true}
	case weight == 0:
		c.add(at, t.pos, Note, "track_script %s (%s) has no weight: as in keepalived, a failed check puts the instance in FAULT (fault: true)", t.name, how)
		return &vrrp.Track{Fault: true}
	case weight > 0 && trap != "":
		c.add(at, t.pos, Warn, "track_script %s (%s) weight %+d: keepalived adds the weight while the check succeeds, but %s, so it never added it: this node advertised priority %d whatever HAProxy did. Written as priority %d and weight %d: the same %d while HAProxy is healthy, %d when it fails (a failover keepalived never made). %s", t.name, how, weight, trap, in.cfg.Priority, in.cfg.Priority, -weight, in.cfg.Priority, max(in.cfg.Priority-weight, 1), weightedTrackDiff)
		return &vrrp.Track{Weight: -weight}
	case weight > 0:
		// keepalived adds a positive weight while the check succeeds; halo applies a
		// weight while the check fails. Raising the base priority by the weight and
		// subtracting it on failure advertises exactly keepalived's priorities in both
		// states, so mixed keepalived/halo clusters agree on the master.
		p := in.cfg.Priority + weight
		if p > 254 {
			c.add(at, t.pos, Warn, "track_script %s: priority %d + weight %d exceeds 254 (keepalived caps it at 254 too): priority 254, weight %d", t.name, in.cfg.Priority, weight, -(254 - in.cfg.Priority))
			weight = 254 - in.cfg.Priority
			p = 254
		}
		c.add(at, t.pos, Warn, "track_script %s (%s) weight %+d: keepalived adds it while HAProxy runs, halo subtracts a weight while HAProxy fails. Written as priority %d (%d%+d) and weight %d, which advertises the same priorities as keepalived in both states. %s", t.name, how, weight, p, in.cfg.Priority, weight, -weight, weightedTrackDiff)
		base := "default"
		if bp, ok := in.at["priority"]; ok {
			base = bp.String()
		}
		in.comment["priority"] = fmt.Sprintf("%d (%s) + weight %d (%s)", in.cfg.Priority, base, weight, t.pos)
		in.cfg.Priority = p
		return &vrrp.Track{Weight: -weight}
	case trap != "":
		c.add(at, t.pos, Warn, "track_script %s (%s) weight %d: keepalived subtracts the weight while the check fails, but %s, so it subtracted it all the time: this node advertised priority %d whatever HAProxy did. halo advertises %d while HAProxy is healthy and %d when it fails. Every node with this check had the same offset, so their order is unchanged; but next to a keepalived node not yet migrated this node now counts %d more. %s", t.name, how, weight, trap, max(in.cfg.Priority+weight, 1), in.cfg.Priority, max(in.cfg.Priority+weight, 1), -weight, weightedTrackDiff)
		return &vrrp.Track{Weight: weight}
	default:
		c.add(at, t.pos, Warn, "track_script %s (%s) weight %d: the priority drops by %d while HAProxy fails, as in keepalived. %s", t.name, how, weight, -weight, weightedTrackDiff)
		return &vrrp.Track{Weight: weight}
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

// groupTrackScripts gives each member of sync group g the group's track_script lines, as
// keepalived does (vrrp.c add_vrrp_to_track_script): with the group's weight, which the
// sync group rule for the members' own weighted scripts does not touch; cleared when a
// member is an address owner; a script the member tracks itself keeps its entry when
// unweighted, and takes the group's weight otherwise.
func (c *converter) groupTrackScripts(g *group, members []*instance) {
	if len(g.tracks) == 0 || len(members) == 0 {
		return
	}
	at := groupAnchor(g.cfg.Name)
	owner := addressOwner(members)
	for _, t := range g.tracks {
		t.fromGroup = true
		if s, ok := c.scripts[t.name]; ok && owner != "" && c.trackWeight(t, s) != 0 {
			c.add(at, t.pos, Warn, "track_script %s in sync group %s: member %s has priority 255, so keepalived clears the weight (\"Cannot have weighted track script\"): a failed check puts the group in FAULT, here too", t.name, g.cfg.Name, owner)
			zero := 0
			t.weight = &zero
		}
		for _, in := range members {
			mine := -1
			for i, x := range in.tracks {
				if x.name == t.name {
					mine = i
				}
			}
			if mine < 0 {
				in.tracks = append(in.tracks, t)
				continue
			}
			own := in.tracks[mine]
			if s, ok := c.scripts[t.name]; ok && c.trackWeight(own, s) == 0 {
				c.add(in.anchor(), own.pos, Warn, "track_script %s is tracked by %s and by its sync group %s (%s), which keepalived logs; its unweighted entry here wins, as in keepalived", t.name, in.cfg.Name, g.cfg.Name, t.pos)
				continue
			}
			c.add(in.anchor(), own.pos, Warn, "track_script %s is tracked by %s and by its sync group %s (%s), which keepalived logs; the group's entry wins, as in keepalived", t.name, in.cfg.Name, g.cfg.Name, t.pos)
			in.tracks[mine] = t
		}
	}
}

// trackWeight is the weight a track_script line applies: its own, else the script's.
func (c *converter) trackWeight(t trackRef, s *script) int {
	if t.weight != nil {
		return *t.weight
	}
	return s.weight
}
