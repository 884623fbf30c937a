package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// FieldError is a validation error about one field, named by its path inside the vrrp
// section ("instances[0].priority"), so that the loader can add the file and line.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// FieldPath returns the field's path, for the loader's line lookup.
func (e *FieldError) FieldPath() string { return e.Path }

// Validate checks the section after ApplyDefaults and returns every problem found, each a
// *FieldError, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	names := map[string]int{}
	type vridKey struct {
		iface string
		v6    bool
		vrid  int
	}
	vrids := map[vridKey]int{}
	for i := range c.Instances {
		in := &c.Instances[i]
		p := fmt.Sprintf("instances[%d]", i)
		if in.Name == "" {
			bad(p+".name", "required")
		} else if j, dup := names[in.Name]; dup {
			bad(p+".name", "%q already names instances[%d]", in.Name, j)
		} else {
			names[in.Name] = i
		}
		if in.Interface == "" {
			bad(p+".interface", "required")
		}
		if in.VRID < 1 || in.VRID > 255 {
			bad(p+".vrid", "%d not in 1..255", in.VRID)
		}
		switch in.Version {
		case 2, 3:
		default:
			bad(p+".version", "%d: must be 2 or 3", in.Version)
		}
		switch {
		case in.Priority == 255 && !in.AddressOwner:
			bad(p+".priority", "255 is reserved for the address owner (set address_owner: true)")
		case in.AddressOwner && in.Priority != 255:
			bad(p+".priority", "%d: an address owner runs at priority 255", in.Priority)
		case in.Priority < 1 || in.Priority > 255:
			bad(p+".priority", "%d not in 1..254", in.Priority)
		}
		iv := in.AdvertInterval
		switch in.Version {
		case 2:
			if iv%time.Second != 0 || iv < time.Second || iv > 255*time.Second {
				bad(p+".advert_interval", "%s: VRRPv2 carries whole seconds from 1s to 255s (use version: 3 for sub-second adverts)", iv)
			}
		case 3:
			if iv%(10*time.Millisecond) != 0 || iv < 10*time.Millisecond || iv > 4095*10*time.Millisecond {
				bad(p+".advert_interval", "%s: VRRPv3 carries centiseconds from 10ms to 40.95s", iv)
			}
		}
		if in.PreemptDelay < 0 || in.PreemptDelay > 1000*time.Second {
			bad(p+".preempt_delay", "%s not in 0s..1000s", in.PreemptDelay)
		}
		if len(in.VIPs) == 0 {
			bad(p+".vips", "at least one VIP is required")
		}
		for j, v := range in.VIPs {
			vp := fmt.Sprintf("%s.vips[%d]", p, j)
			if v.Prefix.Addr().Is6() != in.IPv6() {
				bad(vp, "%s: an instance carries one address family (keepalived's rule too): put IPv4 and IPv6 VIPs in separate instances", v.Prefix)
			}
			if len(v.Label) > 15 {
				bad(vp+".label", "%q longer than 15 characters", v.Label)
			}
			if v.Label != "" && v.Prefix.Addr().Is6() {
				bad(vp+".label", "labels exist for IPv4 addresses only")
			}
		}
		if in.IPv6() && in.Version != 3 {
			bad(p+".version", "IPv6 needs VRRPv3")
		}
		if in.AuthPass != "" {
			if in.Version != 2 {
				bad(p+".auth_pass", "authentication exists in VRRPv2 only (RFC 5798 removed it)")
			}
			if len(in.AuthPass) > 8 {
				bad(p+".auth_pass", "longer than 8 characters (the VRRPv2 field holds 8)")
			}
		}
		if u := in.Unicast; u != nil {
			if u.Source != "" {
				a, err := netip.ParseAddr(u.Source)
				if err != nil {
					bad(p+".unicast.source", "%q is not an address", u.Source)
				} else if len(in.VIPs) > 0 && a.Is6() != in.IPv6() {
					bad(p+".unicast.source", "%s is not of the VIPs' address family", a)
				}
			}
			if len(u.Peers) == 0 {
				bad(p+".unicast.peers", "at least one peer is required (keepalived before 2.2.4 silently fell back to multicast here)")
			}
			for j, s := range u.Peers {
				a, err := netip.ParseAddr(s)
				if err != nil {
					bad(fmt.Sprintf("%s.unicast.peers[%d]", p, j), "%q is not an address", s)
				} else if len(in.VIPs) > 0 && a.Is6() != in.IPv6() {
					bad(fmt.Sprintf("%s.unicast.peers[%d]", p, j), "%s is not of the VIPs' address family", a)
				}
			}
		}
		if t := in.TrackHAProxy; t != nil {
			switch {
			case t.Fault && t.Weight != 0:
				bad(p+".track_haproxy", "either weight or fault: true, not both")
			case !t.Fault && t.Weight == 0:
				bad(p+".track_haproxy", "give weight: -N (lower the priority) or fault: true (go to FAULT)")
			case t.Weight < -253 || t.Weight > 253:
				bad(p+".track_haproxy.weight", "%d not in -253..253", t.Weight)
			}
			if w := t.degradedWeight(); w < -253 || w > 0 {
				bad(p+".track_haproxy.degraded_weight", "%d not in -253..0", w)
			}
		}
		validateTrackInterfaces(p, in, bad)
		if in.GARP.Repeat < 1 || in.GARP.Repeat > 255 {
			bad(p+".garp.repeat", "%d not in 1..255", in.GARP.Repeat)
		}
		if in.GARP.GARPDelay() < 0 {
			bad(p+".garp.delay", "negative")
		}
		if in.GARP.Refresh < 0 {
			bad(p+".garp.refresh", "negative")
		}
		validateNotify(p+".notify", in.Notify, bad)
		if in.VRID >= 1 && in.VRID <= 255 && in.Interface != "" {
			k := vridKey{in.Interface, in.IPv6(), in.VRID}
			if j, dup := vrids[k]; dup {
				bad(p+".vrid", "%d already used on %s by instances[%d] (%s)", in.VRID, in.Interface, j, c.Instances[j].Name)
			} else {
				vrids[k] = i
			}
		}
	}
	member := map[string]int{}
	groupNames := map[string]bool{}
	for i, g := range c.SyncGroups {
		p := fmt.Sprintf("sync_groups[%d]", i)
		if g.Name == "" {
			bad(p+".name", "required")
		} else if groupNames[g.Name] {
			bad(p+".name", "%q is used twice", g.Name)
		}
		groupNames[g.Name] = true
		if len(g.Instances) < 2 {
			bad(p+".instances", "a sync group needs at least two instances")
		}
		for j, name := range g.Instances {
			ip := fmt.Sprintf("%s.instances[%d]", p, j)
			if _, ok := names[name]; !ok {
				bad(ip, "no instance is named %q", name)
			} else if k, dup := member[name]; dup {
				bad(ip, "%q is already in sync_groups[%d]", name, k)
			} else {
				member[name] = i
			}
		}
		validateNotify(p+".notify", g.Notify, bad)
	}
	return errors.Join(errs...)
}

func validateNotify(p string, n Notify, bad func(string, string, ...any)) {
	for _, h := range []struct {
		key  string
		argv []string
	}{{"master", n.Master}, {"backup", n.Backup}, {"fault", n.Fault}, {"stop", n.Stop}} {
		if len(h.argv) > 0 && h.argv[0] == "" {
			bad(p+"."+h.key, "the program (first element) is empty")
		}
	}
	if n.Timeout < 0 {
		bad(p+".timeout", "negative")
	}
}
