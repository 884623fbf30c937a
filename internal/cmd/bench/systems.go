package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
	"github.com/halo-lb/halo/internal/netlab"
)

// The two kinds of pair the failover table compares.

// classicSys is keepalived + HAProxy on each node, each node in its own PID namespace.
type classicSys struct {
	c   *cluster.Classic
	p   *cluster.Poller
	st  setup
	cfg config
}

var _ system = (*classicSys)(nil)

func startClassic(ctx context.Context, sc *scope, cfg config, dir string, st setup) (*classicSys, error) {
	opt := st.classic
	opt.Bin = cfg.bin
	c := cluster.NewClassic(sc, dir, opt)
	if err := clientSysctls(ctx, c.Client); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Start(sctx); err != nil {
		return nil, err
	}
	s := &classicSys{c: c, st: st, cfg: cfg}
	if err := waitSteady(ctx, s, 60*time.Second); err != nil {
		return nil, fmt.Errorf("classic pair: %w", err)
	}
	return s, nil
}

// clientSysctls lets the client open connections at a high rate (close-mode load) without
// running out of ephemeral ports, which would count as failures that no reload caused.
func clientSysctls(ctx context.Context, n *netlab.Node) error {
	for _, kv := range []string{"net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1"} {
		if _, err := n.Exec(ctx, "sysctl", "-qw", kv); err != nil {
			return err
		}
	}
	return nil
}

func (s *classicSys) lab() *netlab.Lab        { return s.c.Lab }
func (s *classicSys) node(i int) *netlab.Node { return s.c.LBs[i].Node }
func (s *classicSys) name(i int) string       { return s.c.LBs[i].Name }
func (s *classicSys) poller() *cluster.Poller { return s.p }
func (s *classicSys) settle() time.Duration   { return settleFor(s.st.classic.AdvertInt) }
func settleFor(advertSeconds float64) time.Duration {
	if advertSeconds >= 1 {
		return 2 * time.Second
	}
	return time.Second
}

func (s *classicSys) startPoller(d time.Duration) error {
	p, err := s.c.StartPoller(pollEvery, pollTimeout, d)
	s.p = p
	return err
}

func (s *classicSys) haproxyPIDs(_ context.Context, i int) (int, []int, error) {
	return s.c.LBs[i].HAProxyPIDs()
}

func (s *classicSys) daemonPIDs(_ context.Context, i int) (int, []int, error) {
	parent, all := s.c.LBs[i].KeepalivedPIDs()
	if parent == 0 {
		return 0, nil, errors.New("keepalived not running")
	}
	return parent, all, nil
}

func (s *classicSys) haproxyKilled(ctx context.Context, i int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return s.c.LBs[i].StartHAProxy(ctx)
}

