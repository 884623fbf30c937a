package vrrp

// Owner adds, removes and announces an instance's virtual addresses. The netlink
// implementation comes from NewNetlinkOwner; tests pass a recording one.
type Owner interface {
	// AddVIPs adds every VIP to its interface; adding one already present is no error.
	AddVIPs() error
	// RemoveVIPs removes every VIP; removing one that is absent is no error, so it also
	// clears what a crashed run left behind.
	RemoveVIPs() error
	// Announce sends one gratuitous ARP (IPv4) or unsolicited neighbour advertisement
	// (IPv6) per VIP; the runner repeats it per the GARP configuration.
	Announce() error
	Close() error
}
