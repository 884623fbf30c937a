package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the vrrp section of halo.yaml.
type Config struct {
	// Instances are the VRRP instances this node runs; each owns one VRID on one interface.
	Instances []InstanceConfig `yaml:"instances"`
	// SyncGroups are sets of instances that change state together.
	SyncGroups []SyncGroupConfig `yaml:"sync_groups"`
}

// InstanceConfig is one VRRP instance (keepalived's vrrp_instance).
type InstanceConfig struct {
	// Name identifies the instance in logs, status and metrics, e.g. "VI_1". Required, unique.
	Name string `yaml:"name"`
	// Interface is the link adverts go out on and VIPs are added to. Required.
	Interface string `yaml:"interface"`
	// VRID is the virtual router ID, 1..255, unique per interface and address family.
	VRID int `yaml:"vrid"`
	// Version is the VRRP version: 3 (RFC 5798, default) or 2 (RFC 3768, IPv4 only).
	Version int `yaml:"version"`
	// Priority is the base priority, 1..254 (default 100); 255 only with AddressOwner.
	Priority int `yaml:"priority"`
	// AddressOwner marks this node as the owner of the VIPs (priority 255, RFC 5798 §5.2.4).
	AddressOwner bool `yaml:"address_owner"`
	// AdvertInterval is the advertisement interval: default 1s; VRRPv3 carries centiseconds
	// (10ms..40.95s), VRRPv2 whole seconds (1s..255s).
	AdvertInterval time.Duration `yaml:"advert_interval"`
	// Preempt lets a higher-priority backup take over from a lower-priority master.
	// Default true, as keepalived.
	Preempt *bool `yaml:"preempt"`
	// PreemptDelay holds preemption back, after start-up and when a lower-priority master
	// first shows up (0..1000s, default 0).
	PreemptDelay time.Duration `yaml:"preempt_delay"`
	// VIPs are the virtual addresses: all IPv4 or all IPv6 (one family per instance).
	VIPs []VIP `yaml:"vips"`
	// Unicast, when set, sends adverts to the listed peers instead of the multicast group.
	Unicast *Unicast `yaml:"unicast"`
	// AuthPass is VRRPv2 simple password authentication (at most 8 characters), for
	// keepalived's "auth_type PASS". Not allowed with VRRPv3.
	AuthPass string `yaml:"auth_pass"`
	// TrackHAProxy ties the local HAProxy's health to this instance; nil: not tracked.
	TrackHAProxy *Track `yaml:"track_haproxy"`
	// TrackInterfaces put the instance in FAULT while any of them is down. The instance's
	// own interface is always tracked.
	TrackInterfaces []string `yaml:"track_interfaces"`
	// GARP tunes the gratuitous ARP / unsolicited NA sent on becoming master.
	GARP GARPConfig `yaml:"garp"`
	// Notify runs hooks on state changes.
	Notify Notify `yaml:"notify"`
}

// VIP is one virtual address. In YAML it is either a string ("192.0.2.100/24") or a
// mapping {address, dev, label}.
type VIP struct {
	// Prefix is the address with its prefix length (/32 or /128 when none was given).
	Prefix netip.Prefix
	// Dev is the interface to add the address to; empty: the instance's interface.
	Dev string
	// Label is the IPv4 address label (ip addr ... label), at most 15 characters.
	Label string
}

// Unicast configures unicast adverts.
type Unicast struct {
	// Source is the source address of adverts; empty: the interface's primary address.
	Source string `yaml:"source"`
	// Peers receive the adverts; packets from other sources are dropped.
	Peers []string `yaml:"peers"`
}

// Track says how a tracked condition acts on an instance: either Weight (added to the
// priority while the condition fails, -253..253, as keepalived's weighted track_script) or
// Fault (the instance goes to FAULT while it fails).
type Track struct {
	Weight int  `yaml:"weight"`
	Fault  bool `yaml:"fault"`
}

// GARPConfig controls gratuitous ARP / unsolicited neighbour advertisements.
type GARPConfig struct {
	// Delay is the wait before a second burst after becoming master (keepalived's
	// garp_master_delay, default 5s; 0 disables the second burst).
	Delay *time.Duration `yaml:"delay"`
	// Repeat is how many messages each burst sends (default 5).
	Repeat int `yaml:"repeat"`
	// Refresh re-announces the VIPs this often while master; 0 (default) disables it.
	Refresh time.Duration `yaml:"refresh"`
}

