package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// KeepalivedConfig renders the keepalived.conf of node name: opt.Instances instances (0
// means 1), each in state MASTER (master, as the tutorials write it) or BACKUP, at priority.
func KeepalivedConfig(name string, opt ClassicOptions, master bool, priority int) (string, error) {
	n := opt.Instances
	if n == 0 {
		n = 1
	}
	ins, err := Instances(n)
	if err != nil {
		return "", err
	}
	state := "BACKUP"
	if master {
		state = "MASTER"
	}
	data := map[string]any{"Name": name, "Version": opt.Version, "Check": opt.Check, "State": state,
		"Priority": priority, "Advert": strconv.FormatFloat(opt.AdvertInt, 'f', -1, 64), "Instances": ins}
	var b strings.Builder
	if err := keepalivedConf.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Instance is one VRRP instance of a lab node, the same for halod and keepalived.
type Instance struct {
	Name string     // VI_k
	VRID int        // virtual_router_id / vrid
	VIP  netip.Addr // its one VIP, a /24 on eth0
}

// Instances numbers n instances VI_1..VI_n: VI_1 is the lab's instance (VRID 51, VIP), VI_k
// for k > 1 has VRID k−1 and VIP 192.0.2.(149+k), so 50 instances use VRIDs 1..49 and 51
// and the VIPs 192.0.2.100 and 192.0.2.151..199.
func Instances(n int) ([]Instance, error) {
	if n < 1 || n > MaxInstances {
		return nil, fmt.Errorf("%d instances: not in 1..%d", n, MaxInstances)
	}
	ins := []Instance{{Name: "VI_1", VRID: 51, VIP: VIP}}
	for k := 2; k <= n; k++ {
		ins = append(ins, Instance{Name: fmt.Sprintf("VI_%d", k), VRID: k - 1, VIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(149 + k)})})
	}
	return ins, nil
}

// StartKeepalived starts keepalived (VRRP only, in the foreground, logging to stdout, with
// its pid files in Dir) in the node's PID namespace.
func (lb *ClassicLB) StartKeepalived(ctx context.Context) error {
	args := append(lb.nsenter(), lb.kad, "-n", "-l", "-D", "-G", "-P", "-f", lb.KeepalivedConf,
		"-p", filepath.Join(lb.Dir, "keepalived.pid"), "-r", filepath.Join(lb.Dir, "vrrp.pid"),
		"-c", filepath.Join(lb.Dir, "checkers.pid"), "-b", filepath.Join(lb.Dir, "bfd.pid"))
	p, err := lb.Node.Start("nsenter", args...)
	if err != nil {
		return err
	}
	lb.Keepalived = p
	for {
		if m, all := lb.KeepalivedPIDs(); m > 0 && len(all) > 1 {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("keepalived on %s exited:\n%s", lb.Name, p.Output())
		case <-ctx.Done():
			return fmt.Errorf("keepalived on %s: no VRRP process: %w", lb.Name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// KeepalivedPIDs returns the host PIDs of keepalived's parent process and of every process
// of it (the parent, the VRRP child, any check script running now).
func (lb *ClassicLB) KeepalivedPIDs() (parent int, all []int) {
	if lb.Keepalived == nil {
		return 0, nil
	}
	kids := children(lb.Keepalived.PID)
	if len(kids) != 1 {
		return 0, nil
	}
	parent = kids[0]
	all = []int{parent}
	for _, k := range children(parent) {
		all = append(all, k)
		all = append(all, children(k)...)
	}
	return parent, all
}

// KeepalivedLog returns what the keepalived started last wrote.
func (lb *ClassicLB) KeepalivedLog() string {
	if lb.Keepalived == nil {
		return ""
	}
	return lb.Keepalived.Output()
}

// State returns the state keepalived last logged for VI_1 ("MASTER", "BACKUP", "FAULT"),
// "" when it logged none.
func (lb *ClassicLB) State() string {
	return lastOf(lb.KeepalivedLog(), "(VI_1) Entering ", " STATE")
}

// States returns the state keepalived last logged for each instance that logged one
// ("VI_7" → "MASTER").
func (lb *ClassicLB) States() map[string]string {
	return instanceStates(lb.KeepalivedLog())
}

// instanceStates reads keepalived's `(VI_7) Entering MASTER STATE` lines: the last state
// of each instance.
func instanceStates(log string) map[string]string {
	st := map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		i := strings.Index(line, ") Entering ")
		if i < 0 {
			continue
		}
		j := strings.LastIndexByte(line[:i], '(')
		rest, _, ok := strings.Cut(line[i+len(") Entering "):], " STATE")
		if j < 0 || !ok {
			continue
		}
		st[line[j+1:i]] = strings.TrimSpace(rest)
	}
	return st
}

// HeldVIPs returns which of vips the node carries on any interface now.
func (lb *ClassicLB) HeldVIPs(ctx context.Context, vips []netip.Addr) ([]netip.Addr, error) {
	out, err := lb.Node.Exec(ctx, "ip", "-o", "addr", "show")
	if err != nil {
		return nil, err
	}
	return heldAddrs(string(out), vips), nil
}

// heldAddrs returns the members of want that `ip -o addr show` output lists, in want's order.
func heldAddrs(ipOut string, want []netip.Addr) []netip.Addr {
	have := map[netip.Addr]bool{}
	for _, f := range strings.Fields(ipOut) {
		if p, err := netip.ParsePrefix(f); err == nil {
			have[p.Addr()] = true
		}
	}
	var held []netip.Addr
	for _, a := range want {
		if have[a] {
			held = append(held, a)
		}
	}
	return held
}

// CheckOK reports whether the check script's last logged verdict is a success (true when
// it logged none: keepalived starts a script as succeeded).
func (lb *ClassicLB) CheckOK() bool {
	return lastOf(lb.KeepalivedLog(), "VRRP_Script(chk_haproxy) ", " ") != "failed"
}

// lastOf finds the last line holding prefix and returns what follows it, up to suffix (or
// the end of the line).
func lastOf(log, prefix, suffix string) string {
	i := strings.LastIndex(log, prefix)
	if i < 0 {
		return ""
	}
	rest := log[i+len(prefix):]
	if j := strings.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	if suffix != "" {
		if j := strings.Index(rest, suffix); j >= 0 {
			rest = rest[:j]
		}
	}
	return strings.TrimSpace(rest)
}
