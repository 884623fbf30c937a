package keepalived

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/halo-lb/halo/haproxy"
	"github.com/halo-lb/halo/vrrp"
)

const (
	defaultCheckInterval = haproxy.DefaultCheckInterval
	defaultCheckTimeout  = haproxy.DefaultCheckTimeout
	// debianMasterSocket is where Debian's haproxy.service puts the master CLI
	// (EXTRAOPTS="-S /run/haproxy-master.sock" in the unit).
	debianMasterSocket = "/run/haproxy-master.sock"
	commentWidth       = 96
)

// render writes halo.yaml as a yaml.Node tree, so that the encoder quotes values and
// places comments: head comments above items, line comments naming the source line.
func (c *converter) render(path string, msgs []message) ([]byte, error) {
	byAnchor := map[anchor][]string{}
	for _, m := range msgs {
		byAnchor[m.at] = append(byAnchor[m.at], m.String())
	}

	var head []string
	head = append(head,
		fmt.Sprintf("halo.yaml converted from %s by \"halod import-keepalived\".", path),
		"Check it with \"halod -t -config FILE\", and read every warning below before starting halod.",
		"Each item names the keepalived line it came from.")
	if c.routerID != "" {
		head = append(head, fmt.Sprintf("%s: router_id %s: halo has no router id; status, logs and metrics name the node by its host name.", c.routerIDPos, c.routerID))
	}
	var counts []string
	for _, k := range []Kind{Warn, Note} {
		n := 0
		for _, m := range msgs {
			if m.Kind == k {
				n++
			}
		}
		if n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s(s)", n, k))
		}
	}
	if len(counts) > 0 {
		head = append(head, fmt.Sprintf("%s, each repeated beside the item it concerns, the rest here:", strings.Join(counts, " and ")))
	}
	head = append(head, byAnchor[anchorHeader]...)

	root := mapping()
	hk, hv := c.renderHAProxy(byAnchor[anchorHAProxy])
	hk.HeadComment = comment(head...)
	root.Content = append(root.Content, hk, hv)

	vk := scalar("vrrp")
	vv := mapping()
	insts := &yaml.Node{Kind: yaml.SequenceNode}
	for _, in := range c.instances {
		insts.Content = append(insts.Content, c.renderInstance(in, byAnchor[instanceAnchor(in.cfg.Name)]))
	}
	vv.Content = append(vv.Content, scalar("instances"), insts)
	var groups []*yaml.Node
	for _, g := range c.groups {
		if len(g.cfg.Instances) < 2 {
			continue
		}
		groups = append(groups, c.renderGroup(g, byAnchor[groupAnchor(g.cfg.Name)]))
	}
	if len(groups) > 0 {
		vv.Content = append(vv.Content, scalar("sync_groups"), &yaml.Node{Kind: yaml.SequenceNode, Content: groups})
	}
	vk.HeadComment = "\n"
	root.Content = append(root.Content, vk, vv)

	// yaml.v3's emitter panics on invalid UTF-8 ("unknown character width"), which a
	// Latin-1 comment or name in keepalived.conf carries.
	if err := validUTF8(root); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	e := yaml.NewEncoder(&b)
	e.SetIndent(2)
	if err := e.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (c *converter) renderHAProxy(msgs []string) (*yaml.Node, *yaml.Node) {
	k := scalar("haproxy")
	m := mapping()
	mode := c.opts.HAProxyMode
	mv := scalar(string(mode))
	if mode == haproxy.External {
		mv.LineComment = "haproxy.service keeps running HAProxy; halod replaces keepalived only. managed: halod runs HAProxy (disable haproxy.service first)"
	} else {
		mv.LineComment = "halod runs HAProxy: stop and disable haproxy.service before starting halod"
	}
	m.Content = append(m.Content, scalar("mode"), mv)
	cfgPath := haproxy.DefaultConfigFile
	cfgNote := "the default; pass -haproxy-config to check it against the VIPs"
	if c.hap != nil {
		cfgPath, cfgNote = c.hap.path, "from -haproxy-config"
	}
	m.Content = append(m.Content, scalar("config"), flowSeq(cfgNote, cfgPath))
	if mode == haproxy.External {
		ms := scalar(debianMasterSocket)
		ms.LineComment = "Debian's haproxy.service starts HAProxy with -S " + debianMasterSocket + " (see systemctl cat haproxy)"
		m.Content = append(m.Content, scalar("master_socket"), ms)
	}
	ss := haproxy.DefaultStatsSocket
	ssNote := "Debian's haproxy.cfg declares it with level admin; halo needs that"
	if c.hap != nil && c.hap.statsSocket != "" {
		ss, ssNote = c.hap.statsSocket, c.hap.statsPos.String()
	}
	sv := scalar(ss)
	sv.LineComment = ssNote
	m.Content = append(m.Content, scalar("stats_socket"), sv)

	check := mapping()
	if c.check != nil {
		s := c.check.from
		iv := scalar(dur(defaultCheckInterval))
		iv.LineComment = fmt.Sprintf("keepalived: interval %gs (%s)", s.interval, s.pos)
		check.Content = append(check.Content, scalar("interval"), iv)
		tv := scalar(dur(defaultCheckTimeout))
		if s.timeout > 0 {
			tv.LineComment = fmt.Sprintf("keepalived: timeout %gs", s.timeout)
		}
		check.Content = append(check.Content, scalar("timeout"), tv)
		check.Content = append(check.Content, scalar("rise"), scalarInt(c.check.rise, s.pos.String()))
		check.Content = append(check.Content, scalar("fall"), scalarInt(c.check.fall, s.pos.String()))
	}
	if c.hap != nil && len(c.hap.frontends) > 0 {
		check.Content = append(check.Content, scalar("frontends"), flowSeq("must be OPEN: the frontends and listen sections of "+c.hap.pos.File+" that bind an address", c.hap.frontends...))
	}
	if c.hap != nil && len(c.hap.backends) > 0 {
		b := mapping()
		b.Style = yaml.FlowStyle
		names := make([]string, 0, len(c.hap.backends))
		for n := range c.hap.backends {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			b.Content = append(b.Content, scalar(n), scalarInt(c.hap.backends[n], ""))
		}
		b.LineComment = "minimum UP servers: the default backends of those frontends; a node that sees none UP hands the VIPs over. Remove to check only that HAProxy serves"
		check.Content = append(check.Content, scalar("backends"), b)
	}
	if len(check.Content) > 0 {
		ck := scalar("check")
		if c.check != nil {
			ck.LineComment = fmt.Sprintf("from vrrp_script %s (%s)", c.check.from.name, c.check.from.pos)
		}
		m.Content = append(m.Content, ck, check)
	}
	if len(msgs) > 0 {
		m.Content[0].HeadComment = comment(msgs...)
	}
	return k, m
}

