package haproxy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CheckKind classifies a health check's result: a small fixed set, fit for a metric label.
type CheckKind string

// Check kinds. Every kind but KindOK is a failure.
const (
	KindOK CheckKind = "ok"
	// KindTimeout: the socket did not answer within check.timeout (a hung HAProxy).
	KindTimeout CheckKind = "timeout"
	// KindConnect: the socket is absent or refuses connections.
	KindConnect CheckKind = "connect"
	// KindProtocol: an answer halo could not read.
	KindProtocol CheckKind = "protocol"
	// KindStopping: the process answering is stopping (soft stop).
	KindStopping CheckKind = "stopping"
	// KindFrontend: a configured frontend is missing or not OPEN.
	KindFrontend CheckKind = "frontend"
	// KindBackend: a configured backend is missing or has fewer UP servers than required.
	KindBackend CheckKind = "backend"
	// KindNotRunning: a managed HAProxy is not running (exited, restarting).
	KindNotRunning CheckKind = "not_running"
)

// CheckKinds lists every kind, for metrics that want all label values present.
func CheckKinds() []CheckKind {
	return []CheckKind{KindOK, KindTimeout, KindConnect, KindProtocol, KindStopping, KindFrontend, KindBackend, KindNotRunning}
}

// CheckResult is one health check.
type CheckResult struct {
	At       time.Time
	Duration time.Duration
	// Pipelined: the answer was read a check after the probe was sent (see pipeline), so
	// Duration is how long until it was read, not how long HAProxy took; the duration
	// metrics count only the checks that waited for their answer.
	Pipelined bool
	// Repeat is how many failed checks a pipelined probe's wait stands for (see
	// timeouts); 0 or 1 is one check.
	Repeat int
	Kind   CheckKind
	// Reason says why the check failed, for a person ("backend app: 0/2 servers UP",
	// "stats socket: timeout after 100ms"); empty when it passed.
	Reason string
	// WorkerPID and Version come from `show info` when HAProxy answered.
	WorkerPID int
	Version   string
}

// OK reports whether the check passed.
func (r CheckResult) OK() bool { return r.Kind == KindOK }

// checkPlan is the one command line a check sends, and how to judge its answer.
type checkPlan struct {
	cmd       string
	pipeCmd   string   // cmd without the master CLI's quit: the pipelined probe stays connected
	proxies   []string // sorted, in the order of the show stat blocks
	frontends []string
	backends  []string
	minUp     map[string]int
}

// newCheckPlan asks `show info` and one `show stat <proxy> -1 -1` per configured proxy,
// in one exchange: the proxy filter keeps the answer small on a config of thousands of
// backends. viaMaster prefixes each command with @1 to reach the current worker through
// the master CLI.
func newCheckPlan(ck CheckConfig, viaMaster bool) checkPlan {
	p := checkPlan{frontends: slices.Clone(ck.Frontends), minUp: map[string]int{}}
	for b, n := range ck.Backends {
		p.backends = append(p.backends, b)
		p.minUp[b] = n
	}
	slices.Sort(p.backends)
	p.proxies = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(p.frontends), p.backends...))))
	prefix := ""
	if viaMaster {
		prefix = "@1 "
	}
	cmds := []string{prefix + "show info"}
	for _, px := range p.proxies {
		cmds = append(cmds, prefix+"show stat "+px+" -1 -1")
	}
	p.pipeCmd = strings.Join(cmds, ";")
	if viaMaster {
		cmds = append(cmds, "quit")
	}
	p.cmd = strings.Join(cmds, ";")
	return p
}

// probe runs one check through the socket at path, bounded by timeout (and ctx).
func (p checkPlan) probe(ctx context.Context, timeout time.Duration, name, path string) CheckResult {
	start := time.Now()
	var r CheckResult
	if ans, err := exchange(ctx, timeout, name, path, p.cmd); err != nil {
		r = failed(err)
	} else {
		r = p.judge(ans)
	}
	r.At, r.Duration = start, time.Since(start)
	return r
}

func failed(err error) CheckResult {
	r := CheckResult{Kind: KindProtocol, Reason: err.Error()}
	if se, ok := err.(*SocketError); ok {
		r.Kind = se.Kind
	}
	return r
}

