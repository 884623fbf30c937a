// Package bgp announces the service addresses of a load balancer over BGP (RFC 4271)
// through GoBGP v4, so that every healthy node serves and the routers spread flows across
// them by ECMP. It runs single-hop BFD (RFC 5880/5881) with the routers, drains a planned
// withdrawal with the GRACEFUL_SHUTDOWN community (RFC 8326), and binds the service
// addresses locally. It knows nothing of HAProxy or VRRP: the supervisor tells it whether
// the node is healthy and whether it drains.
//
// # The engine runs in a process of its own
//
// The Speaker (the policy, the drain, the status) lives in halod; GoBGP lives in halo-bgp
// (cmd/halo-bgp over package bgp/engine), a child halod starts for a bgp section and drives
// over its stdin and stdout, one JSON object a line, every line bounded: the config and
// then the phase to offer go in, the answers, the neighbours' states (when they change) and
// the engine's log records come out. halod imports nothing of GoBGP (a test in cmd/halod
// runs go list -deps): linked in, GoBGP's package initialisers (grpc, protobuf registries,
// viper) ran in every halod, BGP or not, and doubled it — 12.6 to 24.1 MB stripped and
// 18 to 31 MiB idle RSS, measured side by side with checkcost. The price is for BGP users
// only: a second Go runtime (halo-bgp: 17.6 MB, about 31 MiB RSS of which 13 MiB
// anonymous), and a pipe round trip per route change, a fraction of a millisecond
// (BenchmarkApply), lost in the tens of milliseconds HAProxy's death takes to be seen
// (docs/BGP.md has the figures).
//
// Failure modes. halo-bgp dies with halod however halod dies: the kernel's parent-death
// signal (SIGKILL) from the thread that started it, and stdin's end where there is no such
// signal, which withdraws and closes the sessions with a CEASE. When halo-bgp dies alone
// (crash, OOM kill, a reply later than 5 s, which gets it killed), its TCP sessions close,
// the routers withdraw this node's prefixes at once (BFD or the hold time when the close
// is lost) and send its flows to the other nodes: the safe failure for ECMP. The Speaker
// logs it, shows the sessions down and the prefixes withdrawn in Status, and starts a new
// halo-bgp after a backoff (0.5 s doubling to 30 s, reset after a minute's run), which
// offers what the latest inputs say (never a drained node). halo-bgp ignores SIGTERM,
// SIGINT and SIGHUP: a unit stop signals every process of the cgroup, and the prefixes
// must stay announced through halod's drain; halod's stop message ends it after that (a
// bounded wait, then SIGKILL by PID).
package bgp
