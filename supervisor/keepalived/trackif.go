package keepalived

import (
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/halo-lb/halo/vrrp"
)

// trackInterfaces reads track_interface the way keepalived 2.2.7's alloc_track_if does:
// one interface per line, then optionally "weight W [reverse]". A line keepalived ignores
// (an unknown option, a weight without value, an interface listed twice, the instance's
// own interface) is ignored here too, and said.
func (c *converter) trackInterfaces(in *instance, d *Node) {
	at := in.anchor()
	in.at["track_interfaces"] = d.Pos
	for _, l := range d.Block {
		t := vrrp.TrackInterface{Name: l.Name}
		if len(l.Args) > 0 {
			if l.Args[0] != "weight" {
				c.add(at, l.Pos, Warn, "track_interface %s: unknown option %q: keepalived ignores the whole line, so the interface is not tracked (here neither)", l.Name, l.Args[0])
				continue
			}
			if len(l.Args) == 1 {
				c.add(at, l.Pos, Warn, "track_interface %s: weight without a value: keepalived ignores the whole line, so the interface is not tracked (here neither)", l.Name)
				continue
			}
			w, err := strconv.Atoi(l.Args[1])
			switch {
			case err != nil || w < -254 || w > 254:
				c.add(at, l.Pos, Warn, "track_interface %s: weight %s is not in -253..253: keepalived tracks it with weight 0, so a down link means FAULT (here too)", l.Name, l.Args[1])
				w = 0
			case w == -254 || w == 254:
				c.add(at, l.Pos, Note, "track_interface %s: weight %d is taken as %d, as keepalived does", l.Name, w, w/254*253)
				w = w / 254 * 253
			}
			t.Weight = w
			if len(l.Args) > 2 {
				if l.Args[2] == "reverse" {
					t.Reverse = true
				} else {
					c.add(at, l.Pos, Warn, "track_interface %s: unknown weight option %q ignored, as keepalived does", l.Name, l.Args[2])
				}
			}
		}
		dup := false
		for _, prev := range in.cfg.TrackInterfaces {
			dup = dup || prev.Name == t.Name
		}
		if dup {
			c.add(at, l.Pos, Warn, "track_interface %s is listed twice: keepalived ignores the later line, and so does the import", l.Name)
			continue
		}
		in.cfg.TrackInterfaces = append(in.cfg.TrackInterfaces, t)
		in.trackIfAt = append(in.trackIfAt, l.Pos)
	}
}

// settleTrackInterfaces applies what keepalived decides once the instance is complete
// (vrrp.c vrrp_complete_instance): its own interface is always tracked as a fault, so a
// track_interface line naming it is ignored; an address owner drops weighted links; a
// member of a sync group without sync_group_tracking_weight tracks them as faults.
func (c *converter) settleTrackInterfaces(in *instance) {
	at := in.anchor()
	var kept []vrrp.TrackInterface
	var keptAt []Pos
	for i, t := range in.cfg.TrackInterfaces {
		pos := in.trackIfAt[i]
		switch {
		case t.Name == in.cfg.Interface:
			msg := "track_interface %s is the instance's own interface: keepalived ignores the line (\"since own interface\") and tracks it anyway, a down link meaning FAULT; halo does the same"
			if t.Weight != 0 || t.Reverse {
				msg += ", so its weight never applied and is not carried over"
			}
			c.add(at, pos, Note, msg, t.Name)
			continue
		case in.cfg.AddressOwner && t.Weight != 0:
			c.add(at, pos, Warn, "track_interface %s weight %d: keepalived drops weighted trackers of an address owner (priority 255), so the link never acted on it: not carried over", t.Name, t.Weight)
			continue
		case in.group != nil && !in.group.trackingWeight && t.Weight != 0:
			c.add(at, pos, Warn, "track_interface %s weight %d: %s is in sync group %s, where keepalived sets a tracked interface's weight to 0 (unless sync_group_tracking_weight): a down link put the group in FAULT. Carried over as that (no weight)", t.Name, t.Weight, in.cfg.Name, in.group.cfg.Name)
			t.Weight, t.Reverse = 0, false
		case t.Weight != 0:
			c.add(at, pos, Note, "track_interface %s %s: as in keepalived, %s", t.Name, weightWords(t), describeLinkWeight(t))
		case t.Reverse:
			c.add(at, pos, Note, "track_interface %s weight 0 reverse: as in keepalived, the instance is in FAULT while the link is up", t.Name)
		}
		kept, keptAt = append(kept, t), append(keptAt, pos)
	}
	in.cfg.TrackInterfaces, in.trackIfAt = kept, keptAt
}

func weightWords(t vrrp.TrackInterface) string {
	s := fmt.Sprintf("weight %d", t.Weight)
	if t.Reverse {
		s += " reverse"
	}
	return s
}

// describeLinkWeight says in words what vrrp.TrackInterface.Delta computes.
func describeLinkWeight(t vrrp.TrackInterface) string {
	up, _ := t.Delta(true)
	down, _ := t.Delta(false)
	switch {
	case up != 0:
		return fmt.Sprintf("the priority moves by %+d while the link is up, no FAULT when it is down", up)
	default:
		return fmt.Sprintf("the priority moves by %+d while the link is down, no FAULT", down)
	}
}

// trackInterfacesNode renders track_interfaces: names in a flow list when no entry has a
// weight, one line per entry with its keepalived line otherwise.
func trackInterfacesNode(ts []vrrp.TrackInterface, at []Pos, lineComment string) *yaml.Node {
	plain := true
	for _, t := range ts {
		plain = plain && t.Weight == 0 && !t.Reverse
	}
	if plain {
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = t.Name
		}
		return flowSeq(lineComment, names...)
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for i, t := range ts {
		var n *yaml.Node
		if t.Weight == 0 && !t.Reverse {
			n = scalar(t.Name)
		} else {
			n = mapping()
			n.Style = yaml.FlowStyle
			n.Content = append(n.Content, scalar("name"), scalar(t.Name), scalar("weight"), scalarInt(t.Weight, ""))
			if t.Reverse {
				n.Content = append(n.Content, scalar("reverse"), scalarBool(true, ""))
			}
		}
		if i < len(at) {
			n.LineComment = at[i].String()
		}
		seq.Content = append(seq.Content, n)
	}
	return seq
}
