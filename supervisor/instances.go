package supervisor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/halo-lb/halo/vrrp"
)

func (s *Supervisor) startInstance(ctx context.Context, ic vrrp.InstanceConfig) error {
	var opts vrrp.Options
	if s.deps.VRRPOptions != nil {
		opts = s.deps.VRRPOptions(ic)
	}
	if opts.Logger == nil {
		opts.Logger = s.log
	}
	if opts.Transport == nil && opts.Sockets == nil {
		// The daemon's own I/O; an injected transport keeps Go timers, which a test's
		// fake clock drives.
		opts.Sockets, opts.Timers = s.sockets, s.timers
	}
	if given := opts.OnChange; given != nil {
		opts.OnChange = func() { given(); s.changes.bump() }
	} else {
		opts.OnChange = s.changes.bump
	}
	vi, err := vrrp.NewInstance(ic, opts)
	if err != nil {
		return err
	}
	in := &instance{vi: vi, cfg: ic, done: make(chan struct{})}
	ictx, cancel := context.WithCancel(ctx)
	in.cancel = cancel
	// Registered and given HAProxy's health under healthMu, so a health change cannot
	// slip between the two.
	s.healthMu.Lock()
	s.mu.Lock()
	maint := s.maintenance
	s.instances = append(s.instances, in)
	s.byName[ic.Name] = in
	s.mu.Unlock()
	if maint {
		vi.SetMaintenance(true)
	}
	// Until HAProxy's first verdict (healthy is false before it), a tracked instance
	// counts it as failing: a node must not take the VIP before its HAProxy can serve.
	track(vi, s.currentHealth())
	s.healthMu.Unlock()
	go s.runInstance(ictx, in)
	return nil
}

