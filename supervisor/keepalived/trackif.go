package keepalived

import (
	"fmt"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/halo-lb/halo/vrrp"
)

// trackIf is a track_interface line read, with where it came from.
type trackIf struct {
	vrrp.TrackInterface
	pos Pos
	// fromGroup: the line is the sync group's, applied to each member.
	fromGroup bool
}

// trackInterfaces reads an instance's track_interface block.
func (c *converter) trackInterfaces(in *instance, d *Node) {
	in.at["track_interfaces"] = d.Pos
next:
	for _, t := range c.trackInterfaceLines(in.anchor(), d) {
		for i, x := range in.cfg.TrackInterfaces {
			if x.Name == t.Name {
				c.add(in.anchor(), t.pos, Warn, "track_interface %s is listed twice (first at %s): keepalived ignores the later line, and so does the import", t.Name, in.trackIfAt[i])
				continue next
			}
		}
		in.cfg.TrackInterfaces = append(in.cfg.TrackInterfaces, t.TrackInterface)
		in.trackIfAt = append(in.trackIfAt, t.pos)
		in.trackIfGroup = append(in.trackIfGroup, false)
	}
}

// trackInterfaceLines reads track_interface the way keepalived 2.2.7's alloc_track_if
// does: one interface per line, then optionally "weight W [reverse]". A line keepalived
// ignores (an unknown option, a weight without value, an interface listed twice) is
// ignored here too, and said.
func (c *converter) trackInterfaceLines(at anchor, d *Node) []trackIf {
	var out []trackIf
	for _, l := range d.Block {
		t := trackIf{TrackInterface: vrrp.TrackInterface{Name: l.Name}, pos: l.Pos}
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
		for _, prev := range out {
			dup = dup || prev.Name == t.Name
		}
		if dup {
			c.add(at, l.Pos, Warn, "track_interface %s is listed twice: keepalived ignores the later line, and so does the import", l.Name)
			continue
		}
		out = append(out, t)
	}
	return out
}

// groupTrackInterfaces gives each member of sync group g the group's track_interface
// lines, as keepalived does (vrrp.c: add_vrrp_to_interface with TRACK_SG): with the
// group's weight, cleared when a member is an address owner; an interface the member
// tracks itself keeps its own entry unless that one is weighted, when the group's weight
// wins.
func (c *converter) groupTrackInterfaces(g *group, members []*instance) {
	if len(g.trackIfs) == 0 || len(members) == 0 {
		return
	}
	at := groupAnchor(g.cfg.Name)
	owner := addressOwner(members)
	for _, t := range g.trackIfs {
		if owner != "" && t.Weight != 0 {
			c.add(at, t.pos, Warn, "track_interface %s weight %d in sync group %s: member %s has priority 255, so keepalived clears the weight (\"Cannot have weighted track interface\"): a down link puts the group in FAULT, here too", t.Name, t.Weight, g.cfg.Name, owner)
			t.Weight, t.Reverse = 0, false
		}
		t.fromGroup = true
		for _, in := range members {
			mine := -1
			for i, x := range in.cfg.TrackInterfaces {
				if x.Name == t.Name {
					mine = i
				}
			}
			switch {
			case mine < 0:
				if _, ok := in.at["track_interfaces"]; !ok {
					in.at["track_interfaces"] = t.pos
				}
				in.cfg.TrackInterfaces = append(in.cfg.TrackInterfaces, t.TrackInterface)
				in.trackIfAt = append(in.trackIfAt, t.pos)
				in.trackIfGroup = append(in.trackIfGroup, true)
			case in.cfg.TrackInterfaces[mine].Weight == 0:
				c.add(in.anchor(), in.trackIfAt[mine], Warn, "track_interface %s is tracked by %s and by its sync group %s (%s), which keepalived reports as an error; its unweighted entry here wins, as in keepalived", t.Name, in.cfg.Name, g.cfg.Name, t.pos)
			default:
				c.add(in.anchor(), in.trackIfAt[mine], Warn, "track_interface %s is tracked by %s and by its sync group %s (%s), which keepalived reports as an error; the group's %s wins, as in keepalived", t.Name, in.cfg.Name, g.cfg.Name, t.pos, weightWords(t.TrackInterface))
				in.cfg.TrackInterfaces[mine] = t.TrackInterface
				in.trackIfAt[mine], in.trackIfGroup[mine] = t.pos, true
			}
		}
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
	var keptGroup []bool
	for i, t := range in.cfg.TrackInterfaces {
		pos, fromGroup := in.trackIfAt[i], in.trackIfGroup[i]
		switch {
		case t.Name == in.cfg.Interface:
			msg := "track_interface %s is the instance's own interface: keepalived ignores the line (\"since own interface\") and tracks it anyway, a down link meaning FAULT; halo does the same"
			if fromGroup {
				msg = "track_interface %s (the sync group's) is the instance's own interface, which keepalived and halo always track as a fault"
			}
			if t.Weight != 0 || t.Reverse {
				msg += ", so its weight never applied and is not carried over"
			}
			c.add(at, pos, Note, msg, t.Name)
			continue
		case in.cfg.AddressOwner && t.Weight != 0:
			c.add(at, pos, Warn, "track_interface %s weight %d: keepalived drops weighted trackers of an address owner (priority 255), so the link never acted on it: not carried over", t.Name, t.Weight)
			continue
		case in.group != nil && !in.group.trackingWeight && t.Weight != 0 && !fromGroup:
			c.add(at, pos, Warn, "track_interface %s weight %d: %s is in sync group %s, where keepalived sets a tracked interface's weight to 0 (unless sync_group_tracking_weight): a down link put the group in FAULT. Carried over as that (no weight)", t.Name, t.Weight, in.cfg.Name, in.group.cfg.Name)
			t.Weight, t.Reverse = 0, false
		case t.Weight != 0:
			c.add(at, pos, Note, "track_interface %s %s: as in keepalived, %s", t.Name, weightWords(t), describeLinkWeight(t))
		case t.Reverse:
			c.add(at, pos, Note, "track_interface %s weight 0 reverse: as in keepalived, the instance is in FAULT while the link is up", t.Name)
		}
		kept, keptAt, keptGroup = append(kept, t), append(keptAt, pos), append(keptGroup, fromGroup)
	}
	in.cfg.TrackInterfaces, in.trackIfAt, in.trackIfGroup = kept, keptAt, keptGroup
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

// addressOwner names the member of a sync group with priority 255, "" if none: keepalived
// clears the group's track weights on such a member.
func addressOwner(members []*instance) string {
	owner := ""
	for _, in := range members {
		if in.cfg.Priority == 255 {
			owner = in.cfg.Name
		}
	}
	return owner
}
