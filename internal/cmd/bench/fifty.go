package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
)

// The 50-instance footprint: halod, then keepalived, each running the same 50 VRRPv3
// instances at 100 ms adverts on both nodes of a lab (lb1 master of all 50, lb2 backup of
// all 50), each tracking its node's HAProxy, measured over the same idle window.

// fifty is the number of instances.
const fifty = 50

// fiftyClassic is keepalived's side: VRRPv3 (`vrrp_version 3`), advert_int 0.1, and one
// `killall -0 haproxy` script at keepalived 2.2.7's shortest interval (1 s, fall 1, rise 1),
// unweighted so that a failed check means FAULT, tracked by all 50 instances: what halod's
// `track_haproxy: {fault: true}` does, as close as keepalived gets (halod checks every
// 200 ms, five times as often).
func fiftyClassic() cluster.ClassicOptions {
	opt := cluster.TunedClassic(0)
	opt.Instances = fifty
	return opt
}

// fiftyTracking says in the report what each side tracks.
const fiftyTracking = "both sides track their node's HAProxy and resign (FAULT) when it fails: halod with `track_haproxy: {fault: true}` " +
	"on every instance (one runtime-API check every 200 ms, its default), keepalived with one unweighted `vrrp_script` " +
	"(`killall -0 haproxy`, interval 1 fall 1 rise 1: the shortest interval keepalived 2.2.7 accepts) tracked by every instance"

