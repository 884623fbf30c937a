package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Missing lists the VIPs absent from their interface (an interface that is gone holds
// none).
func (o *netlinkOwner) Missing() ([]netip.Prefix, error) {
	var missing []netip.Prefix
	have := map[string][]netlink.Addr{}
	for _, v := range o.vips {
		dev := o.dev(v)
		addrs, ok := have[dev]
		if !ok {
			link, err := netlink.LinkByName(dev)
			if err != nil {
				missing = append(missing, v.Prefix)
				continue
			}
			family := unix.AF_INET
			if v.Prefix.Addr().Is6() {
				family = unix.AF_INET6
			}
			if addrs, err = netlink.AddrList(link, family); err != nil {
				return nil, fmt.Errorf("vrrp: list addresses of %s: %w", dev, err)
			}
			have[dev] = addrs
		}
		if !slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return ipEqual(a.IP, v.Prefix.Addr()) }) {
			missing = append(missing, v.Prefix)
		}
	}
	return missing, nil
}

func ipEqual(ip net.IP, a netip.Addr) bool {
	b, ok := netip.AddrFromSlice(ip)
	return ok && b.Unmap() == a.Unmap()
}

// WatchRemovals subscribes to the kernel's address notifications (RTNLGRP_IPV4_IFADDR,
// RTNLGRP_IPV6_IFADDR) and reports the deletion of any VIP; keepalived notices the same
// way. When the subscription fails (its buffer overflowed, say) it subscribes again and
// reports a possible removal, since one may have been missed.
func (o *netlinkOwner) WatchRemovals(ctx context.Context, removed func()) error {
	// Nothing to log that the caller could act on: the resubscription heals it, and the
	// removal it may have missed is reported.
	return keepSubscribed(ctx, slog.New(slog.DiscardHandler), "address", func(resubscribed bool) error {
		return o.watchOnce(ctx, removed, resubscribed)
	})
}

func (o *netlinkOwner) watchOnce(ctx context.Context, removed func(), resubscribed bool) error {
	ch := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	errc := make(chan error, 1)
	err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	})
	if err != nil {
		return fmt.Errorf("vrrp: subscribe to address changes: %w", err)
	}
	defer func() {
		close(done)
		for range ch { // the subscription's goroutine closes ch once it has stopped
		}
	}()
	if resubscribed {
		removed() // whatever happened while unsubscribed is checked now
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-ch:
			if !ok {
				select {
				case err := <-errc:
					return err
				default:
					return errors.New("vrrp: address subscription closed")
				}
			}
			if u.NewAddr {
				continue
			}
			if slices.ContainsFunc(o.vips, func(v VIP) bool { return ipEqual(u.LinkAddress.IP, v.Prefix.Addr()) }) {
				removed()
			}
		}
	}
}