func (c *converter) renderInstance(in *instance, msgs []string) *yaml.Node {
	cfg := in.cfg
	m := mapping()
	m.HeadComment = comment(append([]string{fmt.Sprintf("%s: vrrp_instance %s", in.pos, cfg.Name)}, msgs...)...)
	src := func(key string) string {
		if c, ok := in.comment[key]; ok {
			return c
		}
		if p, ok := in.at[key]; ok && p.Line > 0 {
			return p.String()
		}
		return ""
	}
	add := func(key string, v *yaml.Node) { m.Content = append(m.Content, scalar(key), v) }
	add("name", scalarC(cfg.Name, in.pos.String()))
	add("interface", scalarC(cfg.Interface, src("interface")))
	add("vrid", scalarInt(cfg.VRID, src("vrid")))
	add("version", scalarInt(cfg.Version, src("version")))
	if cfg.AddressOwner {
		add("address_owner", scalarBool(true, src("priority")))
	}
	add("priority", scalarInt(cfg.Priority, src("priority")))
	add("advert_interval", scalarC(dur(cfg.AdvertInterval), src("advert_interval")))
	if cfg.Preempt != nil {
		add("preempt", scalarBool(*cfg.Preempt, src("preempt")))
	}
	if cfg.PreemptDelay != 0 {
		add("preempt_delay", scalarC(dur(cfg.PreemptDelay), src("preempt_delay")))
	}
	vips := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	long := false
	for _, v := range cfg.VIPs {
		if v.Dev != "" || v.Label != "" {
			long = true
		}
	}
	for i, v := range cfg.VIPs {
		n := vipNode(v)
		if long && i < len(in.vipAt) {
			n.LineComment = in.vipAt[i].String()
		}
		vips.Content = append(vips.Content, n)
	}
	if long {
		vips.Style = 0
		add("vips", vips)
	} else {
		if len(in.vipAt) > 0 {
			vips.LineComment = in.vipAt[0].String()
		}
		add("vips", vips)
	}
	if u := cfg.Unicast; u != nil {
		um := mapping()
		if u.Source != "" {
			um.Content = append(um.Content, scalar("source"), scalarC(u.Source, src("unicast.source")))
		}
		um.Content = append(um.Content, scalar("peers"), flowSeq(src("unicast.peers"), u.Peers...))
		add("unicast", um)
	}
	if cfg.AuthPass != "" {
		add("auth_pass", scalarC(cfg.AuthPass, src("auth_pass")))
	}
	if t := cfg.TrackHAProxy; t != nil {
		tm := mapping()
		tm.Style = yaml.FlowStyle
		if t.Fault {
			tm.Content = append(tm.Content, scalar("fault"), scalarBool(true, ""))
		} else {
			tm.Content = append(tm.Content, scalar("weight"), scalarInt(t.Weight, ""))
		}
		tm.LineComment = src("track_haproxy")
		add("track_haproxy", tm)
	}
	if len(cfg.TrackInterfaces) > 0 {
		add("track_interfaces", trackInterfacesNode(cfg.TrackInterfaces, in.trackIfAt, src("track_interfaces")))
	}
	g := cfg.GARP
	if g.Delay != nil || g.Repeat != 0 || g.Refresh != 0 {
		gm := mapping()
		if g.Delay != nil {
			gm.Content = append(gm.Content, scalar("delay"), scalarC(dur(*g.Delay), src("garp.delay")))
		}
		if g.Repeat != 0 {
			gm.Content = append(gm.Content, scalar("repeat"), scalarInt(g.Repeat, src("garp.repeat")))
		}
		if g.Refresh != 0 {
			gm.Content = append(gm.Content, scalar("refresh"), scalarC(dur(g.Refresh), src("garp.refresh")))
		}
		add("garp", gm)
	}
	if nm := notifyNode(cfg.Notify, src); nm != nil {
		add("notify", nm)
	}
	return m
}