func (s *classicSys) daemonEnded(ctx context.Context, i int, _ []int, _ bool) error {
	lb := s.c.LBs[i]
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := lb.Keepalived.Wait(wctx); err != nil && wctx.Err() != nil {
		return fmt.Errorf("keepalived on %s did not end: %w", lb.Name, err)
	}
	// Once in a few dozen restarts keepalived's parent ran without its VRRP child for
	// longer than a restore may take; then it is killed (by its PIDs) and started again.
	var err error
	for try := 1; try <= 2; try++ {
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = lb.StartKeepalived(tctx)
		cancel()
		if err == nil {
			return nil
		}
		logf("%s: keepalived on %s did not come back (try %d): %v; its log ends:\n%s", s.st.key, lb.Name, try, err,
			lastLines(lb.KeepalivedLog(), 20))
		_, all := lb.KeepalivedPIDs()
		for _, p := range all {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if err := waitGone(ctx, all, 5*time.Second); err != nil {
			return err
		}
	}
	return err
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (s *classicSys) steady(ctx context.Context) error {
	lb1, lb2 := s.c.LBs[0], s.c.LBs[1]
	if st := lb1.State(); st != "MASTER" {
		return fmt.Errorf("lb1 is %q", st)
	}
	if st := lb2.State(); st != "BACKUP" {
		return fmt.Errorf("lb2 is %q", st)
	}
	if !lb1.CheckOK() || !lb2.CheckOK() {
		return errors.New("a check script is failing")
	}
	h, err := s.c.Holder(ctx)
	if err != nil {
		return err
	}
	if h != lb1 {
		return fmt.Errorf("VIP held by %v", h)
	}
	return nil
}

// haloSys is halod on each node, running HAProxy.
type haloSys struct {
	c   *cluster.Cluster
	p   *cluster.Poller
	st  setup
	cfg config
	// kills counts halod SIGKILL rounds, orphans those after which its HAProxy still ran.
	kills, orphans int
}

var _ system = (*haloSys)(nil)

func startHalo(ctx context.Context, sc *scope, cfg config, dir string, st setup) (*haloSys, error) {
	c := cluster.New(sc, dir, cluster.Options{Bin: cfg.bin, AdvertInterval: st.advert, HAProxyExtra: st.haproxyExtra})
	if err := clientSysctls(ctx, c.Client); err != nil {
		return nil, err
	}
	for _, lb := range c.LBs {
		if err := infoLogging(lb.Config); err != nil {
			return nil, err
		}
	}
	for _, lb := range c.LBs {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.StartHalod(sctx, lb)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	s := &haloSys{c: c, st: st, cfg: cfg}
	if err := waitSteady(ctx, s, 60*time.Second); err != nil {
		return nil, fmt.Errorf("halo pair: %w", err)
	}
	return s, nil
}

// infoLogging runs halod at the log level an operator would (the lab's halo.yaml asks for
// debug), so that the footprint is not a debug log's.
func infoLogging(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(strings.Replace(string(b), "log: {level: debug}", "log: {level: info}", 1)), 0o644)
}

func (s *haloSys) lab() *netlab.Lab        { return s.c.Lab }
func (s *haloSys) node(i int) *netlab.Node { return s.c.LBs[i].Node }
func (s *haloSys) name(i int) string       { return s.c.LBs[i].Name }
func (s *haloSys) poller() *cluster.Poller { return s.p }
func (s *haloSys) settle() time.Duration   { return settleFor(s.st.advert.Seconds()) }

func (s *haloSys) startPoller(d time.Duration) error {
	p, err := s.c.StartPoller(pollEvery, pollTimeout, d)
	s.p = p
	return err
}

func (s *haloSys) haproxyPIDs(ctx context.Context, i int) (int, []int, error) {
	return s.c.LBs[i].HAProxyPIDs(ctx)
}

func (s *haloSys) daemonPIDs(_ context.Context, i int) (int, []int, error) {
	p := s.c.LBs[i].Halod
	if p == nil {
		return 0, nil, errors.New("halod not started")
	}
	return p.PID, []int{p.PID}, nil
}

// haproxyKilled does nothing: halod restarts HAProxy itself.
func (s *haloSys) haproxyKilled(context.Context, int) error { return nil }

func (s *haloSys) daemonEnded(ctx context.Context, i int, haproxy []int, killed bool) error {
	lb := s.c.LBs[i]
	if killed {
		s.kills++
		if slices.ContainsFunc(haproxy, func(p int) bool { return alive(p) && comm(p) == "haproxy" }) {
			s.orphans++
		}
	}
	// What halod left behind (an orphaned HAProxy after SIGKILL) is ended by the PIDs
	// recorded before the fault, then halod starts cleanly.
	var left []int
	for _, p := range haproxy {
		if alive(p) && comm(p) == "haproxy" {
			_ = syscall.Kill(p, syscall.SIGKILL)
			left = append(left, p)
		}
	}
	if err := waitGone(ctx, left, 5*time.Second); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return s.c.StartHalod(ctx, lb)
}

func (s *haloSys) steady(ctx context.Context) error {
	lb1, lb2 := s.c.LBs[0], s.c.LBs[1]
	st1, err := lb1.Status(ctx)
	if err != nil {
		return fmt.Errorf("lb1: %w", err)
	}
	st2, err := lb2.Status(ctx)
	if err != nil {
		return fmt.Errorf("lb2: %w", err)
	}
	if !st1.HAProxy.Healthy {
		return fmt.Errorf("lb1 HAProxy unhealthy: %s", st1.HAProxy.Reason)
	}
	if len(st1.Instances) == 0 || st1.Instances[0].State != "MASTER" || !st1.Instances[0].HoldsVIPs {
		return fmt.Errorf("lb1 not MASTER holding the VIP: %+v", st1.Instances)
	}
	if len(st2.Instances) == 0 || st2.Instances[0].State != "BACKUP" {
		return fmt.Errorf("lb2 not BACKUP: %+v", st2.Instances)
	}
	h, err := s.c.Holder(ctx)
	if err != nil {
		return err
	}
	if h != lb1 {
		return fmt.Errorf("VIP held by %v", h)
	}
	return nil
}
