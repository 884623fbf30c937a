package vrrp

// InvalidReasons returns every label Counters.Invalid counts under: the reasons accept
// drops a packet for, and "other" for a codec error it cannot name. A new instance's
// counters hold each at 0, so that a scrape shows halo_vrrp_invalid_packets_total for
// every reason from the start: rate() and increase() miss the first packet of a series
// that appears with it, and an alert on a series that does not exist yet cannot fire.
func InvalidReasons() []string {
	return []string{
		"ttl", "too_short", "checksum", "version", "type", "length", "interval",
		"address_family", "vrid", "auth", "peer", "other",
	}
}

// newInvalidCounts returns the Invalid counters of a new instance: every reason at 0.
func newInvalidCounts() map[string]uint64 {
	m := make(map[string]uint64, len(InvalidReasons()))
	for _, r := range InvalidReasons() {
		m[r] = 0
	}
	return m
}
