package vrrp

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkOwner is the Owner over rtnetlink and AF_PACKET.
type netlinkOwner struct {
	vips  []VIP
	iface string

	mu    sync.Mutex
	conns map[string]*announcer // by interface name, opened on first use
}

type announcer struct {
	ifi  *net.Interface
	conn *packet.Conn
}

var _ Owner = (*netlinkOwner)(nil)

// NewNetlinkOwner returns the Owner of vips; a VIP without Dev goes to iface. Nothing is
// opened until the first call.
func NewNetlinkOwner(iface string, vips []VIP) Owner {
	return &netlinkOwner{vips: vips, iface: iface, conns: map[string]*announcer{}}
}

func (o *netlinkOwner) dev(v VIP) string {
	if v.Dev != "" {
		return v.Dev
	}
	return o.iface
}

func (o *netlinkOwner) addr(v VIP) *netlink.Addr {
	a := &netlink.Addr{
		IPNet: &net.IPNet{IP: v.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(v.Prefix.Bits(), v.Prefix.Addr().BitLen())},
		Label: v.Label,
	}
	if v.Prefix.Addr().Is6() {
		// Without NODAD the address sits tentative for the DAD time and cannot be used
		// (keepalived issue #565).
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

func (o *netlinkOwner) AddVIPs() error {
	var errs []error
	for _, v := range o.vips {
		link, err := netlink.LinkByName(o.dev(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp: add %s: %w", v.Prefix, err))
			continue
		}
		if err := netlink.AddrReplace(link, o.addr(v)); err != nil {
			errs = append(errs, fmt.Errorf("vrrp: add %s to %s: %w", v.Prefix, o.dev(v), err))
		}
	}
	return errors.Join(errs...)
}

func (o *netlinkOwner) RemoveVIPs() error {
	var errs []error
	for _, v := range o.vips {
		link, err := netlink.LinkByName(o.dev(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp: remove %s: %w", v.Prefix, err))
			continue
		}
		err = netlink.AddrDel(link, o.addr(v))
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("vrrp: remove %s from %s: %w", v.Prefix, o.dev(v), err))
		}
	}
	return errors.Join(errs...)
}

func (o *netlinkOwner) Announce() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for _, v := range o.vips {
		a, err := o.announcer(o.dev(v))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var frame []byte
		var to net.HardwareAddr
		if v.Prefix.Addr().Is6() {
			frame, to = unsolicitedNA(a.ifi.HardwareAddr, v.Prefix.Addr()), net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
		} else {
			frame, to = gratuitousARP(a.ifi.HardwareAddr, v.Prefix.Addr()), broadcastMAC()
		}
		if _, err := a.conn.WriteTo(frame, &packet.Addr{HardwareAddr: to}); err != nil {
			errs = append(errs, fmt.Errorf("vrrp: announce %s on %s: %w", v.Prefix, a.ifi.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (o *netlinkOwner) announcer(dev string) (*announcer, error) {
	if a, ok := o.conns[dev]; ok {
		return a, nil
	}
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, fmt.Errorf("vrrp: announce on %s: %w", dev, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("vrrp: announce on %s: not an Ethernet interface", dev)
	}
	// Protocol 0: the socket sends frames and receives none, so no queue fills up.
	c, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("vrrp: announce on %s: %w", dev, err)
	}
	a := &announcer{ifi: ifi, conn: c}
	o.conns[dev] = a
	return a, nil
}

func (o *netlinkOwner) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for dev, a := range o.conns {
		errs = append(errs, a.conn.Close())
		delete(o.conns, dev)
	}
	return errors.Join(errs...)
}
