package keepalived

import (
	"fmt"
	"strings"
)

// settleState applies what keepalived 2.2.7 derives from the initial state once the
// instance is read (vrrp.c vrrp_complete_instance), so that the output behaves as the
// node behaved rather than as the lines read:
//   - no priority: 255 (address owner) with state MASTER, 100 otherwise;
//   - priority 255 or state MASTER: nopreempt is cleared ("nopreempt will not work with
//     initial state MASTER - clearing"), and with state MASTER preempt_delay too;
//   - nopreempt: preempt_delay is reset.
//
// halo has no initial state: the priority and preempt decide, which is what the state
// amounts to once keepalived has started.
func (c *converter) settleState(in *instance) {
	at := in.anchor()
	_, prioSet := in.at["priority"]
	switch in.state {
	case "":
	case "MASTER", "BACKUP":
		c.add(at, in.statePos, Note, "state %s: halo has no initial state; the priority (and preempt) decide who becomes master", in.state)
	default:
		c.add(at, in.statePos, Warn, "state %s is not MASTER or BACKUP (keepalived treats it as BACKUP); halo has no initial state anyway: the priority decides", in.state)
	}
	if in.state == "MASTER" && !prioSet {
		in.cfg.Priority = 255
		in.at["priority"] = in.statePos
		in.comment["priority"] = fmt.Sprintf("keepalived's default with state MASTER (%s)", in.statePos)
		c.add(at, in.statePos, Warn, "state MASTER without a priority: keepalived runs the instance at priority 255, as the address owner, and so does the import (address_owner: true): this node always wins and takes the VIPs back at once. Give every node a priority below 255 if that was not meant")
	}
	master := in.state == "MASTER" || in.cfg.Priority == 255
	if in.nopreempt && master {
		// keepalived tests priority 255 first, then the state.
		why, logged := "state MASTER", "(%s) Warning - nopreempt will not work with initial state MASTER - clearing"
		if in.cfg.Priority == 255 {
			why, logged = "priority 255", "(%s) nopreempt is incompatible with priority 255. resetting nopreempt"
		}
		logged = fmt.Sprintf(logged, in.cfg.Name)
		t := true
		in.cfg.Preempt = &t
		in.comment["preempt"] = fmt.Sprintf("keepalived clears nopreempt (%s) with %s", in.at["preempt"], why)
		c.add(at, in.at["preempt"], Warn, "nopreempt has no effect with %s: keepalived clears it (it logs %q) and this node preempted. Kept so: preempt: true. For a cluster that does not preempt, use state BACKUP with nopreempt on every node, and preempt: false here", why, logged)
		in.nopreempt = false
	}
	if in.cfg.PreemptDelay > 0 {
		switch {
		case in.state == "MASTER":
			c.add(at, in.at["preempt_delay"], Warn, "preempt_delay has no effect with state MASTER: keepalived clears it (\"preempt delay will not work with initial state MASTER - clearing\"), so this node preempted at once. Kept so: no preempt_delay")
			in.cfg.PreemptDelay = 0
		case in.nopreempt:
			c.add(at, in.at["preempt_delay"], Note, "preempt_delay has no effect with nopreempt: keepalived resets it, and so does the import")
			in.cfg.PreemptDelay = 0
		}
	}
}

// skippedConditionals says, for an instance whose priority or state lines were
// conditional and skipped (no -host), what the output runs with instead: every node
// converted so would get the same priority, which is seldom what the file meant.
func (c *converter) skippedConditionals(in *instance, n *Node) {
	var lines []string
	for _, s := range n.Skipped {
		if len(s.Words) == 0 || (s.Words[0] != "priority" && s.Words[0] != "state") {
			continue
		}
		cond := "@" + s.ID
		if s.Not {
			cond = "@^" + s.ID
		}
		lines = append(lines, fmt.Sprintf("%s %s (%s)", cond, strings.Join(s.Words, " "), s.Pos))
	}
	if len(lines) == 0 {
		return
	}
	from := "keepalived's default"
	if p, ok := in.at["priority"]; ok {
		from = "from " + p.String()
	}
	c.add(in.anchor(), n.Pos, Warn, "vrrp_instance %s: its conditional lines %s were skipped (no -host), so it is written with priority %d (%s): a node converted this way does not get its own priority. Import once per node with -host NAME (the node's keepalived config id)", in.cfg.Name, strings.Join(lines, ", "), in.cfg.Priority, from)
}
