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
	// TrackInterfaces are more links whose state acts on the instance: by default one
	// that is down puts it in FAULT; with a weight it moves the priority instead, as
	// keepalived's weighted track_interface (see TrackInterface). The instance's own
	// interface is always tracked, as a fault.
	TrackInterfaces []TrackInterface `yaml:"track_interfaces"`
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

// The names under which track_haproxy's conditions are reported (Instance.SetTracked):
// TrackerHAProxy while the local HAProxy is dead, hung or not serving its frontends,
// TrackerHAProxyDegraded while it serves but a backend is under its minimum.
const (
	TrackerHAProxy         = "haproxy"
	TrackerHAProxyDegraded = "haproxy_degraded"
)

// DefaultDegradedWeight is track_haproxy.degraded_weight's default: enough to put a node
// that lost its backends below one that kept them in the usual priority layouts
// (101/100, 150/100, 100/90/80).
const DefaultDegradedWeight = -50

// Trackers returns the policies of the conditions the instance tracks, by the name they
// are reported under.
func (c *InstanceConfig) Trackers() map[string]Track {
	m := map[string]Track{}
	if t := c.TrackHAProxy; t != nil {
		m[TrackerHAProxy] = Track{Weight: t.Weight, Fault: t.Fault}
		if w := t.degradedWeight(); w != 0 {
			m[TrackerHAProxyDegraded] = Track{Weight: w, penalty: true}
		}
	}
	return m
}

// Track says how a tracked condition acts on an instance: either Weight (added to the
// priority while the condition fails, -253..253, as keepalived's weighted track_script) or
// Fault (the instance goes to FAULT while it fails). A weighted condition that fails also
// stops the instance preempting (it never becomes master by preemption while failing,
// whatever the weights) and makes a master resign at once, so that the backup takes over
// in its skew time rather than after its master-down interval: the difference from
// keepalived's weighted track_script. Once the condition clears the instance competes,
// and preempts, again.
type Track struct {
	Weight int  `yaml:"weight"`
	Fault  bool `yaml:"fault"`
	// DegradedWeight is added to the priority while the tracked service is degraded
	// (HAProxy serving, a backend under its minimum): a plain keepalived-style weight, no
	// resignation, so that a node that kept its backends wins and, when every node lost
	// them, one still holds the VIP and answers. Default DefaultDegradedWeight; 0 turns it
	// off; -253..0.
	DegradedWeight *int `yaml:"degraded_weight"`

	// penalty marks a plain weight: no resignation, no hold on preemption.
	penalty bool
}

func (t *Track) degradedWeight() int {
	if t.DegradedWeight == nil {
		return DefaultDegradedWeight
	}
	return *t.DegradedWeight
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
