// Package vrrp implements the Virtual Router Redundancy Protocol: version 3 (RFC 5798) for
// IPv4 and IPv6 and version 2 (RFC 3768) for IPv4 with simple password authentication, as
// Debian's keepalived speaks it on the wire.
//
// It is built in three layers: the codec (Marshal/Unmarshal, checksums, no sockets), the
// state machine (pure: state, event and time in; new state and actions out), and the I/O
// (raw IP protocol 112 sockets, netlink for VIPs and link state, gratuitous ARP and
// unsolicited neighbour advertisements). It knows nothing of HAProxy: the supervisor drives
// priority and fault from outside.
package vrrp
