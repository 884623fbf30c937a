// Package bgp announces the service addresses of a load balancer over BGP (RFC 4271)
// through an embedded GoBGP v4 speaker, so that every healthy node serves and the
// routers spread flows across them by ECMP. It runs single-hop BFD (RFC 5880/5881) with
// the routers, drains a planned withdrawal with the GRACEFUL_SHUTDOWN community
// (RFC 8326), and binds the service addresses locally. It knows nothing of HAProxy or
// VRRP: the supervisor tells it whether the node is healthy and whether it drains.
package bgp
