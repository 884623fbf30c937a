package vrrp_test

import (
	"net/netip"
	"testing"
	"time"
)

// TestLabVIPDeletedRestored: `ip addr del` of the VIP on the master (what ifdown, a
// networkd restart or netplan apply also do). The master puts it back and announces it
// within one advert interval; the backup never takes it.
func TestLabVIPDeletedRestored(t *testing.T) {
	l := newLab(t, 3)
	n1, n2, client := l.Nodes[0], l.Nodes[1], l.Nodes[2]
	vip := netip.MustParseAddr("192.0.2.100")
	l.halo(n1, instance("VI_1", 51, 3, 150, "1s", "vips: [192.0.2.100/24]"))
	l.halo(n2, instance("VI_1", 51, 3, 100, "1s", "vips: [192.0.2.100/24]"))
	l.waitHolder(10*time.Second, vip, n1, n1, n2)
	for range 3 {
		if out, err := n1.Exec(t.Context(), "ip", "addr", "del", "192.0.2.100/24", "dev", "eth0"); err != nil {
			t.Fatalf("ip addr del: %v: %s", err, out)
		}
		d := l.waitHolder(time.Second, vip, n1, n1, n2)
		t.Logf("VIP back on the master %s after it was deleted", d.Round(time.Millisecond))
		// Announced again: the client's neighbour entry names the master.
		if _, err := client.Exec(t.Context(), "ip", "neigh", "flush", "dev", "eth0"); err != nil {
			t.Fatal(err)
		}
		if out, err := client.Exec(t.Context(), "ping", "-c", "1", "-W", "1", vip.String()); err != nil {
			t.Fatalf("the client cannot reach the VIP after the restore: %v: %s", err, out)
		}
		l.arpPointsTo(client, vip, n1)
	}
	l.stays(2*time.Second, vip, n1, n1, n2)
}
