package metrics

import (
	"strings"
	"testing"

	"github.com/halo-lb/halo/supervisor"
)

func bgpSample() fixed {
	s := sample()
	s.BGP = &supervisor.BGPStatus{ASN: 65001, RouterID: "192.0.2.11", Running: true,
		Announces: 3, Withdrawals: 2, Drains: 1, EngineFailures: 4,
		Neighbors: []supervisor.BGPNeighborStatus{{Address: "192.0.2.1", ASN: 65000, State: "ESTABLISHED", BFD: "up", Flaps: 1}},
		Prefixes:  []supervisor.BGPPrefixStatus{{Prefix: "198.51.100.10/32", State: "draining", Bound: true}},
	}
	return s
}

func TestBGPLint(t *testing.T) { lint(t, scrapeText(t, bgpSample())) }

func TestBGPValues(t *testing.T) {
	want := `
# HELP halo_bgp_announces_total Changes of the service prefixes into announced.
# TYPE halo_bgp_announces_total counter
halo_bgp_announces_total 3
# HELP halo_bgp_bfd_state BFD session state with the neighbour, one series per state (off: not configured).
# TYPE halo_bgp_bfd_state gauge
halo_bgp_bfd_state{neighbor="192.0.2.1",state="admin_down"} 0
halo_bgp_bfd_state{neighbor="192.0.2.1",state="down"} 0
halo_bgp_bfd_state{neighbor="192.0.2.1",state="init"} 0
halo_bgp_bfd_state{neighbor="192.0.2.1",state="off"} 0
halo_bgp_bfd_state{neighbor="192.0.2.1",state="up"} 1
# HELP halo_bgp_prefix_state Service prefix state, one series per state: 1 for the current one.
# TYPE halo_bgp_prefix_state gauge
halo_bgp_prefix_state{prefix="198.51.100.10/32",state="announced"} 0
halo_bgp_prefix_state{prefix="198.51.100.10/32",state="draining"} 1
halo_bgp_prefix_state{prefix="198.51.100.10/32",state="withdrawn"} 0
# HELP halo_bgp_session_state BGP session state, one series per state: 1 for the current one.
# TYPE halo_bgp_session_state gauge
halo_bgp_session_state{neighbor="192.0.2.1",state="ACTIVE"} 0
halo_bgp_session_state{neighbor="192.0.2.1",state="CONNECT"} 0
halo_bgp_session_state{neighbor="192.0.2.1",state="ESTABLISHED"} 1
halo_bgp_session_state{neighbor="192.0.2.1",state="IDLE"} 0
halo_bgp_session_state{neighbor="192.0.2.1",state="OPENCONFIRM"} 0
halo_bgp_session_state{neighbor="192.0.2.1",state="OPENSENT"} 0
# HELP halo_bgp_withdrawals_total Changes of the service prefixes into withdrawn.
# TYPE halo_bgp_withdrawals_total counter
halo_bgp_withdrawals_total 2
`
	got := scrapeText(t, bgpSample())
	compareFamilies(t, got, want,
		"halo_bgp_announces_total", "halo_bgp_bfd_state", "halo_bgp_prefix_state", "halo_bgp_session_state", "halo_bgp_withdrawals_total")
	failures := "# HELP halo_bgp_engine_failures_total Ends of the BGP engine process (halo-bgp) nobody asked for, and its failed starts; a restart follows each.\n" +
		"# TYPE halo_bgp_engine_failures_total counter\nhalo_bgp_engine_failures_total 4\n"
	compareFamilies(t, got, failures, "halo_bgp_engine_failures_total")
	// Without a bgp section: no BGP series at all.
	for name := range parseText(t, scrapeText(t, sample())) {
		if strings.HasPrefix(name, "halo_bgp_") {
			t.Errorf("%s exported without BGP", name)
		}
	}
	if n := len(bgpFamilies(nil)); n != 0 {
		t.Errorf("%d BGP families without BGP", n)
	}
}