func (c *converter) renderGroup(g *group, msgs []string) *yaml.Node {
	m := mapping()
	m.HeadComment = comment(append([]string{fmt.Sprintf("%s: vrrp_sync_group %s", g.pos, g.cfg.Name)}, msgs...)...)
	src := func(key string) string {
		if p, ok := g.at[key]; ok && p.Line > 0 {
			return p.String()
		}
		return ""
	}
	m.Content = append(m.Content, scalar("name"), scalarC(g.cfg.Name, g.pos.String()))
	m.Content = append(m.Content, scalar("instances"), flowSeq(src("instances"), g.cfg.Instances...))
	if nm := notifyNode(g.cfg.Notify, src); nm != nil {
		m.Content = append(m.Content, scalar("notify"), nm)
	}
	return m
}

func notifyNode(n vrrp.Notify, src func(string) string) *yaml.Node {
	nm := mapping()
	for _, h := range []struct {
		key  string
		argv []string
	}{{"master", n.Master}, {"backup", n.Backup}, {"fault", n.Fault}, {"stop", n.Stop}} {
		if h.argv != nil {
			nm.Content = append(nm.Content, scalar(h.key), flowSeq(src("notify."+h.key), h.argv...))
		}
	}
	if len(nm.Content) == 0 {
		return nil
	}
	return nm
}

func vipNode(v vrrp.VIP) *yaml.Node {
	if v.Dev == "" && v.Label == "" {
		return scalar(v.Prefix.String())
	}
	m := mapping()
	m.Style = yaml.FlowStyle
	m.Content = append(m.Content, scalar("address"), scalar(v.Prefix.String()))
	if v.Dev != "" {
		m.Content = append(m.Content, scalar("dev"), scalar(v.Dev))
	}
	if v.Label != "" {
		m.Content = append(m.Content, scalar("label"), scalar(v.Label))
	}
	return m
}

// dur writes a duration the way an operator would: "1s", "100ms", "1m30s".
func dur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	return s
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

// scalar makes a string scalar; the explicit tag makes the encoder quote a word that YAML
// would read as something else ("true", "1", "on" as an argv word or a name).
func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func scalarBool(v bool, lineComment string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v), LineComment: lineComment}
}

func scalarC(v, lineComment string) *yaml.Node {
	n := scalar(v)
	n.LineComment = lineComment
	return n
}

func scalarInt(v int, lineComment string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)}
	n.LineComment = lineComment
	return n
}

func flowSeq(lineComment string, items ...string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, LineComment: lineComment}
	for _, it := range items {
		n.Content = append(n.Content, scalar(it))
	}
	return n
}

// comment joins messages into a comment block, each wrapped at commentWidth with an
// indented continuation so that one message reads as one paragraph.
// validUTF8 makes the comments under n valid UTF-8 (a byte that is not becomes U+FFFD)
// and refuses a value that is not: halo.yaml is UTF-8, and a value is not changed silently.
func validUTF8(n *yaml.Node) error {
	n.HeadComment = strings.ToValidUTF8(n.HeadComment, "\uFFFD")
	n.LineComment = strings.ToValidUTF8(n.LineComment, "\uFFFD")
	n.FootComment = strings.ToValidUTF8(n.FootComment, "\uFFFD")
	if !utf8.ValidString(n.Value) {
		return fmt.Errorf("keepalived: %q is not valid UTF-8, which halo.yaml must be", n.Value)
	}
	for _, c := range n.Content {
		if err := validUTF8(c); err != nil {
			return err
		}
	}
	return nil
}

func comment(msgs ...string) string {
	var lines []string
	for _, m := range msgs {
		lines = append(lines, wrap(m, commentWidth)...)
	}
	return strings.Join(lines, "\n")
}

func wrap(s string, width int) []string {
	words := strings.Fields(s)
	var out []string
	var cur strings.Builder
	for _, w := range words {
		if cur.Len() > 0 && cur.Len()+1+len(w) > width {
			out = append(out, cur.String())
			cur.Reset()
			cur.WriteString("   ")
		}
		if cur.Len() > 0 && !strings.HasSuffix(cur.String(), "   ") {
			cur.WriteByte(' ')
		}
		cur.WriteString(w)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