// judge reads the answer to p.cmd.
func (p checkPlan) judge(answer string) CheckResult { return p.judgeBlocks(splitBlocks(answer)) }

// judgeBlocks reads the answer to p.cmd, one block per command.
func (p checkPlan) judgeBlocks(blocks []string) CheckResult {
	if len(blocks) < 1+len(p.proxies) {
		return CheckResult{Kind: KindProtocol, Reason: fmt.Sprintf("stats socket: %d answers to %d commands", len(blocks), 1+len(p.proxies))}
	}
	info, err := parseInfo(blocks[0])
	if err != nil {
		return CheckResult{Kind: KindProtocol, Reason: "stats socket: " + err.Error()}
	}
	r := CheckResult{Kind: KindOK, Version: info.version, WorkerPID: info.pid}
	if info.stopping {
		r.Kind, r.Reason = KindStopping, fmt.Sprintf("haproxy is stopping (pid %d)", r.WorkerPID)
		return r
	}
	var reasons []string
	fail := func(k CheckKind, format string, args ...any) {
		if r.Kind == KindOK {
			r.Kind = k
		}
		reasons = append(reasons, fmt.Sprintf(format, args...))
	}
	stat := func(px string) (proxyStat, string) {
		i, _ := slices.BinarySearch(p.proxies, px)
		st, err := parseStat(blocks[1+i], px)
		if err != nil {
			return st, why(err.Error())
		}
		return st, ""
	}
	for _, fe := range p.frontends {
		switch st, missing := stat(fe); {
		case !st.frontend:
			fail(KindFrontend, "frontend %s: not found%s", fe, missing)
		case st.frontendStatus != "OPEN":
			fail(KindFrontend, "frontend %s: %s, not OPEN", fe, st.frontendStatus)
		}
	}
	for _, be := range p.backends {
		st, missing := stat(be)
		if !st.backend {
			fail(KindBackend, "backend %s: not found%s", be, missing)
			continue
		}
		if need := p.minUp[be]; st.serversUp < need {
			if need > 1 {
				fail(KindBackend, "backend %s: %d/%d servers UP, need %d", be, st.serversUp, st.servers, need)
			} else {
				fail(KindBackend, "backend %s: %d/%d servers UP", be, st.serversUp, st.servers)
			}
		}
	}
	r.Reason = strings.Join(reasons, "; ")
	return r
}

func why(s string) string {
	if s == "" {
		return ""
	}
	return " (" + strings.TrimSuffix(s, ".") + ")"
}

// serverUp says whether a server counts as UP: "UP", "UP 1/3" (going down but still
// serving) and "no check" (HAProxy treats an unchecked server as up). DOWN, "DOWN 1/2"
// (coming up), NOLB, DRAIN and MAINT do not count.
func serverUp(status string) bool {
	return status == "UP" || strings.HasPrefix(status, "UP ") || status == "no check"
}

// hysteresis is the rise/fall filter: the verdict flips after rise passing checks in a
// row (to healthy) or fall failing ones (to unhealthy). It starts unhealthy, so HAProxy
// is called healthy only after rise passing checks.
type hysteresis struct {
	rise, fall int
	healthy    bool
	run        int // consecutive results against the current verdict
}

// observe feeds one result and reports whether the verdict changed.
func (h *hysteresis) observe(ok bool) bool {
	if ok == h.healthy {
		h.run = 0
		return false
	}
	h.run++
	if (h.healthy && h.run >= h.fall) || (!h.healthy && h.run >= h.rise) {
		h.healthy, h.run = !h.healthy, 0
		return true
	}
	return false
}

// down makes the verdict unhealthy at once (HAProxy exited: nothing to wait for) and
// reports whether it changed.
func (h *hysteresis) down() bool {
	h.run = 0
	if !h.healthy {
		return false
	}
	h.healthy = false
	return true
}

// transitioning reports whether the verdict may be about to flip: checks then run at the
// fast interval, as HAProxy's own fastinter.
func (h *hysteresis) transitioning() bool { return h.run > 0 }
