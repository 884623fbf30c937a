// Package vrrp implements the Virtual Router Redundancy Protocol: version 3 (RFC 5798) for
// IPv4 and IPv6 and version 2 (RFC 3768) for IPv4 with simple password authentication, as
// Debian's keepalived speaks it on the wire.
//
// It is built in three layers: the codec (Marshal/Unmarshal, checksums, no sockets), the
// state machine (pure: state, event and time in; new state and actions out), and the I/O
// (raw IP protocol 112 sockets, netlink for VIPs and link state, gratuitous ARP and
// unsolicited neighbour advertisements). It knows nothing of HAProxy: the supervisor reports
// tracked conditions, and each instance applies its own track policy.
//
// The files follow the layers; the Linux-only I/O sits in _linux.go files, so that the codec,
// the state machine and an Instance over injected I/O build and test on any OS:
//   - packet.go: Advert, its Marshal/Unmarshal and checksums, the Err* sentinels.
//   - accept.go: the receive checks of RFC 5798 §7.1 and RFC 3768 §7.1, pure (accept).
//   - machine.go, machine_controls.go: Machine, RFC 5798 §6 plus FAULT, maintenance and
//     resignation; it returns Actions and a Deadline and never reads a clock.
//   - frames.go: the gratuitous ARP and unsolicited NA frames.
//   - transport.go, transport_linux.go: Transport and its raw-socket implementation
//     (ListenTransport), and the choice of the primary address (PrimaryAddress), as
//     keepalived makes it.
//   - owner.go, owner_linux.go: Owner and its netlink + AF_PACKET implementation.
//   - linkwatch.go, linkwatch_linux.go: LinkWatcher and its netlink implementation: an
//     instance's interface and its track_interfaces put it in FAULT while down.
//   - trackif.go: TrackInterface, a track_interfaces entry: FAULT, or keepalived's
//     weighted track_interface (a priority change while the link is down, or up).
//   - instance.go: Instance, its Options, Snapshot and Counters.
//   - controls.go: what other goroutines ask of an Instance (SetTracked, Resign,
//     EndResign, SetMaintenance, the sync group's hold), applied by the loop.
//   - peers.go: the routers heard per instance (bounded, expiring), for the status.
//   - publish.go: what a status shows of the loop's state, and the OnChange wake-up.
//   - run.go: Run, the lifecycle: transport, owner, links, hooks, reader, then the loop.
//   - loop.go: the loop that alone drives the machine, and how it carries out actions.
//   - timers.go: the loop's deadlines, fired by one clock the instances share (Timers)
//     or by Go timers.
//   - announce.go: sending adverts and announcing VIPs.
//   - receive.go: the receive checks, and the reader goroutine of a socket of its own.
//   - heard.go: a backup's reader takes its master's repeated advert without waking the
//     loop; the loop applies the latest before anything else it does.
//   - hooks.go: notify hooks (HookRunner, NewExecHookRunner) and their queue.
//   - group.go: Group, keepalived's vrrp_sync_group.
//
// # Tracked conditions
//
// A tracked condition (the local HAProxy's health, reported by the supervisor) reaches an
// instance through SetTracked: the newest value replaces the last, and the instance's
// loop applies the policy InstanceConfig says for it (Track: a weight, or FAULT). No
// queue, no decision from outside: a flapping condition can neither be lost nor applied
// out of order.
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
// it keeps the VIPs, and keeps answering on them, until it has heard the new master's
// first advert (priority > 0, from another address) and the drain after it (below) has
// ended, or until Machine.HandoverTimeout (the longest master-down interval a backup can
// have, about four advert intervals) has passed; only then does it remove them. keepalived removes them at once, so every planned move leaves
// the VIPs dark for the backup's skew time: about 0.6 s at 1 s adverts, during which
// clients' packets go to an address nobody holds. With halo the backup takes over after
// its skew time, its gratuitous ARPs redirect the clients, and the old node served
// meanwhile. A client whose ARP entry still names the old node is served there. Run
// therefore returns at most HandoverTimeout after its context ends. A FAULT (a tracked
// failure, a link down) still removes the VIPs at once: a faulty node must not answer.
//
// The drain: once the new master is heard, the old node keeps the VIPs for half its advert
// interval more, at most 250 ms, and so does a master that a better one preempted (RFC
// 5798 §6.4.3 and keepalived remove them when the better advert arrives). The new master's gratuitous ARPs went out before its advert, so new requests
// already go to it; but a request the old node accepted a moment earlier would die with
// the address (its answer can no longer leave from an address the node no longer has) and
// the client would wait out its timeout. The drain lets those answers leave. It departs
// from RFC 5798 in one more way: for up to the drain a backup holds the address and
// answers ARP for it, as the master does; a client that ARPs in that window may keep the
// old node's answer, and the new master's second gratuitous ARP burst (GARPConfig.Delay
// after the first, 5 s by default; a gratuitous ARP overrides a cached entry) puts it
// right. The drain never restarts on the new master's next advert and never outlasts
// HandoverTimeout: two nodes hold the VIPs together for the advert's one-way delay plus
// half an interval, within the one interval plus skew that a move is judged by (the
// fault matrix, the soak). A FAULT during the drain removes the VIPs at once.
//
// # Sync groups: where halo differs from keepalived
//
// A Group moves its members together as keepalived's vrrp_sync_group does in the common
// cases: a member in FAULT puts every member in FAULT; a member that falls back to BACKUP
// takes the others with it; a member becomes master only when every member can. The
// differences:
//   - Members that follow another to BACKUP send priority 0 and hand over, so the peer
//     node's matching instances take over in their skew time; keepalived's followers
//     (vrrp_sync_backup) leave MASTER without a priority-0 advert, and the peer waits a
//     master-down interval for them.
//   - A tracker's weight set on one member applies to every member, so that a weighted
//     tracker moves the whole group. keepalived refuses weights on sync group members
//     unless sync_group_tracking_weight is set, and then warns that it "probably won't
//     work" (the lowered member's peer cannot preempt while its group-mates still hear
//     higher priorities; with halo the whole group is lowered, so the peer's whole group
//     preempts).
//   - A member waiting for its group-mates keeps no timer (Machine.Waiting) instead of
//     re-arming its master-down timer; the group releases it the moment the last member
//     is ready.
//   - The group has no track_interface or track_script of its own: track each member (a
//     member's tracked failure faults the whole group anyway).
//
// # Notify hooks
//
// InstanceConfig.Notify and SyncGroupConfig.Notify run argv (no shell) on entering
// MASTER, BACKUP, FAULT, and on stopping, with HALO_INSTANCE, HALO_GROUP,
// HALO_OLD_STATE, HALO_NEW_STATE, HALO_VIPS (space separated, as the status shows them:
// 192.0.2.100/24) and HALO_REASON in the environment; a group hook has HALO_INSTANCE
// empty and HALO_INSTANCES listing the members. They run one at a time, in order, on a
// queue of their own: the state machine never waits for them. A hook still running after
// its timeout is killed with its whole process group; failures and timeouts are logged
// and counted (Counters.HookFailures, HookTimeouts). keepalived runs its notify scripts
// concurrently, in no guaranteed order (its issues #996, #1055).
package vrrp