// Notify lists hooks to run, each an argv (no shell), on entering a state.
type Notify struct {
	Master []string `yaml:"master"`
	Backup []string `yaml:"backup"`
	Fault  []string `yaml:"fault"`
	Stop   []string `yaml:"stop"`
	// Timeout bounds each hook; it is killed after it (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// SyncGroupConfig is a set of instances that move together (keepalived's vrrp_sync_group).
type SyncGroupConfig struct {
	Name      string   `yaml:"name"`
	Instances []string `yaml:"instances"`
	Notify    Notify   `yaml:"notify"`
}

// Defaults, documented in configs/README.md.
const (
	DefaultVersion        = 3
	DefaultPriority       = 100
	DefaultAdvertInterval = time.Second
	DefaultGARPRepeat     = 5
	DefaultGARPDelay      = 5 * time.Second
	DefaultNotifyTimeout  = 10 * time.Second
)

// UnmarshalYAML accepts a VIP as a scalar or as a mapping, rejecting unknown keys (the
// decoder's strict mode does not reach into custom unmarshalers).
func (v *VIP) UnmarshalYAML(n *yaml.Node) error {
	var addr string
	switch n.Kind {
	case yaml.ScalarNode:
		addr = n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if val.Kind != yaml.ScalarNode {
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: vip field %q must be a string", val.Line, k.Value)}}
			}
			switch k.Value {
			case "address":
				addr = val.Value
			case "dev":
				v.Dev = val.Value
			case "label":
				v.Label = val.Value
			default:
				return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: field %s not found in type vrrp.VIP (address, dev, label)", k.Line, k.Value)}}
			}
		}
	default:
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a vip is an address or a mapping {address, dev, label}", n.Line)}}
	}
	p, err := ParseVIP(addr)
	if err != nil {
		// A *yaml.TypeError lets the decoder go on and report the file's other problems too.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	v.Prefix = p
	return nil
}

// MarshalYAML writes the short form when only the address is set.
func (v VIP) MarshalYAML() (any, error) {
	if v.Dev == "" && v.Label == "" {
		return v.Prefix.String(), nil
	}
	m := map[string]string{"address": v.Prefix.String()}
	if v.Dev != "" {
		m["dev"] = v.Dev
	}
	if v.Label != "" {
		m["label"] = v.Label
	}
	return m, nil
}

// String renders the VIP as the address with its prefix length.
func (v VIP) String() string { return v.Prefix.String() }

// ParseVIP parses "192.0.2.100/24", "192.0.2.100" (a /32) or "2001:db8::100/64".
func ParseVIP(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, errors.New("vip: empty address")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("vip %q is not an address/prefix", s)
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("vip %q is not an address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// PreemptEnabled reports the effective preempt setting.
func (c *InstanceConfig) PreemptEnabled() bool { return c.Preempt == nil || *c.Preempt }

// IPv6 reports whether the instance carries IPv6 VIPs.
func (c *InstanceConfig) IPv6() bool { return len(c.VIPs) > 0 && c.VIPs[0].Prefix.Addr().Is6() }

// GARPDelay returns the configured or default second-burst delay.
func (g GARPConfig) GARPDelay() time.Duration {
	if g.Delay == nil {
		return DefaultGARPDelay
	}
	return *g.Delay
}

// ApplyDefaults fills unset fields with their documented defaults.
func (c *Config) ApplyDefaults() {
	for i := range c.Instances {
		in := &c.Instances[i]
		if in.Version == 0 {
			in.Version = DefaultVersion
		}
		if in.Priority == 0 {
			in.Priority = DefaultPriority
			if in.AddressOwner {
				in.Priority = 255
			}
		}
		if in.AdvertInterval == 0 {
			in.AdvertInterval = DefaultAdvertInterval
		}
		if in.GARP.Repeat == 0 {
			in.GARP.Repeat = DefaultGARPRepeat
		}
		if in.Notify.Timeout == 0 {
			in.Notify.Timeout = DefaultNotifyTimeout
		}
	}
	for i := range c.SyncGroups {
		if c.SyncGroups[i].Notify.Timeout == 0 {
			c.SyncGroups[i].Notify.Timeout = DefaultNotifyTimeout
		}
	}
}

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
		}
		for j, name := range in.TrackInterfaces {
			if name == "" {
				bad(fmt.Sprintf("%s.track_interfaces[%d]", p, j), "empty interface name")
			}
		}
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
