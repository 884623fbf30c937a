package haproxy

import (
	"strconv"
	"strings"
)

// fdBase is what HAProxy 2.6 takes beyond its connections, listeners, checks and
// threads: the master-worker pipes, the poller, the log and resolver sockets... Measured
// with `show info` (Maxsock) on 2.6.12 with one stats socket and one bind line:
// 2028 at maxconn 1000 on two threads.
const fdBase = 20

// fdPerThread: each thread's poller and wake-up pipe (2025 on one thread, 2028 on two).
const fdPerThread = 3

// maxThreads is HAProxy 2.6's default cap of threads when nbthread is not set.
const maxThreads = 64

// FDNeed is the number of file descriptors HAProxy asks the kernel for (its maxsock)
// when the global section sets maxconn: 2 per connection (client and server side), 1 per
// listening socket (each address and port of each bind line, each stats socket), 1 per
// server (its health check: servers without one are counted too, an upper bound), 3 per
// thread and a fixed base. cpus is the number of CPUs HAProxy would run a thread on when
// nbthread is not set. Without a global maxconn HAProxy sizes maxconn to the limit it
// gets, so there is nothing to compare: ok is false. Splice pipes (option splice-*) are
// not counted.
func FDNeed(files []*ConfigFile, cpus int) (need int, maxconn Setting, ok bool) {
	threads := min(max(cpus, 1), maxThreads)
	var listeners, servers int
	for _, f := range files {
		g := f.Global
		// HAProxy takes the last value it reads; files are read in order.
		if g.Maxconn != nil {
			maxconn, ok = *g.Maxconn, true
		}
		if g.Nbthread != nil {
			if n, err := strconv.Atoi(g.Nbthread.Value); err == nil && n > 0 {
				threads = n
			}
		}
		listeners += len(f.StatsSockets)
		for _, px := range f.Proxies {
			servers += px.Servers
			for _, b := range px.Binds {
				listeners += bindSockets(b)
			}
		}
	}
	if !ok {
		return 0, Setting{}, false
	}
	n, err := strconv.Atoi(maxconn.Value)
	if err != nil || n <= 0 {
		return 0, Setting{}, false
	}
	return 2*n + listeners + servers + fdPerThread*threads + fdBase, maxconn, true
}

// bindSockets counts the sockets one bind line opens: one per address, one per port of
// a range; a unix socket or an address halo cannot read counts as one.
func bindSockets(b Bind) int {
	n := 0
	for raw := range strings.SplitSeq(b.Spec, ",") {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		n++
	}
	for _, a := range b.Addrs() {
		if a.Port > 0 && a.PortEnd > a.Port {
			n += a.PortEnd - a.Port
		}
	}
	return n
}
