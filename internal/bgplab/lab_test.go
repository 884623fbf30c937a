package bgplab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
	"github.com/halo-lb/halo/internal/poll"
)

// startAll builds the lab and starts halod on every load balancer.
func startAll(t *testing.T, opt Options) *Lab {
	t.Helper()
	l := New(t, t.TempDir(), opt)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, lb := range l.LBs {
		if _, err := l.StartBackend(lb); err != nil {
			t.Fatal(err)
		}
		if err := l.StartHalod(ctx, lb); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// hops is the set of load balancers the router's FIB sends the prefix to.
func (l *Lab) hops(ctx context.Context, p netip.Prefix) ([]netip.Addr, error) {
	return l.NextHops(ctx, p)
}

func lbAddrs(lbs []*cluster.LB, v6 bool) []netip.Addr {
	var out []netip.Addr
	for _, lb := range lbs {
		out = append(out, LBAddr(lb, v6))
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// awaitHops waits until the router's FIB holds exactly the next hops of lbs for p.
func (l *Lab) awaitHops(t *testing.T, p netip.Prefix, lbs []*cluster.LB, timeout time.Duration, what string) time.Duration {
	t.Helper()
	want := lbAddrs(lbs, p.Addr().Is6())
	return poll.Until(t, timeout, what, func() error {
		got, err := l.hops(t.Context(), p)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("router FIB next hops for %s: %v, want %v", p, got, want)
		}
		return nil
	})
}

func without(lbs []*cluster.LB, drop *cluster.LB) []*cluster.LB {
	var out []*cluster.LB
	for _, lb := range lbs {
		if lb != drop {
			out = append(out, lb)
		}
	}
	return out
}

// One lab, the faults in turn (each heals before the next): three healthy nodes give the
// router three ECMP next hops for both service addresses and spread new connections; a
// killed HAProxy, a maintenance drain, a SIGKILLed halod and a cut link each take one node's
// next hop out of the router's FIB, within the bound its detection allows, and healing
// puts it back.
func TestBGPLab(t *testing.T) {
	l := startAll(t, Options{})
	all := l.LBs
	awaitAll := func(t *testing.T, what string) {
		t.Helper()
		l.awaitHops(t, Service4, all, 30*time.Second, what+" (IPv4)")
		l.awaitHops(t, Service6, all, 30*time.Second, what+" (IPv6)")
	}
	awaitAll(t, "three next hops")
	// Both ends run BFD: halod (GoBGP's BFD) and the router (bfdd).
	for _, lb := range all {
		poll.Until(t, 10*time.Second, lb.Name+"'s BFD sessions up", func() error {
			st, err := lb.Status(t.Context())
			if err != nil {
				return err
			}
			for _, n := range st.BGP.Neighbors {
				if n.BFD != "up" {
					return fmt.Errorf("neighbour %s: BFD %s", n.Address, n.BFD)
				}
			}
			for _, n := range st.BGP.Neighbors {
				// BFD coming up must not cost a session flap (bgp.bfdArmDelay).
				if n.Flaps != 0 {
					t.Errorf("%s: neighbour %s flapped %d times while starting", lb.Name, n.Address, n.Flaps)
				}
			}
			return nil
		})
	}
	poll.Until(t, 10*time.Second, "the router's BFD peers up", func() error {
		out, err := l.Vtysh(t.Context(), "show bfd peers brief")
		if err != nil {
			return err
		}
		if n := strings.Count(out, " up "); n != 2*len(all) {
			return fmt.Errorf("%d sessions up, want %d:\n%s", n, 2*len(all), out)
		}
		return nil
	})

	t.Run("status", func(t *testing.T) {
		lb := all[0]
		for _, a := range []netip.Prefix{Service4, Service6} {
			if ok, err := lb.Node.HasAddr(t.Context(), a.Addr()); err != nil || !ok {
				t.Errorf("%s not bound on %s: %v", a, lb.Name, err)
			}
		}
		out, err := lb.Node.Exec(t.Context(), filepath.Join(l.Bin, "haloctl"), "-socket", lb.Socket, "status")
		if err != nil {
			t.Errorf("haloctl status exits non-zero on a node with every session up: %v\n%s", err, out)
		}
		for _, want := range []string{"neighbor 192.0.2.14", "neighbor 2001:db8::14", "ESTABLISHED", "bfd up",
			"prefix 203.0.113.10/32", "prefix 2001:db8:ff::10/128", "ANNOUNCED"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("haloctl status lacks %q:\n%s", want, out)
			}
		}
		t.Logf("haloctl status:\n%s", out)
	})

	t.Run("spread", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		by, fails, err := l.Spread(ctx, 300)
		if err != nil {
			t.Fatal(err)
		}
		if fails > 0 {
			t.Errorf("%d of 300 connections failed", fails)
		}
		for _, lb := range all {
			if by[lb.Name] < 60 {
				t.Errorf("%s served %d of 300 connections (want >= 60): %v", lb.Name, by[lb.Name], by)
			}
		}
		t.Logf("300 new connections: %v", by)
	})

	t.Run("haproxy-sigkill", func(t *testing.T) {
		lb := all[0]
		master, workers, err := lb.HAProxyPIDs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range append([]int{master}, workers...) {
			if err := syscall.Kill(p, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Fatal(err)
			}
		}
		took := l.awaitHops(t, Service4, without(all, lb), 5*time.Second, "lb1's next hop gone after HAProxy's SIGKILL")
		t.Logf("HAProxy SIGKILL to next hop out of the FIB: %s (at most, polled)", took)
		awaitAll(t, "lb1 back once halod restarted HAProxy")
	})

	t.Run("maintenance-drain", func(t *testing.T) {
		lb := all[1]
		if resp, err := lb.Ctl(t.Context(), "maintenance", "on"); err != nil || !resp.OK {
			t.Fatalf("maintenance on: %v %s", err, resp.Error)
		}
		start := time.Now()
		poll.Until(t, 5*time.Second, "GRACEFUL_SHUTDOWN on lb2's path at the router", func() error {
			return l.pathCommunity(t.Context(), Service4, LBAddr(lb, false), "graceful-shutdown")
		})
		// The router prefers the other paths at once (LOCAL_PREF 0 on receipt, RFC 8326):
		// lb2 leaves the FIB during the drain, while its route is still there.
		l.awaitHops(t, Service4, without(all, lb), 5*time.Second, "lb2 out of the FIB while draining")
		if err := l.pathCommunity(t.Context(), Service4, LBAddr(lb, false), "graceful-shutdown"); err != nil {
			t.Errorf("lb2's route withdrawn before the drain ended (%s after maintenance on): %v", time.Since(start), err)
		}
		poll.Until(t, 10*time.Second, "lb2's route withdrawn after the drain", func() error {
			if err := l.pathCommunity(t.Context(), Service4, LBAddr(lb, false), ""); err == nil {
				return fmt.Errorf("still there")
			}
			return nil
		})
		if d := time.Since(start); d < 2*time.Second {
			t.Errorf("withdrawn %s after maintenance on, before the 2s drain", d)
		}
		if resp, err := lb.Ctl(t.Context(), "maintenance", "off"); err != nil || !resp.OK {
			t.Fatalf("maintenance off: %v %s", err, resp.Error)
		}
		awaitAll(t, "lb2 back after maintenance off")
	})

	t.Run("degraded", func(t *testing.T) {
		lb := all[2]
		be := l.Backend(lb)
		if be == nil {
			t.Fatal("no backend on lb3")
		}
		be.Stop(5 * time.Second)
		// Still announced (MED 1000), but FRR prefers the two healthy nodes.
		l.awaitHops(t, Service4, without(all, lb), 10*time.Second, "lb3 out of the ECMP set while degraded")
		if err := l.pathCommunity(t.Context(), Service4, LBAddr(lb, false), ""); err != nil {
			t.Errorf("lb3's route withdrawn while degraded: %v", err)
		}
		if _, err := l.StartBackend(lb); err != nil {
			t.Fatal(err)
		}
		awaitAll(t, "lb3 back once its backend is up")
	})

	t.Run("halod-sigkill", func(t *testing.T) {
		lb := all[2]
		if err := lb.Halod.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		took := l.awaitHops(t, Service4, without(all, lb), 3*time.Second, "lb3's next hop gone after halod's SIGKILL (BFD)")
		// The kernel closes the dead halod's TCP session, so the router usually knows
		// before BFD's 150 ms; BFD is what catches a node that dies without a FIN.
		t.Logf("halod SIGKILL to next hop out of the FIB: %s", took)
		l.awaitHops(t, Service6, without(all, lb), 3*time.Second, "lb3's IPv6 next hop gone")
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := l.StartHalod(ctx, lb); err != nil {
			t.Fatal(err)
		}
		awaitAll(t, "lb3 back after halod restarted")
	})

	t.Run("engine-sigkill", func(t *testing.T) {
		// halo-bgp dies alone: the kernel closes its sessions, the router takes the node
		// out at once, and halod starts a new engine that announces again.
		lb := all[2]
		pid, err := EnginePID(lb)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		took := l.awaitHops(t, Service4, without(all, lb), 3*time.Second, "lb3's next hop gone after halo-bgp's SIGKILL")
		t.Logf("halo-bgp SIGKILL to next hop out of the FIB: %s", took)
		awaitAll(t, "lb3 back once halod restarted halo-bgp")
		if again, err := EnginePID(lb); err != nil || again == pid {
			t.Errorf("halo-bgp after the restart: pid %d (was %d), %v", again, pid, err)
		}
		st, err := lb.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.BGP.EngineFailures != 1 {
			t.Errorf("engine failures %d, want 1", st.BGP.EngineFailures)
		}
	})

	t.Run("link-cut", func(t *testing.T) {
		lb := all[0]
		if err := l.Net.LinkDown(lb.Node, 0); err != nil {
			t.Fatal(err)
		}
		took := l.awaitHops(t, Service4, without(all, lb), 3*time.Second, "lb1's next hop gone after its link was cut (BFD)")
		t.Logf("link cut to next hop out of the FIB: %s (BFD 50ms x 3)", took)
		if err := l.Net.LinkUp(lb.Node, 0); err != nil {
			t.Fatal(err)
		}
		awaitAll(t, "lb1 back after the link healed")
	})

	t.Run("clean-stop", func(t *testing.T) {
		lb := all[1]
		stopped := make(chan struct{})
		go func() { lb.Halod.Stop(30 * time.Second); close(stopped) }()
		poll.Until(t, 5*time.Second, "GRACEFUL_SHUTDOWN on lb2's path as halod stops", func() error {
			return l.pathCommunity(t.Context(), Service4, LBAddr(lb, false), "graceful-shutdown")
		})
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Fatal("halod did not stop within 30 s of SIGTERM")
		}
		// halod withdrew before it exited; the router applies the update a moment later.
		poll.Until(t, 2*time.Second, "lb2's route gone from the router after halod stopped", func() error {
			if err := l.pathCommunity(t.Context(), Service4, LBAddr(lb, false), ""); err == nil {
				return errors.New("still there")
			}
			return nil
		})
		l.awaitHops(t, Service4, without(all, lb), 5*time.Second, "lb2 out of the FIB after its stop")
		for _, a := range []netip.Prefix{Service4, Service6} {
			if ok, err := lb.Node.HasAddr(t.Context(), a.Addr()); err != nil || ok {
				t.Errorf("%s still bound on %s after a clean stop (err %v)", a, lb.Name, err)
			}
		}
	})
}
