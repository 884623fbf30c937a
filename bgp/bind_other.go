//go:build !linux

package bgp

import (
	"errors"
	"log/slog"
	"net/netip"
)

var errUnsupported = errors.New("bgp: service addresses are bound only on Linux")

type noBinder struct{}

func newNetlinkBinder(string, *slog.Logger) Binder { return noBinder{} }

// NewNetlinkBinder returns the binder halod uses, for `halod cleanup`.
func NewNetlinkBinder(name string, logger *slog.Logger) Binder { return noBinder{} }

func (noBinder) Bind([]netip.Prefix) error   { return errUnsupported }
func (noBinder) Unbind([]netip.Prefix) error { return errUnsupported }
func (noBinder) Bound(p []netip.Prefix) map[netip.Prefix]bool {
	return map[netip.Prefix]bool{}
}
