// Package netlab builds network-namespace labs for tests and benchmarks, following the lab
// rules of DESIGN.md: a switch namespace holds one bridge per network, every node is a
// namespace joined to each bridge by a veth pair, addresses come from the documentation
// ranges, the root namespace gets nothing, and everything a lab made (namespaces, links,
// processes) is removed on cleanup, also after a failed test, and at the next start after a
// crashed run.
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/halo-lb/halo/internal/tier"
)

// NamePrefix starts the name of every namespace a lab makes; the creating process's PID
// follows, so that leftovers of a crashed run can be told from a live run's.
const NamePrefix = "halolab-"

// Options shape a lab.
type Options struct {
	// Nodes is the number of node namespaces (default 2).
	Nodes int
	// Networks is the number of bridges; node interface ethK joins network K (default 1).
	Networks int
}

// Lab is a running lab. Its fields are read-only.
type Lab struct {
	// Prefix starts every namespace name of this lab ("halolab-1234-1-").
	Prefix string
	// Switch is the namespace holding the bridges br0, br1, ...
	Switch string
	// Nodes are the node namespaces, n1, n2, ...
	Nodes []*Node

	t        tier.TB
	networks int

	mu     sync.Mutex
	procs  []*Proc
	closed bool
	parts  map[string]bool // bridges made by Partition
}

// Node is one namespace of the lab.
type Node struct {
	// Name is the short name, "n1".
	Name string
	// NS is the namespace name, for `ip netns exec`.
	NS string
	// Ifaces are the node's interfaces, eth0 on network 0, eth1 on network 1, ...
	Ifaces []string
	// IPv4 and IPv6 are the node's addresses on each network.
	IPv4 []netip.Prefix
	IPv6 []netip.Prefix

	lab  *Lab
	port []string // the bridge-side veth of each interface, in the switch namespace
}

var labSeq atomic.Int64

// The documentation ranges, one per network (RFC 5737, RFC 3849).
var v4Nets = []string{"192.0.2", "198.51.100", "203.0.113"}

// Addr4 returns the IPv4 address host gets on network k (node i is host 11+i).
func Addr4(k, host int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("%s.%d", v4Nets[k%len(v4Nets)], host))
}

// Addr6 returns the IPv6 address host gets on network k.
func Addr6(k, host int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::%d", k, host))
}

// New builds a lab and registers its cleanup with t. It needs root and iproute2; where they
// are missing it skips (fails under CI=true).
func New(t tier.TB, opt Options) *Lab {
	t.Helper()
	tier.Root(t)
	if opt.Nodes == 0 {
		opt.Nodes = 2
	}
	if opt.Networks == 0 {
		opt.Networks = 1
	}
	if opt.Networks > len(v4Nets) {
		t.Fatalf("netlab: at most %d networks", len(v4Nets))
	}
	if err := RemoveStale(); err != nil {
		t.Logf("netlab: removing leftovers of earlier runs: %v", err)
	}
	l := &Lab{
		Prefix:   fmt.Sprintf("%s%d-%d-", NamePrefix, os.Getpid(), labSeq.Add(1)),
		t:        t,
		networks: opt.Networks,
		parts:    map[string]bool{},
	}
	l.Switch = l.Prefix + "sw"
	t.Cleanup(l.Close)
	if err := l.build(opt); err != nil {
		t.Fatalf("netlab: %v", err)
	}
	return l
}

