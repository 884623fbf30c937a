package keepalived

import "github.com/halo-lb/halo/vrrp"

// group is a vrrp_sync_group on its way to vrrp.SyncGroupConfig.
type group struct {
	pos            Pos
	cfg            vrrp.SyncGroupConfig
	at             map[string]Pos
	trackingWeight bool
	notify         []string
	notifyPos      Pos
	// trackIfs and tracks are the group's track_interface and track_script lines,
	// given to every member.
	trackIfs []trackIf
	tracks   []trackRef
}

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
		case "track_interface":
			g.trackIfs = append(g.trackIfs, c.trackInterfaceLines(at, d)...)
		case "track_script":
			g.tracks = append(g.tracks, c.trackScriptLines(at, d)...)
		case "track_file", "track_process", "track_bfd":
			c.add(at, d.Pos, Warn, "%s on a sync group: not carried over: put it on each member instance (halo tracks per instance, and a FAULT in one member moves the group)", d.Name)
		default:
			c.unsupported(at, d, nil)
		}
	}
	if g.notify != nil {
		c.genericNotify(at, &g.cfg.Notify, g.at, g.notify, g.notifyPos, "GROUP", g.cfg.Name, 0)
	}
}
