package vrrp_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestLabTrackInterfaceWeight: a weighted tracked link, taken down for real, lowers the
// priority instead of faulting: the peer preempts, the node stays BACKUP (no FAULT), and
// takes the VIP back when the link returns (keepalived's "track_interface { eth1 weight
// -60 }").
func TestLabTrackInterfaceWeight(t *testing.T) {
	l := newLabNets(t, 2, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("192.0.2.100")
	p1 := l.halo(n1, instance("VI_1", 51, 3, 150, "100ms", "vips: [192.0.2.100/24]", "track_interfaces: [{name: eth1, weight: -60}]"))
	l.halo(n2, instance("VI_1", 51, 3, 100, "100ms", "vips: [192.0.2.100/24]"))
	l.waitHolder(10*time.Second, vip, n1, n1, n2)

	if err := l.LinkDown(n1, 1); err != nil {
		t.Fatal(err)
	}
	took := l.waitHolder(5*time.Second, vip, n2, n1, n2)
	t.Logf("n1's eth1 down: n2 holds the VIP after %v", took)
	if err := l.LinkUp(n1, 1); err != nil {
		t.Fatal(err)
	}
	l.waitHolder(10*time.Second, vip, n1, n1, n2)
	out := p1.Output()
	if strings.Contains(out, "Entering FAULT STATE") {
		t.Errorf("n1 entered FAULT for a weighted link:\n%s", out)
	}
	if !strings.Contains(out, "from=150 to=90") {
		t.Errorf("n1 never logged its priority falling from 150 to 90:\n%s", out)
	}
}