func (l *Lab) build(opt Options) error {
	if err := ip("netns", "add", l.Switch); err != nil {
		return err
	}
	for k := 0; k < opt.Networks; k++ {
		br := fmt.Sprintf("br%d", k)
		// Snooping off: VRRP's multicast must reach every port, as on a plain switch.
		if err := ip("-n", l.Switch, "link", "add", br, "type", "bridge", "forward_delay", "0", "mcast_snooping", "0"); err != nil {
			return err
		}
		if err := ip("-n", l.Switch, "link", "set", br, "up"); err != nil {
			return err
		}
	}
	for i := 0; i < opt.Nodes; i++ {
		n := &Node{Name: fmt.Sprintf("n%d", i+1), lab: l}
		n.NS = l.Prefix + n.Name
		if err := ip("netns", "add", n.NS); err != nil {
			return err
		}
		// No DAD: a tentative address would make IPv6 tests wait out the DAD delay.
		for _, kv := range []string{"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"} {
			if _, err := n.Exec(context.Background(), "sysctl", "-qw", kv); err != nil {
				return err
			}
		}
		if err := ip("-n", n.NS, "link", "set", "lo", "up"); err != nil {
			return err
		}
		for k := 0; k < opt.Networks; k++ {
			ifc, port := fmt.Sprintf("eth%d", k), fmt.Sprintf("%s-e%d", n.Name, k)
			if err := ip("-n", l.Switch, "link", "add", port, "type", "veth", "peer", "name", ifc, "netns", n.NS); err != nil {
				return err
			}
			if err := ip("-n", l.Switch, "link", "set", port, "master", fmt.Sprintf("br%d", k), "up"); err != nil {
				return err
			}
			a4 := netip.PrefixFrom(Addr4(k, 11+i), 24)
			a6 := netip.PrefixFrom(Addr6(k, 11+i), 64)
			if err := ip("-n", n.NS, "addr", "add", a4.String(), "dev", ifc); err != nil {
				return err
			}
			if err := ip("-n", n.NS, "addr", "add", a6.String(), "dev", ifc, "nodad"); err != nil {
				return err
			}
			if err := ip("-n", n.NS, "link", "set", ifc, "up"); err != nil {
				return err
			}
			n.Ifaces = append(n.Ifaces, ifc)
			n.port = append(n.port, port)
			n.IPv4 = append(n.IPv4, a4)
			n.IPv6 = append(n.IPv6, a6)
		}
		l.Nodes = append(l.Nodes, n)
	}
	return nil
}

// Close ends every process the lab started (by its recorded PID) and deletes its
// namespaces. New registers it with t.Cleanup; calling it again does nothing.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	procs := l.procs
	l.mu.Unlock()
	for _, p := range procs {
		p.Stop(2 * time.Second)
		if l.t.Failed() {
			l.t.Logf("netlab: output of %s (pid %d) in %s:\n%s", p.Name, p.PID, p.node, p.Output())
		}
	}
	for _, n := range l.Nodes {
		removeNS(n.NS)
	}
	removeNS(l.Switch)
	// Nodes whose creation failed half-way are not in l.Nodes; sweep the prefix too.
	for _, ns := range listNS() {
		if strings.HasPrefix(ns, l.Prefix) {
			removeNS(ns)
		}
	}
}

