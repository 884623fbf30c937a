package vrrp

import (
	"errors"
	"slices"
	"testing"
)

// TestInvalidReasonsComplete: every label accept and the codec's mapping can produce is in
// InvalidReasons, so none appears in a scrape only after its first packet.
func TestInvalidReasonsComplete(t *testing.T) {
	all := InvalidReasons()
	for r := range invalidLabels {
		if !slices.Contains(all, r) {
			t.Errorf("accept may return %q, missing from InvalidReasons", r)
		}
	}
	for _, err := range []error{ErrTooShort, ErrChecksum, ErrVersion, ErrType, ErrLength,
		ErrInterval, ErrAddressFamily, ErrVRID, errors.New("unknown")} {
		if r := invalidReason(err); !slices.Contains(all, r) {
			t.Errorf("invalidReason(%v) = %q, missing from InvalidReasons", err, r)
		}
	}
}

// TestNewInstanceCountsEveryReasonAtZero: a fresh instance's snapshot carries every
// reason, each at 0.
func TestNewInstanceCountsEveryReasonAtZero(t *testing.T) {
	in, err := NewInstance(InstanceConfig{Name: "VI_1", Interface: "eth0", VRID: 51,
		VIPs: []VIP{{Prefix: wanVIP}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := in.Snapshot().Counters.Invalid
	if len(got) != len(InvalidReasons()) {
		t.Errorf("snapshot counts %v, want every one of %v", got, InvalidReasons())
	}
	for _, r := range InvalidReasons() {
		if n, ok := got[r]; !ok || n != 0 {
			t.Errorf("reason %q: %d, present %v; want 0, present", r, n, ok)
		}
	}
}
