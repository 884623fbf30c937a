package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/halo-lb/halo/vrrp"
)

// Control requests: how each is served, and the queue that keeps the state-changing ones
// from interleaving.

// opsLoop serves the state-changing control requests one at a time, so that no two of
// them interleave. A request whose client gave up while it waited is never executed.
func (s *Supervisor) opsLoop(ctx, vrrpCtx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-s.reqs:
			if r.ctx.Err() != nil {
				r.resp <- s.notServed(r.ctx, r.req, false)
				continue
			}
			r.resp <- s.handle(r.ctx, vrrpCtx, r.req)
			s.changes.bump() // maintenance, a reload's new instances, a resign: watchers see it
		}
	}
}

// submit hands a state-changing control request to opsLoop; reads are answered at once.
// validate is a read too: any user may run it, and queued with the changes it would hold
// up root's (the control server limits how often each user may run it).
// ctx is the request's: its client's connection (cancelled with ErrClientGone when the
// client hangs up), or SIGHUP's deadline.
func (s *Supervisor) submit(ctx context.Context, req Request) Response {
	if readOnly[req.Cmd] {
		return s.handle(ctx, nil, req)
	}
	r := request{ctx: ctx, req: req, resp: make(chan Response, 1)}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return s.notServed(ctx, req, false)
	}
	select {
	case resp := <-r.resp:
		return resp
	case <-ctx.Done():
		return s.notServed(ctx, req, true)
	}
}

// notServed answers a request whose ctx ended before its answer, saying why: its client
// left, its deadline passed, or halod is stopping. started says whether it had begun (it
// then runs to its end, and logs its outcome).
func (s *Supervisor) notServed(ctx context.Context, req Request, started bool) Response {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, ErrClientGone) && !started:
		s.log.Warn("control request dropped: the client went away before it ran", "cmd", req.Cmd, "args", req.Args)
		return Response{Error: fmt.Sprintf("%s not run: %v", req.Cmd, cause)}
	case errors.Is(cause, ErrClientGone):
		return Response{Error: fmt.Sprintf("%s still running: %v", req.Cmd, cause)}
	case errors.Is(cause, context.DeadlineExceeded) && !started:
		return Response{Error: fmt.Sprintf("%s timed out waiting for an earlier request to finish: not run, nothing changed", req.Cmd)}
	case errors.Is(cause, context.DeadlineExceeded):
		return Response{Error: fmt.Sprintf("%s timed out: it is still running, its outcome will be logged", req.Cmd)}
	}
	return Response{Error: "halod is shutting down"}
}

// handle serves one control request. Mutating requests run on the Run loop (vrrpCtx set).
func (s *Supervisor) handle(ctx, vrrpCtx context.Context, req Request) Response {
	switch req.Cmd {
	case "status":
		return s.statusSince(ctx, req)
	case "version":
		return Response{OK: true, Version: s.deps.Version, Message: "halod " + s.deps.Version}
	case "validate":
		return s.validate(ctx)
	case "reload":
		return s.reload(ctx, vrrpCtx)
	case "maintenance":
		if len(req.Args) != 1 || (req.Args[0] != "on" && req.Args[0] != "off") {
			return Response{Error: "usage: maintenance on|off"}
		}
		return s.setMaintenance(req.Args[0] == "on")
	case "resign":
		if len(req.Args) != 1 {
			return Response{Error: "usage: resign INSTANCE"}
		}
		s.mu.Lock()
		in := s.byName[req.Args[0]]
		s.mu.Unlock()
		if in == nil {
			return Response{Error: fmt.Sprintf("no instance named %q", req.Args[0])}
		}
		if in.vi.Snapshot().State != vrrp.StateMaster {
			return Response{Error: fmt.Sprintf("%s is not MASTER here (state %s): nothing to resign", req.Args[0], in.vi.Snapshot().State)}
		}
		in.vi.Resign()
		s.log.Info("resigning on request", "instance", req.Args[0])
		return Response{OK: true, Message: fmt.Sprintf("%s resigned: priority 0 sent, a backup takes over; this node stays BACKUP until the new master fails or `haloctl resume %s`", req.Args[0], req.Args[0])}
	case "resume":
		return s.resume(req)
	default:
		return Response{Error: fmt.Sprintf("unknown command %q (status, reload, validate, maintenance on|off, resign INSTANCE, resume INSTANCE, version)", req.Cmd)}
	}
}