// RemoveStale deletes the namespaces of labs whose creating process is gone, ending what
// still runs inside them.
func RemoveStale() error {
	var errs []error
	for _, ns := range listNS() {
		rest, ok := strings.CutPrefix(ns, NamePrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err == nil && pid != os.Getpid() && processAlive(pid) {
			continue
		}
		if err == nil && pid == os.Getpid() {
			continue
		}
		if err := removeNS(ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// List returns the namespaces of every lab present on the machine.
func List() []string {
	var out []string
	for _, ns := range listNS() {
		if strings.HasPrefix(ns, NamePrefix) {
			out = append(out, ns)
		}
	}
	return out
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func listNS() []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// removeNS ends the processes left in a namespace of ours and deletes it. Recorded
// processes were already stopped by their PID; this is the backstop for what they forked
// (HAProxy's master and workers under halod) and for a crashed run's leftovers: the
// namespace is ours by its name, so is everything in it.
func removeNS(ns string) error {
	for range 3 {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, s := range pids {
			if pid, err := strconv.Atoi(s); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		waitGone(pids, time.Second)
	}
	if err := ip("netns", "del", ns); err != nil && !strings.Contains(err.Error(), "No such file") {
		return err
	}
	return nil
}

func waitGone(pids []string, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		alive := false
		for _, s := range pids {
			if _, err := os.Stat(filepath.Join("/proc", s)); err == nil {
				alive = true
			}
		}
		if !alive {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Exec runs a command inside the node and returns its combined output.
func (n *Node) Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s in %s: %v: %s", name, n.Name, err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Start runs a long-lived process inside the node. Its PID is recorded; the lab ends it
// on cleanup, and its output is kept for Output and logged if the test failed.
func (n *Node) Start(name string, args ...string) (*Proc, error) {
	return n.StartEnv(nil, name, args...)
}

// StartEnv is Start with extra environment variables ("KEY=value").
func (n *Node) StartEnv(env []string, name string, args ...string) (*Proc, error) {
	l := n.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("netlab: lab is closed")
	}
	// ip netns exec execs the program in place, so the PID recorded is the program's.
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &Proc{Name: filepath.Base(name), node: n.Name, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = &p.out
	cmd.Stderr = &p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: start %s in %s: %w", name, n.Name, err)
	}
	p.PID = cmd.Process.Pid
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.procs = append(l.procs, p)
	return p, nil
}

// LinkDown cuts the cable of the node's interface k at the switch: the node sees its
// carrier go, as when a real link fails.
func (l *Lab) LinkDown(n *Node, k int) error {
	return ip("-n", l.Switch, "link", "set", n.port[k], "down")
}

// LinkUp plugs the cable of interface k back in.
func (l *Lab) LinkUp(n *Node, k int) error {
	return ip("-n", l.Switch, "link", "set", n.port[k], "up")
}

// Partition splits network 0 into groups that reach each other only within a group
// (nodes in no group keep the default segment). Heal joins them again.
func (l *Lab) Partition(groups ...[]*Node) error {
	return l.PartitionNetwork(0, groups...)
}

// PartitionNetwork is Partition on network k. Each group's ports move to a bridge of their
// own (this kernel's bridge may lack VLAN filtering, so VLANs are not used).
func (l *Lab) PartitionNetwork(k int, groups ...[]*Node) error {
	for g, nodes := range groups {
		br := fmt.Sprintf("br%dp%d", k, g)
		l.mu.Lock()
		created := l.parts[br]
		l.parts[br] = true
		l.mu.Unlock()
		if !created {
			if err := ip("-n", l.Switch, "link", "add", br, "type", "bridge", "forward_delay", "0", "mcast_snooping", "0"); err != nil {
				return err
			}
			if err := ip("-n", l.Switch, "link", "set", br, "up"); err != nil {
				return err
			}
		}
		for _, n := range nodes {
			if err := ip("-n", l.Switch, "link", "set", n.port[k], "master", br); err != nil {
				return err
			}
		}
	}
	return nil
}

// Heal undoes every partition: each port returns to its network's bridge.
func (l *Lab) Heal() error {
	for _, n := range l.Nodes {
		for k, port := range n.port {
			if err := ip("-n", l.Switch, "link", "set", port, "master", fmt.Sprintf("br%d", k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// BlockMulticast stops (or, with block false, lets through again) multicast on network k
// towards every node, for a cloud-like network where only unicast passes.
func (l *Lab) BlockMulticast(k int, block bool) error {
	v := "on"
	if block {
		v = "off"
	}
	for _, n := range l.Nodes {
		if err := bridge(l.Switch, "link", "set", "dev", n.port[k], "mcast_flood", v); err != nil {
			return err
		}
	}
	return nil
}

func bridge(ns string, args ...string) error {
	out, err := exec.Command("bridge", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("bridge %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// HasAddr reports whether the node carries addr on any interface.
func (n *Node) HasAddr(ctx context.Context, addr netip.Addr) (bool, error) {
	out, err := n.Exec(ctx, "ip", "-o", "addr", "show")
	if err != nil {
		return false, err
	}
	for _, f := range strings.Fields(string(out)) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr() == addr {
			return true, nil
		}
	}
	return false, nil
}
