package metrics

import "github.com/halo-lb/halo/supervisor"

func sessionStates() []string {
	return []string{"IDLE", "CONNECT", "ACTIVE", "OPENSENT", "OPENCONFIRM", "ESTABLISHED"}
}

func bfdStates() []string { return []string{"off", "down", "init", "up", "admin_down"} }

func prefixStates() []string { return []string{"announced", "draining", "withdrawn"} }

// bgpFamilies exports the BGP part of the snapshot: nothing without a bgp section.
func bgpFamilies(b *supervisor.BGPStatus) []family {
	if b == nil {
		return nil
	}
	d := func(name, typ, help string) *family {
		return &family{name: "halo_bgp_" + name, typ: typ, help: help}
	}
	session := d("session_state", typeGauge, "BGP session state, one series per state: 1 for the current one.")
	bfd := d("bfd_state", typeGauge, "BFD session state with the neighbour, one series per state (off: not configured).")
	prefix := d("prefix_state", typeGauge, "Service prefix state, one series per state: 1 for the current one.")
	announces := d("announces_total", typeCounter, "Changes of the service prefixes into announced.")
	withdrawals := d("withdrawals_total", typeCounter, "Changes of the service prefixes into withdrawn.")
	drains := d("drains_total", typeCounter, "Planned withdrawals begun with GRACEFUL_SHUTDOWN (RFC 8326).")
	flaps := d("session_flaps_total", typeCounter, "Drops of the BGP session from ESTABLISHED.")
	engineFailures := d("engine_failures_total", typeCounter, "Ends of the BGP engine process (halo-bgp) nobody asked for, and its failed starts; a restart follows each.")

	for _, n := range b.Neighbors {
		for _, s := range sessionStates() {
			session.add(b2f(n.State == s), "neighbor", n.Address, "state", s)
		}
		for _, s := range bfdStates() {
			bfd.add(b2f(n.BFD == s), "neighbor", n.Address, "state", s)
		}
		flaps.add(float64(n.Flaps), "neighbor", n.Address)
	}
	for _, p := range b.Prefixes {
		for _, s := range prefixStates() {
			prefix.add(b2f(p.State == s), "prefix", p.Prefix, "state", s)
		}
	}
	announces.add(float64(b.Announces))
	withdrawals.add(float64(b.Withdrawals))
	drains.add(float64(b.Drains))
	engineFailures.add(float64(b.EngineFailures))

	var out []family
	for _, f := range []*family{session, bfd, prefix, announces, withdrawals, drains, flaps, engineFailures} {
		out = append(out, *f)
	}
	return out
}
