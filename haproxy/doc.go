// Package haproxy runs and watches the local HAProxy: it starts it in master-worker mode
// (or attaches to one run elsewhere), judges its health through the runtime API with a
// bounded timeout, validates haproxy.cfg before every reload and verifies each reload
// through the master CLI. It knows nothing of VRRP.
//
// # Use
//
//	m, err := haproxy.New(cfg, log) // starts nothing
//	m.OnEvent(observe)             // optional: *Started, *Exited, *HealthChanged, *Reloaded, in order
//	err = m.Run(ctx)               // until ctx ends; a managed HAProxy is then soft-stopped
//	v, changed := m.Health()       // the newest verdict; changed closes when it flips
//	res, err := m.Reload(ctx)      // validate, reload, verify; concurrent calls coalesce
//	err = m.Validate(ctx)          // `haproxy -c` + lint, no reload
//	st := m.Snapshot()             // mode, pid, healthy, reason, last check, last reload...
//	c := m.Counters()              // checks by kind, check-duration histogram, reloads by outcome, restarts
//
// # Managed mode
//
// Run starts `haproxy -W -S <master_socket> -f <config>...` (master-worker without
// sd_notify: -W, not -Ws, and no NOTIFY_SOCKET in its environment, since halod is the
// unit's main process), in its own process group. Its stdout and stderr go to the logger
// with source=haproxy, at the level HAProxy gave each line. Its exit is known at once
// (Wait in a goroutine) and it is restarted after restart.initial, doubled per restart up
// to restart.max, and reset once it ran restart.stable. When ctx ends it is soft-stopped
// (SIGUSR1 to the master: workers stop listening and finish their connections) and killed
// after stop_timeout.
//
// # Surviving a crash of halod
//
// HAProxy has no parent-death signal: when halod dies (SIGKILL, a crash) HAProxy keeps
// serving, as it outlives keepalived, and the VIPs stay served until VRRP moves them. halod
// records the masters it started in <dir of master_socket>/haproxy-halo.pid (PIDFile),
// one PID a line, the current master first, and removes the file on a clean stop. On
// start, a managed Manager reads that file and takes over each master it names that is
// verified to be one halod started: the PID is pinned with a pidfd first, then
// /proc/PID/exe must be the configured binary and /proc/PID/cmdline must hold -W and
// -S <master_socket> wherever they stand; the master socket's `show proc` is logged as a
// confirmation. The new HAProxy starts beside the old one (HAProxy 2.6 binds unix
// sockets to <path>.<pid>.tmp and renames them over the old path, and sets SO_REUSEPORT
// on TCP listeners, both checked with strace), and once the master socket names the new
// master and check.rise checks of its worker pass through it (bounded by
// reload_timeout), the old master is soft-stopped through the pidfd, then killed after
// stop_timeout: in-flight connections finish on the old one, new ones go to the new one.
// When the stats socket is declared with "expose-fd listeners", the new master is
// started with -x <stats_socket> and takes the listening sockets themselves from the old
// worker: they stay open when the old one stops. Without it, a connection still queued on
// the old worker's socket when it closes is reset (Linux, unless
// net.ipv4.tcp_migrate_req=1): measured, 3 resets in 30 takeovers under 24 clients, none
// with expose-fd in 60. A PID that is gone,
// another program, or that cannot be verified is logged (a warning when unsure) and left
// alone: only a verified process, held by its pidfd, is ever signalled.
//
// # Restart in place after a crash
//
// With restart_in_place on (the default), halod takes a copy of every listening socket
// of a managed HAProxy after each start and reload, through the `_getsocks` exchange on
// the stats socket ("expose-fd listeners"), as `haproxy -x` does (see listeners.go for
// why halod copies HAProxy's sockets rather than opening them itself). When the master
// exits without being asked to (a SIGKILL of the master or of a worker: HAProxy 2.6's
// master exits when a worker dies), the kernel keeps the sockets open for halod's sake and
// queues new connections; halod starts HAProxy again at once with -x on a unix socket it
// serves itself, and the new HAProxy binds its listeners on those very sockets and
// accepts the queue. The verdict is kept meanwhile, so the VIP does not move, unless a
// check finds HAProxy serving again no later than restart_in_place.within after the crash;
// it falls at once when the restarted HAProxy exits before serving (the binary or the
// configuration no longer starts), and a crash beyond max_crashes per window is a crash
// loop: those fail over as without the policy, and halod first closes its copies so that
// queued clients are refused and go elsewhere. Connections HAProxy had accepted die with
// it. A hung HAProxy does not exit: the checks fail it as ever. Tested with HAProxy
// 2.6.12: a SIGKILL of the worker or of the whole process group under a load of new
// connections loses none begun after the kill; the restarted HAProxy serves again in
// 85-200 ms on a loaded 2-core machine.
//
// # External mode
//
// Only the stats and master sockets are used; nothing is started or signalled.
//
// # Health
//
// Every check.interval one exchange on the stats socket asks `show info` and `show stat
// <proxy> -1 -1` for each checked proxy (the filter keeps the answer small on a config of
// thousands of backends). It is bounded by check.timeout through a deadline on the unix
// socket itself, and runs one at a time: a hung HAProxy costs one timeout per check and
// never a pile of goroutines. halo reads the runtime API itself rather than through
// client-native's runtime client, which blocks up to 30s per command on a hung HAProxy
// where a check needs its own deadline of check.timeout; nor does it use client-native's
// models package for the few fields it reads, since that alone would link go-openapi and
// mongo-driver into halod.
//
// The checks are pipelined on one session kept open in interactive mode (`prompt`): each
// check reads, without waiting, the answer to the probe the previous one sent, and sends
// the next. An idle halod then wakes once per check and never blocks in a system call
// (checkcost side by side: a blocking exchange 0.22 % of a core, the pipelined one
// 0.10-0.13 %, a program that only wakes as often 0.03-0.06 %). A probe still unanswered
// at its look counts as the timeouts blocking checks would have had by then, and a
// blocking check follows at once; so a hung HAProxy is caught within interval + fall ×
// fast_interval as before. Checks are pipelined only while that holds (interval ≤ timeout
// + (fall-1) × fast_interval, as with the defaults), and only while HAProxy answers: the
// first check, the one after a session ended, and one every 10 s (to measure HAProxy's
// answer time for the duration metrics) wait for their answer, bounded by check.timeout.
// The loop sleeps on a timerfd, not a Go timer (see tick.Clock): only one thread wakes.
// Checks fire on the process's grid of whole intervals (see tick.Next), where the VRRP
// adverts fire too: a 200 ms check and a 1 s advert share a wake-up once a second.
// In steady state an answer counts when it is complete at the next check, so an answer
// later than check.timeout but within check.interval passes there; while the verdict may
// flip the look comes fast_interval after the probe (check.timeout by default).
//
// A session holds a soft-stopped worker: HAProxy 2.6 does not let it exit before its CLI
// sessions close (a first try, which closed the session only at the next check, left a
// worker running after back-to-back reloads until the stop timeout: TestReloadsCoalesce,
// 2 of 24 runs). So a reload shuts the session down before it starts and again when it
// ends, no session is opened while it runs, and a check that finds its session's HAProxy
// stopping (a reload halod did not make) closes it and asks whoever listens now.
//
// HAProxy is healthy when it answers, is not stopping, every checked frontend is OPEN and
// every checked backend has at least its minimum of UP servers. rise/fall hysteresis
// filters the verdict, with checks at check.fast_interval while it may be about to flip
// (as HAProxy's fastinter), so that a SIGSTOPped HAProxy is unhealthy within interval ×
// fall. A managed HAProxy that exits is unhealthy at once.
//
// # Validation and reload
//
// `haproxy -c` keeps HAProxy's own messages, located by file and line; the lint, through
// client-native's config-parser, adds what `haproxy -c` cannot know: the stats socket
// halo reads must exist with level admin, binds on addresses this network namespace does
// not have need net.ipv4.ip_nonlocal_bind=1 (read from /proc/sys) or transparent, a
// managed HAProxy must not daemonize, the checked proxies must exist, and HTTP proxies
// should have option idle-close-on-response: without it the old worker closes idle
// keep-alive connections at a reload and a client that sends on one at that moment loses
// its request (15 lost in 100 reloads measured; none with it).
//
// ReadConfigFiles is the one reader of haproxy.cfg: the lint, the takeover's expose-fd
// question and the keepalived importer all go through it, so every parse holds the
// lock client-native's parser needs and every item it returns carries its file:line.
//
// Reload refuses an invalid configuration (nothing is sent; HAProxy keeps serving the
// old one), sends `reload` on the master CLI, and verifies with `show proc` that the
// master's reload counter moved, its failed counter did not and a new worker runs
// (HAProxy 2.6 answers nothing to reload; 2.7+ also answers Success=).
package haproxy
