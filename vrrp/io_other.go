//go:build !linux

package vrrp

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
)

// errUnsupported is what the raw-socket, netlink and AF_PACKET I/O return off Linux: the
// codec, the state machine and an Instance over injected I/O still build and run there.
var errUnsupported = errors.New("vrrp: raw VRRP sockets, netlink and AF_PACKET need Linux")

// ListenTransport is Linux-only.
func ListenTransport(context.Context, TransportConfig) (Transport, error) {
	return nil, errUnsupported
}

// PrimaryAddress is Linux-only.
func PrimaryAddress(string, bool, []netip.Prefix) (netip.Addr, error) {
	return netip.Addr{}, errUnsupported
}

// NewNetlinkOwner is Linux-only: its every call fails.
func NewNetlinkOwner(string, []VIP) Owner { return unsupportedOwner{} }

type unsupportedOwner struct{}

func (unsupportedOwner) AddVIPs() error    { return errUnsupported }
func (unsupportedOwner) RemoveVIPs() error { return errUnsupported }
func (unsupportedOwner) Announce() error   { return errUnsupported }
func (unsupportedOwner) Missing() ([]netip.Prefix, error) {
	return nil, errUnsupported
}
func (unsupportedOwner) WatchRemovals(context.Context, func()) error { return errUnsupported }
func (unsupportedOwner) Close() error                                { return nil }

// NewNetlinkLinkWatcher is Linux-only: its Watch fails at once.
func NewNetlinkLinkWatcher(*slog.Logger) LinkWatcher { return unsupportedWatcher{} }

type unsupportedWatcher struct{}

func (unsupportedWatcher) Watch(context.Context, []string, func(LinkState)) error {
	return errUnsupported
}

func openShared(context.Context, string, bool) (sharedConn, error) { return nil, errUnsupported }
