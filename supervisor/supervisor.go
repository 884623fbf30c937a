package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// Deps are what the supervisor is built from; cmd/halod fills them.
type Deps struct {
	Logger  *slog.Logger
	Version string
}

// Supervisor owns the daemon's state: one Run loop, one status snapshot.
type Supervisor struct {
	cfg  *Config
	deps Deps

	mu     sync.Mutex
	status Status
}

// New builds a supervisor for cfg; it starts nothing.
func New(cfg *Config, deps Deps) (*Supervisor, error) {
	if deps.Logger == nil {
		return nil, fmt.Errorf("supervisor: a logger is required")
	}
	s := &Supervisor{cfg: cfg, deps: deps}
	s.status = Status{
		Version:     deps.Version,
		ConfigFile:  cfg.Path(),
		ConfigValid: true,
		HAProxy:     HAProxyStatus{Mode: string(cfg.HAProxy.Mode)},
	}
	for _, in := range cfg.VRRP.Instances {
		st := InstanceStatus{
			Name: in.Name, Interface: in.Interface, VRID: in.VRID, Version: in.Version,
			State: "INIT", Priority: in.Priority, EffectivePriority: in.Priority,
		}
		for _, v := range in.VIPs {
			st.VIPs = append(st.VIPs, v.String())
		}
		s.status.Instances = append(s.status.Instances, st)
	}
	return s, nil
}

// Status returns a copy of the current snapshot.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Instances = append([]InstanceStatus(nil), s.status.Instances...)
	return st
}

// Run serves the control socket until ctx ends.
func (s *Supervisor) Run(ctx context.Context) error {
	srv, err := NewControlServer(s.cfg.Control, HandlerFunc(s.handle), s.deps.Logger)
	if err != nil {
		return err
	}
	s.deps.Logger.Info("halod running", "config", s.cfg.Path(), "control", s.cfg.Control.Socket)
	return srv.Serve(ctx)
}

func (s *Supervisor) handle(ctx context.Context, req Request) Response {
	switch req.Cmd {
	case "status":
		st := s.Status()
		return Response{OK: true, Status: &st}
	case "version":
		return Response{OK: true, Version: s.deps.Version, Message: "halod " + s.deps.Version}
	default:
		return Response{Error: fmt.Sprintf("unknown command %q (status, reload, validate, maintenance on|off, resign INSTANCE, version)", req.Cmd)}
	}
}
