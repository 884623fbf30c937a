package vrrp

import (
	"context"
	"net/netip"
)

// Owner adds, removes and announces an instance's virtual addresses. The netlink
// implementation comes from NewNetlinkOwner; tests pass a recording one.
type Owner interface {
	// AddVIPs adds every VIP to its interface; adding one already present is no error.
	AddVIPs() error
	// RemoveVIPs removes every VIP; removing one that is absent is no error, so it also
	// clears what a crashed run left behind.
	RemoveVIPs() error
	// Missing returns the VIPs that are not on their interface now.
	Missing() ([]netip.Prefix, error)
	// WatchRemovals calls removed whenever one of the VIPs may have left its interface
	// behind the owner's back (an operator's `ip addr del`, ifdown, a network manager
	// that rewrote the addresses; also when the kernel's notifications were lost), until
	// ctx ends. removed must not block.
	WatchRemovals(ctx context.Context, removed func()) error
	// Announce sends one gratuitous ARP (IPv4) or unsolicited neighbour advertisement
	// (IPv6) per VIP; the runner repeats it per the GARP configuration.
	Announce() error
	Close() error
}