// runInstance runs one instance, restarting it with backoff when Run fails (its interface
// has no address yet at boot, a socket error): one broken instance must not stay dead, nor
// take the daemon down with it.
func (s *Supervisor) runInstance(ctx context.Context, in *instance) {
	defer close(in.done)
	delay := instanceRestartMin
	for {
		started := time.Now()
		err := in.vi.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > instanceRestartMax {
			delay = instanceRestartMin
		}
		msg := "stopped"
		if err != nil {
			msg = err.Error()
		}
		in.mu.Lock()
		in.failure = fmt.Sprintf("instance failed: %s; restarting in %s", msg, delay)
		in.mu.Unlock()
		s.changes.bump()
		s.log.Error("VRRP instance failed, restarting", "instance", in.cfg.Name, "err", err, "restart_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		in.mu.Lock()
		in.failure = ""
		in.mu.Unlock()
		s.changes.bump()
		delay = min(2*delay, instanceRestartMax)
	}
}

func (s *Supervisor) startGroup(ctx context.Context, gc vrrp.SyncGroupConfig) error {
	s.mu.Lock()
	var members []*vrrp.Instance
	for _, name := range gc.Instances {
		if in := s.byName[name]; in != nil {
			members = append(members, in.vi)
		}
	}
	s.mu.Unlock()
	g, err := vrrp.NewGroup(gc, members, vrrp.GroupOptions{Logger: s.log})
	if err != nil {
		return err
	}
	gctx, cancel := context.WithCancel(ctx)
	gr := &group{g: g, cfg: gc, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(gr.done)
		if err := g.Run(gctx); err != nil {
			s.log.Error("sync group stopped", "group", gc.Name, "err", err)
		}
	}()
	s.mu.Lock()
	s.groups[gc.Name] = gr
	s.mu.Unlock()
	return nil
}

// stopGroup detaches a group from its members (which keep running) before a reload
// replaces it.
func (s *Supervisor) stopGroup(name string) {
	s.mu.Lock()
	gr := s.groups[name]
	delete(s.groups, name)
	s.mu.Unlock()
	if gr != nil {
		gr.g.Close()
		gr.cancel() // a closed group's Run returns once its queued hooks ran
		<-gr.done
	}
}

// stopInstances stops every instance and waits: each master sends priority 0 and hands
// over, keeping its VIPs until the new master speaks (at most about four advert
// intervals), so HAProxy, stopped after this, serves until then.
func (s *Supervisor) stopInstances() {
	s.mu.Lock()
	ins := s.instances
	groups := s.groups
	s.instances, s.byName, s.groups = nil, map[string]*instance{}, map[string]*group{}
	s.mu.Unlock()
	for _, in := range ins {
		in.cancel()
	}
	for _, in := range ins {
		<-in.done
	}
	for _, gr := range groups {
		<-gr.done // a group's Run returns once its members have stopped
	}
}

// applyVRRP starts, stops or restarts the instances whose config changed, and touches
// nothing else. keepalived's reload drops every VIP and can switch over (its issues #2159,
// #754); halo's does neither for an unchanged instance.
func (s *Supervisor) applyVRRP(ctx context.Context, old, cfg *Config) (string, error) {
	oldBy := map[string]vrrp.InstanceConfig{}
	for _, ic := range old.VRRP.Instances {
		oldBy[ic.Name] = ic
	}
	newBy := map[string]bool{}
	var added, removed, restarted, kept []string
	for _, ic := range cfg.VRRP.Instances {
		newBy[ic.Name] = true
		prev, ok := oldBy[ic.Name]
		switch {
		case !ok:
			added = append(added, ic.Name)
		case !reflect.DeepEqual(prev, ic):
			restarted = append(restarted, ic.Name)
		default:
			kept = append(kept, ic.Name)
		}
	}
	for _, ic := range old.VRRP.Instances {
		if !newBy[ic.Name] {
			removed = append(removed, ic.Name)
		}
	}
	// A group whose config changed, or one of whose members is replaced, is rebuilt; it is
	// detached before its members stop so that it does not move the ones that stay.
	touched := append(append(append([]string(nil), added...), removed...), restarted...)
	var regroup []vrrp.SyncGroupConfig
	for _, gc := range old.VRRP.SyncGroups {
		s.mu.Lock()
		_, running := s.groups[gc.Name]
		s.mu.Unlock()
		if !running {
			continue
		}
		keep := false
		for _, ng := range cfg.VRRP.SyncGroups {
			if ng.Name == gc.Name && reflect.DeepEqual(ng, gc) && !slices.ContainsFunc(gc.Instances, func(n string) bool { return slices.Contains(touched, n) }) {
				keep = true
			}
		}
		if !keep {
			s.stopGroup(gc.Name)
		}
	}
	for _, ng := range cfg.VRRP.SyncGroups {
		s.mu.Lock()
		_, running := s.groups[ng.Name]
		s.mu.Unlock()
		if !running {
			regroup = append(regroup, ng)
		}
	}
	s.stopNamed(append(append([]string(nil), removed...), restarted...))
	var errs []error
	for _, ic := range cfg.VRRP.Instances {
		if slices.Contains(added, ic.Name) || slices.Contains(restarted, ic.Name) {
			if err := s.startInstance(ctx, ic); err != nil {
				s.log.Error("VRRP instance cannot start", "instance", ic.Name, "err", err)
				errs = append(errs, fmt.Errorf("instance %s: %w", ic.Name, err))
			}
		}
	}
	for _, gc := range regroup {
		if err := s.startGroup(ctx, gc); err != nil {
			s.log.Error("sync group cannot start", "group", gc.Name, "err", err)
			errs = append(errs, fmt.Errorf("sync group %s: %w", gc.Name, err))
		}
	}
	s.log.Info("halo.yaml reloaded", "kept", kept, "added", added, "removed", removed, "restarted", restarted)
	return fmt.Sprintf("%d instances kept, %d added, %d removed, %d restarted", len(kept), len(added), len(removed), len(restarted)), errors.Join(errs...)
}

// stopNamed stops the named instances, all at once: each may wait out a handover, and
// they would otherwise wait one after another.
func (s *Supervisor) stopNamed(names []string) {
	var stopping []*instance
	s.mu.Lock()
	for _, name := range names {
		in := s.byName[name]
		if in == nil {
			continue
		}
		delete(s.byName, name)
		s.instances = slices.DeleteFunc(s.instances, func(x *instance) bool { return x == in })
		stopping = append(stopping, in)
	}
	s.mu.Unlock()
	for _, in := range stopping {
		in.cancel()
	}
	for _, in := range stopping {
		<-in.done
	}
}
