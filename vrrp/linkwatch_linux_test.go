package vrrp

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestFlagsUp(t *testing.T) {
	for _, tc := range []struct {
		flags uint32
		up    bool
	}{
		{unix.IFF_UP | unix.IFF_RUNNING | unix.IFF_BROADCAST, true},
		{unix.IFF_UP, false},      // no carrier: the cable was pulled
		{unix.IFF_RUNNING, false}, // administratively down
		{0, false},
	} {
		if got := flagsUp(tc.flags); got != tc.up {
			t.Errorf("flagsUp(%#x) = %v, want %v", tc.flags, got, tc.up)
		}
	}
}