// idle50 runs halod with 50 instances at 100 ms adverts on both nodes and measures both.
func idle50(ctx context.Context, sc *scope, cfg config, rep *report) error {
	dir, err := os.MkdirTemp("", "halo-bench-halo-50-")
	if err != nil {
		return err
	}
	sc.Cleanup(func() { os.RemoveAll(dir) })
	c := cluster.New(sc, dir, cluster.Options{Bin: cfg.bin, AdvertInterval: 100 * time.Millisecond})
	for _, lb := range c.LBs {
		if err := fiftyInstances(lb); err != nil {
			return err
		}
	}
	for _, lb := range c.LBs {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.StartHalod(sctx, lb)
		cancel()
		if err != nil {
			return err
		}
	}
	ins, err := cluster.Instances(fifty)
	if err != nil {
		return err
	}
	err = waitFifty(ctx, 60*time.Second, func() error {
		for i, lb := range c.LBs {
			st, err := lb.Status(ctx)
			if err != nil {
				return err
			}
			states := map[string]string{}
			for _, in := range st.Instances {
				states[in.Name] = in.State
			}
			if err := allIn(lb.Name, states, ins, roleState(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := sleep(ctx, cfg.calm); err != nil {
		return err
	}
	r, err := measureIdle(ctx, "halod with 50 instances at 100 ms adverts: lb1 (master of all 50) and lb2 (backup of all 50)",
		[]procRef{{"lb1", "halod lb1 (master)", c.LBs[0].Halod.PID}, {"lb2", "halod lb2 (backup)", c.LBs[1].Halod.PID}}, cfg.idle)
	if err != nil {
		return err
	}
	rep.idle50 = r
	return nil
}

// keepalived50 runs keepalived with the same 50 instances on both nodes of a classic lab
// (each node in its own PID namespace, HAProxy beside it) and measures both whole nodes:
// keepalived's parent and VRRP child, and the check scripts the child runs and reaps.
func keepalived50(ctx context.Context, sc *scope, cfg config, rep *report) error {
	dir, err := os.MkdirTemp("", "halo-bench-keepalived-50-")
	if err != nil {
		return err
	}
	sc.Cleanup(func() { os.RemoveAll(dir) })
	opt := fiftyClassic()
	opt.Bin = cfg.bin
	c := cluster.NewClassic(sc, dir, opt)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = c.Start(sctx)
	cancel()
	if err != nil {
		return err
	}
	ins, err := cluster.Instances(fifty)
	if err != nil {
		return err
	}
	vips := make([]netip.Addr, len(ins))
	for i, in := range ins {
		vips[i] = in.VIP
	}
	err = waitFifty(ctx, 60*time.Second, func() error {
		for i, lb := range c.LBs {
			if err := allIn(lb.Name, lb.States(), ins, roleState(i)); err != nil {
				return err
			}
			held, err := lb.HeldVIPs(ctx, vips)
			if err != nil {
				return err
			}
			if want := map[bool]int{true: len(vips), false: 0}[i == 0]; len(held) != want {
				return fmt.Errorf("%s holds %d of the %d VIPs, want %d", lb.Name, len(held), len(vips), want)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := sleep(ctx, cfg.calm); err != nil {
		return err
	}
	var procs []procRef
	for i, lb := range c.LBs {
		p, err := keepalivedNode(lb, lb.Name+" "+strings.ToLower(roleState(i)))
		if err != nil {
			return err
		}
		procs = append(procs, p...)
	}
	r, err := measureIdle(ctx, "keepalived with the same 50 instances (VRRPv3, advert_int 0.1): lb1 (master of all 50) and lb2 (backup of all 50)",
		procs, cfg.idle)
	if err != nil {
		return err
	}
	rep.ka50 = r
	return nil
}

// roleState is the state node i settles in: lb1 MASTER, every other BACKUP.
func roleState(i int) string {
	if i == 0 {
		return "MASTER"
	}
	return "BACKUP"
}

// allIn says why not every instance of ins is in state want on node (nil when all are).
func allIn(node string, states map[string]string, ins []cluster.Instance, want string) error {
	var off []string
	for _, in := range ins {
		if st := states[in.Name]; st != want {
			off = append(off, fmt.Sprintf("%s %s", in.Name, orDash(st)))
		}
	}
	if len(off) == 0 {
		return nil
	}
	if len(off) > 3 {
		off = append(off[:3], "…")
	}
	return fmt.Errorf("%s: %d of %d instances not %s (%s)", node, len(off), len(ins), want, strings.Join(off, ", "))
}

// waitFifty polls settled every 100 ms until it returns nil, for at most d.
func waitFifty(ctx context.Context, d time.Duration, settled func() error) error {
	deadline := time.Now().Add(d)
	for {
		why := settled()
		if why == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d instances not settled within %s: %w", fifty, d, why)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// fiftyInstances rewrites lb's halo.yaml with the 50 instances (at info log level).
func fiftyInstances(lb *cluster.LB) error {
	b, err := os.ReadFile(lb.Config)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, "\nvrrp:\n"), strings.Index(s, "\ncontrol:")
	if i < 0 || j < i {
		return fmt.Errorf("%s: no vrrp section to replace", lb.Config)
	}
	v, err := fiftyVRRP(lb.Priority)
	if err != nil {
		return err
	}
	s = s[:i] + "\n" + v + s[j:]
	s = strings.Replace(s, "log: {level: debug}", "log: {level: info}", 1)
	return os.WriteFile(lb.Config, []byte(s), 0o644)
}

// fiftyVRRP is halo.yaml's vrrp section with the 50 instances of cluster.Instances, the
// ones keepalived's side gets: VRRPv3, 100 ms adverts, on eth0, at priority.
func fiftyVRRP(priority int) (string, error) {
	ins, err := cluster.Instances(fifty)
	if err != nil {
		return "", err
	}
	if priority < 1 || priority > 255 {
		return "", errors.New("priority not in 1..255")
	}
	var v strings.Builder
	v.WriteString("vrrp:\n  instances:\n")
	for _, in := range ins {
		fmt.Fprintf(&v, "    - {name: %s, interface: eth0, vrid: %d, version: 3, priority: %d, advert_interval: 100ms, vips: [%s/24], track_haproxy: {fault: true}}\n",
			in.Name, in.VRID, priority, in.VIP)
	}
	return v.String(), nil
}