// resume undoes a resign of one instance (vrrp.Instance.EndResign).
func (s *Supervisor) resume(req Request) Response {
	if len(req.Args) != 1 {
		return Response{Error: "usage: resume INSTANCE"}
	}
	name := req.Args[0]
	s.mu.Lock()
	in := s.byName[name]
	s.mu.Unlock()
	if in == nil {
		return Response{Error: fmt.Sprintf("no instance named %q", name)}
	}
	was := in.vi.Snapshot().Resigned
	in.vi.EndResign()
	s.log.Info("resignation ended on request", "instance", name, "was_resigned", was)
	how := "with preempt on, it takes MASTER back from a lower-priority master within a master-down interval"
	if !in.cfg.PreemptEnabled() {
		how = "with preempt off, it stays BACKUP while a master is heard"
	}
	if !was {
		return Response{OK: true, Message: fmt.Sprintf("%s was not resigned: nothing to undo; it competes for MASTER (%s)", name, how)}
	}
	return Response{OK: true, Message: fmt.Sprintf("%s resigned no more: it competes for MASTER again; %s", name, how)}
}

func (s *Supervisor) setMaintenance(on bool) Response {
	s.mu.Lock()
	s.maintenance = on
	ins := append([]*instance(nil), s.instances...)
	s.mu.Unlock()
	var err error
	if on {
		err = os.WriteFile(s.maintenanceFile(), []byte("maintenance on: halod keeps this node out of MASTER until `haloctl maintenance off`\n"), 0o644)
	} else if err = os.Remove(s.maintenanceFile()); errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	for _, in := range ins {
		in.vi.SetMaintenance(on)
	}
	s.drainBGP(on)
	// The change stands for this run either way (the operator wants the node out now),
	// but a flag that a restart would not find is a failure to report, not a warning:
	// haloctl exits non-zero and whoever asked knows to fix the state directory.
	if err != nil {
		s.log.Error("maintenance flag not persisted", "maintenance", on, "err", err)
		if on {
			return Response{Error: fmt.Sprintf("maintenance is on for this run but not persisted: %v; a restart of halod would bring the node back into MASTER", err)}
		}
		return Response{Error: fmt.Sprintf("maintenance is off for this run but not persisted: %v; a restart of halod would put the node back in maintenance", err)}
	}
	if on {
		s.log.Info("maintenance on: leaving MASTER for every instance")
		return Response{OK: true, Message: "maintenance on: this node leaves MASTER and stays out until `haloctl maintenance off`"}
	}
	s.log.Info("maintenance off")
	return Response{OK: true, Message: "maintenance off: this node competes for MASTER again"}
}

// validate checks halo.yaml (as it is on disk now) and the haproxy.cfg it names.
func (s *Supervisor) validate(ctx context.Context) Response {
	s.mu.Lock()
	running := s.cfg
	s.mu.Unlock()
	path := running.Path()
	var msgs []error
	cfg, err := LoadConfig(path)
	if err != nil {
		msgs = append(msgs, Problems(err)...)
	}
	if err := s.checkHAProxySection(ctx, cfg, running); err != nil {
		msgs = append(msgs, err)
	}
	if len(msgs) > 0 {
		return Response{Error: errors.Join(msgs...).Error()}
	}
	return Response{OK: true, Message: fmt.Sprintf("%s and haproxy.cfg are valid", path)}
}

