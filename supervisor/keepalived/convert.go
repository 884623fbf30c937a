package keepalived

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/halo-lb/halo/vrrp"
)

// keepalived's own defaults where they differ from halo's, so that the output says what
// keepalived did rather than what halo would assume.
const (
	keepalivedVersion  = 2 // vrrp_version
	keepalivedPriority = 100
)

// anchor names the output item a message is written above: "" is the file header.
type anchor string

const (
	anchorHeader  anchor = ""
	anchorHAProxy anchor = "haproxy"
)

func instanceAnchor(name string) anchor { return anchor("instance " + name) }
func groupAnchor(name string) anchor    { return anchor("group " + name) }

// message is a Warning and where in the output it is repeated.
type message struct {
	Warning
	at anchor
}

type converter struct {
	opts    Options
	msgs    []message
	scripts map[string]*script
	order   []*script

	routerID    string
	routerIDPos Pos
	version     int
	versionPos  Pos
	garp        vrrp.GARPConfig
	garpAt      map[string]Pos

	// skipCheckAdvAddr: global_defs has vrrp_skip_check_adv_addr, so keepalived accepts
	// adverts whatever addresses they list.
	skipCheckAdvAddr bool

	instances []*instance
	groups    []*group
	// v2Default lists the instances left at keepalived's default VRRPv2, for one note.
	v2Default []*instance
	check     *checkOut
	hap       *haproxyInfo
	files     map[string]int
	// mainName and baseDir: the main file's name as messages show it, and the
	// directory relative script paths are resolved against.
	mainName string
	baseDir  string
}

func (c *converter) add(at anchor, pos Pos, k Kind, format string, args ...any) {
	c.msgs = append(c.msgs, message{Warning{Pos: pos, Kind: k, Msg: fmt.Sprintf(format, args...)}, at})
}

func (c *converter) errors() int {
	n := 0
	for _, m := range c.msgs {
		if m.Kind == Error {
			n++
		}
	}
	return n
}

// convert walks the top level. Scripts and global_defs are read first because
// keepalived resolves them after the whole file is read: an instance may name a script
// defined below it.
func (c *converter) convert(nodes []*Node) {
	var lvs []*Node
	c.scripts = map[string]*script{}
	c.garpAt = map[string]Pos{}
	for _, n := range nodes {
		switch n.Name {
		case "global_defs":
			c.globalDefs(n)
		case "vrrp_script":
			c.vrrpScript(n)
		}
	}
	for _, n := range nodes {
		switch n.Name {
		case "global_defs", "vrrp_script":
		case "vrrp_instance":
			c.vrrpInstance(n)
		case "vrrp_sync_group":
			c.syncGroup(n)
		case "virtual_server", "virtual_server_group":
			lvs = append(lvs, n)
		default:
			c.unsupported(anchorHeader, n, topLevelReasons)
		}
	}
	c.resolve()
	for _, s := range c.order {
		if !s.used {
			c.add(anchorHeader, s.pos, Note, "vrrp_script %s is tracked by no instance: not converted", s.name)
		}
	}
	rest := "; the rest of the file was converted"
	if len(c.instances) == 0 {
		rest = ""
	}
	for _, n := range lvs {
		c.add(anchorHeader, n.Pos, Warn, "%s %s refused: it configures LVS (IPVS) in the kernel; halo fronts HAProxy and does not program IPVS. Move the service into haproxy.cfg (a frontend and a backend with health checks) or keep a keepalived that only does LVS%s", n.Name, strings.Join(n.Args, " "), rest)
	}
	if len(c.instances) == 0 && c.errors() == 0 {
		pos := Pos{File: c.mainName, Line: 1}
		if len(nodes) > 0 {
			pos = nodes[0].Pos
		}
		msg := "no vrrp_instance to convert: halo needs at least one VRRP instance, and nothing was converted"
		if len(lvs) > 0 {
			msg = fmt.Sprintf("no vrrp_instance to convert: this configuration only does LVS (%s at %s), which halo does not do; nothing was converted. Keep keepalived for LVS", lvs[0].Name, lvs[0].Pos)
		}
		c.add(anchorHeader, pos, Error, "%s", msg)
	}
}

// unsupported warns about a directive halo does not carry, with the reason when one is
// known.
func (c *converter) unsupported(at anchor, n *Node, reasons map[string]string) {
	what := n.Name
	if len(n.Args) > 0 {
		what += " " + strings.Join(n.Args, " ")
	}
	if len(what) > 60 {
		what = what[:57] + "..."
	}
	if r, ok := reasons[n.Name]; ok {
		c.add(at, n.Pos, Warn, "%s: not carried over: %s", what, r)
		return
	}
	c.add(at, n.Pos, Warn, "%s: unknown or unsupported keyword, not carried over", what)
}

const mailReason = "halo sends no e-mail; run a mailer from a notify hook instead"

var topLevelReasons = map[string]string{
	"static_ipaddress":     "static addresses are host network configuration: move them to the system's network setup (ifupdown, systemd-networkd, netplan)",
	"static_routes":        "static routes are host network configuration: move them to the system's network setup",
	"static_rules":         "static rules are host network configuration: move them to the system's network setup",
	"vrrp_track_process":   "halo tracks HAProxy through its runtime API (track_haproxy) and runs no process trackers",
	"vrrp_track_file":      "halo has no file trackers; its control socket (haloctl maintenance on|off, resign) covers the usual uses",
	"track_file":           "halo has no file trackers; its control socket (haloctl maintenance on|off, resign) covers the usual uses",
	"bfd_instance":         "halo has no BFD",
	"linkbeat_use_polling": "halo follows link state through netlink",
	"net_namespace":        "run halod itself in the namespace (ip netns exec, or the unit's NetworkNamespacePath=)",
	"real_server":          "LVS is out of scope for halo",
	"garp_group":           "halo sends gratuitous ARP per instance (vrrp.instances[].garp)",
	"vrrp_gna_interval":    "use vrrp.instances[].garp.refresh",
}

// sortedMessages returns the messages in file order, stable within a line.
func (c *converter) sortedMessages() []message {
	out := append([]message(nil), c.msgs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.File != b.File {
			return c.fileRank(a.File) < c.fileRank(b.File)
		}
		return a.Line < b.Line
	})
	return out
}

func (c *converter) fileRank(f string) int {
	if r, ok := c.files[f]; ok {
		return r
	}
	return len(c.files) + 1
}

// ---- small argument readers that warn with the line ----

func (c *converter) arg(at anchor, d *Node, i int) (string, bool) {
	if i >= len(d.Args) {
		c.add(at, d.Pos, Warn, "%s: missing value: ignored", d.Name)
		return "", false
	}
	return d.Args[i], true
}

func (c *converter) intArg(at anchor, d *Node, lo, hi int) (int, bool) {
	s, ok := c.arg(at, d, 0)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		c.add(at, d.Pos, Error, "%s %s: not a whole number in %d..%d", d.Name, s, lo, hi)
		return 0, false
	}
	return v, true
}

func (c *converter) floatArg(at anchor, d *Node, lo, hi float64) (float64, bool) {
	s, ok := c.arg(at, d, 0)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < lo || v > hi {
		c.add(at, d.Pos, Error, "%s %s: not a number in %g..%g", d.Name, s, lo, hi)
		return 0, false
	}
	return v, true
}
