// Package vrrp implements the Virtual Router Redundancy Protocol: version 3 (RFC 5798) for
// IPv4 and IPv6 and version 2 (RFC 3768) for IPv4 with simple password authentication, as
// Debian's keepalived speaks it on the wire.
//
// It is built in three layers: the codec (Marshal/Unmarshal, checksums, no sockets), the
// state machine (pure: state, event and time in; new state and actions out), and the I/O
// (raw IP protocol 112 sockets, netlink for VIPs and link state, gratuitous ARP and
// unsolicited neighbour advertisements). It knows nothing of HAProxy: the supervisor drives
// priority and fault from outside.
//
// The files follow the layers:
//   - packet.go: Advert, its Marshal/Unmarshal and checksums, the Err* sentinels.
//   - machine.go: Machine, RFC 5798 §6 plus FAULT, maintenance and resignation; it returns
//     Actions and a Deadline and never reads a clock.
//   - transport.go: Transport and its raw-socket implementation (ListenTransport), and the
//     choice of the primary address (PrimaryAddress), as keepalived makes it.
//   - owner.go: Owner and its netlink + AF_PACKET implementation (NewNetlinkOwner).
//   - runner.go: Instance, which joins them: Run, Snapshot and the supervisor's controls
//     (SetTrackWeight, SetFault, Resign, SetMaintenance).
//
// Where the RFCs leave a choice, the package does what keepalived does: the skew time and
// master-down interval use the master's advertised interval in v3; a master answers a
// lower-priority master's advert at once and re-announces its VIPs
// (vrrp_higher_prio_send_advert, garp_lower_prio_repeat); the TTL check applies to
// multicast only; adverts go out with TOS 0xc0; IPv6 VIPs are added with IFA_F_NODAD.
//
// # Graceful handover: where halo differs from keepalived
//
// When a master leaves the role by plan (Instance.Resign, SetMaintenance(true), or Run's
// context ending), it sends its priority-0 advert as RFC 5798 §6.4.3 and keepalived do, but
// it keeps the VIPs, and keeps answering on them, until it hears the new master's first
// advert (priority > 0, from another address) or until Machine.HandoverTimeout (the longest
// master-down interval a backup can have, about four advert intervals) has passed; only
// then does it remove them. keepalived removes them at once, so every planned move leaves
// the VIPs dark for the backup's skew time: about 0.6 s at 1 s adverts, during which
// clients' packets go to an address nobody holds. With halo the backup takes over after
// its skew time, its gratuitous ARPs redirect the clients, and the old node served
// meanwhile. Both nodes hold the VIPs for the one-way delay of an advert at most; a client
// whose ARP entry still names the old node is served there. Run therefore returns at most
// HandoverTimeout after its context ends. A FAULT (a tracked failure, a link down) still
// removes the VIPs at once: a faulty node must not answer.
package vrrp
