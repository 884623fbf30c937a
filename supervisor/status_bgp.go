package supervisor

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/halo-lb/halo/bgp"
)

// BGPStatus is the BGP part of the snapshot (absent without a bgp section).
type BGPStatus struct {
	ASN      uint32 `json:"asn"`
	RouterID string `json:"router_id"`
	Running  bool   `json:"running"`
	// Draining: maintenance or a stop is withdrawing the prefixes after the drain time.
	Draining bool `json:"draining"`
	// Degraded: HAProxy serves with a backend under its minimum; the prefixes carry a
	// higher MED so that the routers prefer the other nodes.
	Degraded bool   `json:"degraded"`
	Error    string `json:"error,omitempty"`
	// Announces, Withdrawals and Drains count changes of the prefixes' state.
	Announces   uint64              `json:"announces"`
	Withdrawals uint64              `json:"withdrawals"`
	Drains      uint64              `json:"drains"`
	Neighbors   []BGPNeighborStatus `json:"neighbors"`
	Prefixes    []BGPPrefixStatus   `json:"prefixes"`

	// EngineFailures counts the BGP engine's (halo-bgp's) unasked ends and failed starts.
	EngineFailures uint64 `json:"engine_failures"`
}

// BGPNeighborStatus is one BGP session.
type BGPNeighborStatus struct {
	Address string `json:"address"`
	ASN     uint32 `json:"asn"`
	// State is IDLE, CONNECT, ACTIVE, OPENSENT, OPENCONFIRM or ESTABLISHED.
	State string `json:"state"`
	// Since is when the session was established.
	Since time.Time `json:"since,omitzero"`
	// BFD is off, down, init, up or admin_down.
	BFD        string `json:"bfd"`
	Advertised uint64 `json:"advertised"`
	Received   uint64 `json:"received"`
	Flaps      uint64 `json:"flaps"`
}

// BGPPrefixStatus is one service prefix.
type BGPPrefixStatus struct {
	Prefix string `json:"prefix"`
	// State is announced, draining or withdrawn.
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	// Bound: the address is on the service interface of this node.
	Bound bool `json:"bound"`
}

func newBGPStatus(st bgp.Status) *BGPStatus {
	out := &BGPStatus{ASN: st.ASN, RouterID: st.RouterID, Running: st.Running, Draining: st.Draining, Degraded: st.Degraded,
		Error: st.Error, Announces: st.Announces, Withdrawals: st.Withdrawals, Drains: st.Drains,
		Neighbors: []BGPNeighborStatus{}, Prefixes: []BGPPrefixStatus{}}
	out.EngineFailures = st.EngineFailures
	for _, n := range st.Neighbors {
		out.Neighbors = append(out.Neighbors, BGPNeighborStatus{Address: n.Address, ASN: n.ASN, State: n.State,
			Since: n.Since, BFD: n.BFD, Advertised: n.Advertised, Received: n.Received, Flaps: n.Flaps})
	}
	for _, p := range st.Prefixes {
		out.Prefixes = append(out.Prefixes, BGPPrefixStatus{Prefix: p.Prefix, State: p.State, Since: p.Since, Bound: p.Bound})
	}
	return out
}

// healthy reports whether BGP runs as configured: every session established (with BFD
// up where configured) and every address bound. Withdrawn prefixes are HAProxy's or
// maintenance's to report.
func (b *BGPStatus) healthy() bool {
	if b == nil {
		return true
	}
	if !b.Running || b.Error != "" {
		return false
	}
	for _, n := range b.Neighbors {
		if n.State != "ESTABLISHED" || n.BFD != bgp.BFDOff && n.BFD != bgp.BFDUp {
			return false
		}
	}
	for _, p := range b.Prefixes {
		if !p.Bound {
			return false
		}
	}
	return true
}

// writeTable adds the BGP rows to haloctl's table.
func (b *BGPStatus) writeTable(w io.Writer, now time.Time) {
	if b == nil {
		return
	}
	state := "RUNNING"
	switch {
	case !b.Running:
		state = "STOPPED"
	case b.Draining:
		state = "DRAINING"
	case b.Degraded:
		state = "DEGRADED"
	}
	desc := fmt.Sprintf("asn %d, router-id %s, %d announces, %d withdrawals", b.ASN, b.RouterID, b.Announces, b.Withdrawals)
	if b.EngineFailures > 0 {
		desc += fmt.Sprintf(", %d engine failures", b.EngineFailures)
	}
	if b.Error != "" {
		desc += ", error: " + b.Error
	}
	fmt.Fprintf(w, "bgp\t%s\t%s\n", state, desc)
	for _, n := range b.Neighbors {
		d := []string{fmt.Sprintf("asn %d", n.ASN)}
		if !n.Since.IsZero() {
			d = append(d, "up "+clock(now.Sub(n.Since)))
		}
		d = append(d, "bfd "+n.BFD, fmt.Sprintf("%d advertised", n.Advertised))
		if n.Flaps > 0 {
			d = append(d, fmt.Sprintf("%d flaps", n.Flaps))
		}
		fmt.Fprintf(w, "neighbor %s\t%s\t%s\n", n.Address, n.State, strings.Join(d, ", "))
	}
	for _, p := range b.Prefixes {
		d := []string{}
		if !p.Since.IsZero() {
			d = append(d, "since "+clock(now.Sub(p.Since)))
		}
		if p.Bound {
			d = append(d, "bound")
		} else {
			d = append(d, "NOT BOUND")
		}
		fmt.Fprintf(w, "prefix %s\t%s\t%s\n", p.Prefix, strings.ToUpper(p.State), strings.Join(d, ", "))
	}
}
