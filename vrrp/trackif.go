package vrrp

import (
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"
)

// TrackInterface is one entry of track_interfaces. In YAML it is either an interface name
// ("eth1": FAULT while it is down) or a mapping {name, weight, reverse}.
//
// The weights follow keepalived's track_interface (vrrp_track.c and keepalived_netlink.c
// in keepalived 2.2): with Weight 0 the instance is in FAULT while the link is down; a
// negative Weight is added to the priority while the link is down, a positive one while
// it is up. Reverse turns the sense round: with Weight 0 the instance is in FAULT while
// the link is up; a negative weight is subtracted (raising the priority) while it is
// down, a positive one subtracted while it is up. A weighted link is a plain priority
// change, as in keepalived: unlike track_haproxy's weight it makes no master resign and
// holds no preemption back, so that a halo node advertises what a keepalived node with
// the same configuration advertises.
type TrackInterface struct {
	// Name is the interface to watch.
	Name string
	// Weight is -253..253; 0 means FAULT.
	Weight int
	// Reverse applies the weight (or the fault) in the opposite link state.
	Reverse bool
}

// Delta returns what the link in state up adds to the priority, and whether it puts the
// instance in FAULT.
func (t TrackInterface) Delta(up bool) (weight int, fault bool) {
	if t.Weight == 0 {
		return 0, up == t.Reverse
	}
	sign := 1
	if t.Reverse {
		sign = -1
	}
	abs := t.Weight
	if abs < 0 {
		abs = -abs
	}
	switch {
	case t.Weight > 0 && up:
		return sign * abs, false
	case t.Weight < 0 && !up:
		return -sign * abs, false
	}
	return 0, false
}

// UnmarshalYAML accepts a name or a mapping, rejecting unknown keys (the decoder's strict
// mode does not reach into custom unmarshalers).
func (t *TrackInterface) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		t.Name = n.Value
		return nil
	case yaml.MappingNode:
	default:
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a tracked interface is a name or a mapping {name, weight, reverse}", n.Line)}}
	}
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Sprintf("line %d: track_interfaces field %q must be a scalar", v.Line, k.Value))
			continue
		}
		switch k.Value {
		case "name":
			t.Name = v.Value
		case "weight":
			w, err := strconv.Atoi(v.Value)
			if err != nil {
				errs = append(errs, fmt.Sprintf("line %d: track_interfaces weight %q is not a whole number", v.Line, v.Value))
			}
			t.Weight = w
		case "reverse":
			b, err := strconv.ParseBool(v.Value)
			if err != nil || (v.Value != "true" && v.Value != "false") {
				errs = append(errs, fmt.Sprintf("line %d: track_interfaces reverse %q is not true or false", v.Line, v.Value))
			}
			t.Reverse = b
		default:
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type vrrp.TrackInterface (name, weight, reverse)", k.Line, k.Value))
		}
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// MarshalYAML writes the short form for a plain fault link.
func (t TrackInterface) MarshalYAML() (any, error) {
	if t.Weight == 0 && !t.Reverse {
		return t.Name, nil
	}
	m := map[string]any{"name": t.Name, "weight": t.Weight}
	if t.Reverse {
		m["reverse"] = true
	}
	return m, nil
}

// validateTrackInterfaces checks the track_interfaces of instance in at path p.
func validateTrackInterfaces(p string, in *InstanceConfig, bad func(string, string, ...any)) {
	seen := map[string]int{}
	for j, t := range in.TrackInterfaces {
		tp := fmt.Sprintf("%s.track_interfaces[%d]", p, j)
		switch {
		case t.Name == "":
			bad(tp, "empty interface name")
			continue
		case len(t.Name) > 15:
			bad(tp+".name", "%q longer than 15 characters (IFNAMSIZ)", t.Name)
		}
		if k, dup := seen[t.Name]; dup {
			bad(tp, "%s is already listed at track_interfaces[%d]", t.Name, k)
		}
		seen[t.Name] = j
		if t.Weight < -253 || t.Weight > 253 {
			bad(tp+".weight", "%d not in -253..253", t.Weight)
		}
		if t.Name == in.Interface && (t.Weight != 0 || t.Reverse) {
			bad(tp, "%s is the instance's own interface, which is always tracked as a fault: a weight or reverse on it would never apply (keepalived ignores it too)", t.Name)
		}
		if in.AddressOwner && t.Weight != 0 {
			bad(tp+".weight", "an address owner (priority 255) never changes its priority: track the link as a fault or not at all (keepalived drops weighted trackers of an owner)")
		}
	}
}
