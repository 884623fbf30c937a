package bgplab

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
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

// Three healthy nodes: the router holds three ECMP next hops for both service
// addresses, and new client connections spread over all three.
func TestECMPAcrossThreeNodes(t *testing.T) {
	l := startAll(t, Options{})
	l.awaitHops(t, Service4, l.LBs, 30*time.Second, "three IPv4 next hops")
	l.awaitHops(t, Service6, l.LBs, 30*time.Second, "three IPv6 next hops")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	by, fails, err := l.Spread(ctx, 300)
	if err != nil {
		t.Fatal(err)
	}
	if fails > 0 {
		t.Errorf("%d of 300 connections failed", fails)
	}
	for _, lb := range l.LBs {
		if by[lb.Name] < 60 {
			t.Errorf("%s served %d of 300 connections (want >= 60): %v", lb.Name, by[lb.Name], by)
		}
	}
	t.Logf("spread over the nodes: %v", by)
}
