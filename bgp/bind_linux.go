package bgp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkBinder holds the service addresses on one interface. A missing interface is
// created as a dummy (no ARP, no carrier to lose, always up); a dummy interface is
// halo's and is deleted on Unbind, any other kind (lo, a NIC) only loses the addresses.
type netlinkBinder struct {
	name string
	log  *slog.Logger
}

func newNetlinkBinder(name string, logger *slog.Logger) Binder {
	return &netlinkBinder{name: name, log: logger}
}

// NewNetlinkBinder returns the binder halod uses, for `halod cleanup`.
func NewNetlinkBinder(name string, logger *slog.Logger) Binder { return newNetlinkBinder(name, logger) }

func (b *netlinkBinder) Bind(prefixes []netip.Prefix) error {
	link, err := netlink.LinkByName(b.name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		if err := addDummy(b.name); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("bgp: create dummy interface %s: %w", b.name, err)
		}
		link, err = netlink.LinkByName(b.name)
	}
	if err != nil {
		return fmt.Errorf("bgp: interface %s: %w", b.name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bgp: bring %s up: %w", b.name, err)
	}
	for _, p := range prefixes {
		a := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			// Every node holds the same address: duplicate address detection would only
			// mark it tentative where the router's ECMP is what keeps it apart.
			a.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrReplace(link, a); err != nil {
			return fmt.Errorf("bgp: add %s to %s: %w", p, b.name, err)
		}
	}
	return nil
}

func (b *netlinkBinder) Unbind(prefixes []netip.Prefix) error {
	link, err := netlink.LinkByName(b.name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bgp: interface %s: %w", b.name, err)
	}
	if link.Type() == "dummy" {
		if err := netlink.LinkDel(link); err != nil {
			return fmt.Errorf("bgp: delete %s: %w", b.name, err)
		}
		return nil
	}
	var errs []error
	for _, p := range prefixes {
		err := netlink.AddrDel(link, &netlink.Addr{IPNet: ipNet(p)})
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("bgp: remove %s from %s: %w", p, b.name, err))
		}
	}
	return errors.Join(errs...)
}

func (b *netlinkBinder) Bound(prefixes []netip.Prefix) map[netip.Prefix]bool {
	out := map[netip.Prefix]bool{}
	link, err := netlink.LinkByName(b.name)
	if err != nil {
		return out
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return out
	}
	have := map[netip.Addr]bool{}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			have[ip.Unmap()] = true
		}
	}
	for _, p := range prefixes {
		out[p] = have[p.Addr()]
	}
	return out
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
