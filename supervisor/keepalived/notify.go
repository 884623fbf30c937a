package keepalived

import (
	"strconv"
	"strings"

	"github.com/halo-lb/halo/vrrp"
)

// hookArgv reads a notify command; the user/group words keepalived allows after it are
// dropped with a warning.
func (c *converter) hookArgv(at anchor, d *Node) ([]string, bool) {
	argv, runAs, err := commandOf(d)
	if err != nil {
		c.add(at, d.Pos, Warn, "%s: cannot split the command: %v: not carried over", d.Name, err)
		return nil, false
	}
	if len(runAs) > 0 {
		c.add(at, d.Pos, Warn, "%s: keepalived runs %s as user/group %q (the words after an unquoted command); halo runs hooks as halod's user. If those words were meant as arguments, quote the whole command in keepalived.conf", d.Name, argv[0], strings.Join(runAs, " "))
	}
	return argv, true
}

func (c *converter) notifyHook(at anchor, n *vrrp.Notify, where map[string]Pos, d *Node) {
	argv, ok := c.hookArgv(at, d)
	if !ok {
		return
	}
	key := strings.TrimPrefix(d.Name, "notify_")
	switch key {
	case "master":
		n.Master = argv
	case "backup":
		n.Backup = argv
	case "fault":
		n.Fault = argv
	case "stop":
		n.Stop = argv
	}
	where["notify."+key] = d.Pos
}

// genericNotify spreads keepalived's "notify" script over the four hooks, with the
// arguments keepalived appends: type, name, state and (for instances) the priority.
func (c *converter) genericNotify(at anchor, n *vrrp.Notify, where map[string]Pos, argv []string, pos Pos, typ, name string, prio int) {
	hooks := []struct {
		key, state string
		dst        *[]string
	}{{"master", "MASTER", &n.Master}, {"backup", "BACKUP", &n.Backup}, {"fault", "FAULT", &n.Fault}, {"stop", "STOP", &n.Stop}}
	var kept []string
	for _, h := range hooks {
		if *h.dst != nil {
			c.add(at, pos, Warn, "notify %s: halo runs one hook per state and notify_%s is set, so this script does not run on %s (keepalived ran both)", argv[0], h.key, h.state)
			continue
		}
		a := append(append([]string{}, argv...), typ, name, h.state)
		if typ == "INSTANCE" {
			a = append(a, strconv.Itoa(prio))
		}
		*h.dst = a
		where["notify."+h.key] = pos
		kept = append(kept, h.key)
	}
	if len(kept) > 0 && typ == "INSTANCE" {
		c.add(at, pos, Note, "notify %s: keepalived calls it with \"%s %s <state> <priority>\"; halo passes the same words, written out per state, with the configured priority %d rather than the effective one", argv[0], typ, name, prio)
	}
}