// checkHAProxySection checks the haproxy section of cfg, a halo.yaml not applied yet, as
// `halod -t` does. Checking only the running HAProxy's files called a section naming a
// missing binary or haproxy.cfg valid, and the next restart failed. A nil cfg (the file
// does not load) or an unchanged section gets the running HAProxy's check.
func (s *Supervisor) checkHAProxySection(ctx context.Context, cfg, running *Config) error {
	ctx, cancel := context.WithTimeout(ctx, running.HAProxy.ReloadTimeout)
	defer cancel()
	if cfg == nil || reflect.DeepEqual(cfg.HAProxy, running.HAProxy) {
		return s.hap.Validate(ctx)
	}
	findings, _, err := CheckHAProxy(ctx, cfg)
	if err == nil {
		return nil
	}
	if len(findings) == 0 {
		findings = []string{err.Error()}
	}
	return fmt.Errorf("%s: the haproxy section changed and does not check out (as halod -t runs it):\n%s", cfg.Path(), strings.Join(findings, "\n"))
}

// Reload re-reads halo.yaml and reloads HAProxy, as SIGHUP asks. It returns the answer a
// control client would get.
func (s *Supervisor) Reload(ctx context.Context) Response {
	return s.submit(ctx, Request{Cmd: "reload"})
}

// reload applies a new halo.yaml (instances whose config did not change keep running
// untouched, VIPs and all: no switchover by reload) and then reloads HAProxy, each
// validated first: a bad halo.yaml changes nothing.
func (s *Supervisor) reload(ctx, vrrpCtx context.Context) Response {
	s.mu.Lock()
	old := s.cfg
	s.mu.Unlock()
	cfg, err := LoadConfig(old.Path())
	if err != nil {
		s.mu.Lock()
		s.configValid = false
		s.mu.Unlock()
		s.log.Error("reload refused: halo.yaml is invalid, nothing changed", "err", err)
		return Response{Error: "halo.yaml invalid, nothing changed:\n" + errors.Join(Problems(err)...).Error()}
	}
	var notes []string
	if !reflect.DeepEqual(cfg.HAProxy, old.HAProxy) {
		if err := s.checkHAProxySection(ctx, cfg, old); err != nil {
			s.mu.Lock()
			s.configValid = false
			s.mu.Unlock()
			s.log.Error("reload refused: the new haproxy section is invalid, nothing changed", "err", err)
			return Response{Error: "halo.yaml refused, nothing changed: " + err.Error()}
		}
		notes = append(notes, "the haproxy section changed: it takes effect when halod restarts")
	}
	if !reflect.DeepEqual(cfg.Control, old.Control) || !reflect.DeepEqual(cfg.Metrics, old.Metrics) || !reflect.DeepEqual(cfg.Log, old.Log) {
		notes = append(notes, "control, metrics and log sections take effect when halod restarts")
	}
	if !reflect.DeepEqual(cfg.BGP, old.BGP) {
		notes = append(notes, "the bgp section changed: it takes effect when halod restarts")
	}
	changed, vrrpErr := s.applyVRRP(vrrpCtx, old, cfg)
	s.mu.Lock()
	// Keep the sections that only a restart applies, so Status shows what runs.
	cfg.HAProxy, cfg.Control, cfg.Metrics, cfg.Log = old.HAProxy, old.Control, old.Metrics, old.Log
	cfg.BGP = old.BGP
	s.cfg = cfg
	s.configValid = true
	s.mu.Unlock()
	r, err := s.hap.Reload(ctx)
	msg := fmt.Sprintf("halo.yaml: %s", changed)
	for _, n := range notes {
		msg += "; " + n
	}
	if err != nil {
		return Response{Error: fmt.Sprintf("%s; HAProxy reload %s: %v", msg, r.Result, err)}
	}
	if vrrpErr != nil {
		return Response{Error: fmt.Sprintf("%s; HAProxy reloaded, but: %v", msg, vrrpErr)}
	}
	return Response{OK: true, Message: fmt.Sprintf("%s; HAProxy reloaded in %.0f ms", msg, r.Seconds*1000)}
}
