package vrrp

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// received is a validated advert handed from the reader to the loop.
type received struct {
	src netip.Addr
	adv Advert
}

// Run speaks VRRP until ctx ends, then shuts down gracefully: a master sends priority 0
// and keeps its VIPs until it hears the new master's advert or Machine.HandoverTimeout
// (about four advert intervals) has passed, then removes them; so Run returns at most that
// long after ctx ends. It returns nil after a graceful shutdown, or the error that stopped
// it (the transport could not be opened, or failed for good).
func (in *Instance) Run(ctx context.Context) error {
	in.mu.Lock()
	if in.running {
		in.mu.Unlock()
		return fmt.Errorf("vrrp: instance %s is already running", in.cfg.Name)
	}
	in.running = true
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		in.running = false
		in.mu.Unlock()
	}()

	tr := in.opts.Transport
	if tr == nil {
		var err error
		if in.opts.Sockets != nil {
			tr, err = in.opts.Sockets.Listen(ctx, in.transportConfig())
		} else {
			tr, err = ListenTransport(ctx, in.transportConfig())
		}
		if err != nil {
			return err
		}
	}
	owner := in.opts.Owner
	if owner == nil {
		owner = NewNetlinkOwner(in.cfg.Interface, in.cfg.VIPs)
	}
	defer owner.Close()

	var wg sync.WaitGroup
	hooksDone := make(chan struct{})
	if !in.cfg.Notify.empty() {
		q := newHookQueue(in.opts.Hooks, in.log, func(f func(*HookCounters)) {
			in.mu.Lock()
			f(&in.counters.HookCounters)
			in.mu.Unlock()
		})
		in.mu.Lock()
		in.hooks = q
		in.mu.Unlock()
		// Hooks outlive ctx, so that the stop hook runs; each is bounded by its timeout.
		hookCtx := context.WithoutCancel(ctx)
		wg.Go(func() { q.work(hookCtx, hooksDone) })
	}

	// The link watcher, like the reader, outlives ctx: a link lost during a shutdown
	// handover still releases the VIPs at once.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	links := in.opts.Links
	if links == nil && in.opts.Transport == nil {
		links = NewNetlinkLinkWatcher(in.log)
	}
	if links != nil {
		in.watchLinks(ctx, watchCtx, links, &wg)
	}
	wg.Go(func() {
		if err := owner.WatchRemovals(watchCtx, in.vipRemoved); err != nil && watchCtx.Err() == nil {
			in.log.Error("VIP watch stopped: VIPs removed behind halo's back are no longer restored", "err", err)
		}
	})

	l := &loop{in: in, tr: tr, owner: owner, rx: make(chan received, 16), rxErr: make(chan error, 1)}
	l.src = tr.Source()
	in.mu.Lock()
	in.snap.Source = l.src
	in.mu.Unlock()
	l.recv = newReceiver(in, tr)
	// The reader outlives ctx: a stopping master still listens for the new master's
	// advert while it hands over. A shared socket's port needs none: its socket's reader
	// hands each packet to hear.
	readerStop, readerDone := make(chan struct{}), make(chan struct{})
	if f, ok := tr.(packetFeed); ok {
		l.feedClosed, l.feedErr = f.deliverTo(func(pk Packet) {
			if r, ok := l.hear(pk); ok {
				select {
				case l.rx <- r:
				default: // the loop lags: dropped, as a full socket buffer drops
				}
			}
		})
		close(readerDone)
	} else {
		go func() {
			defer close(readerDone)
			l.read(readerStop)
		}()
	}
	err := l.run(ctx)
	l.stopped = true
	l.report(time.Now()) // the sync group learns that this member has stopped
	close(readerStop)
	tr.Close()
	<-readerDone
	stopWatch()
	// The hook goroutine drains what is queued, the stop hook included.
	close(hooksDone)
	wg.Wait()
	in.mu.Lock()
	in.hooks = nil
	for name := range in.ctl.faults {
		if strings.HasPrefix(name, linkFaultPrefix) {
			delete(in.ctl.faults, name) // the next Run reads the links afresh
		}
	}
	for name := range in.ctl.weights {
		if strings.HasPrefix(name, linkFaultPrefix) {
			delete(in.ctl.weights, name)
		}
	}
	g := in.group
	in.mu.Unlock()
	if g != nil {
		g.syncWeights()
	}
	return err
}

// trackedLinks returns the links the instance watches, its own interface first (always
// a fault), then its track_interfaces, each with its policy.
func (in *Instance) trackedLinks() (names []string, policy map[string]TrackInterface) {
	names = []string{in.cfg.Interface}
	policy = map[string]TrackInterface{in.cfg.Interface: {Name: in.cfg.Interface}}
	for _, t := range in.cfg.TrackInterfaces {
		if _, ok := policy[t.Name]; !ok {
			names = append(names, t.Name)
			policy[t.Name] = t
		}
	}
	return names, policy
}

// watchLinks starts the link watcher in wg and waits (at most linkSettle, or until ctx
// ends) for the first report of every tracked link, so that the machine starts in FAULT
// (or at its weighted priority) when one is down. A link's policy sets or clears the fault
// "link:<name>", or sets its weight under the same name.
func (in *Instance) watchLinks(ctx, watchCtx context.Context, links LinkWatcher, wg *sync.WaitGroup) {
	names, policy := in.trackedLinks()
	settled := make(chan struct{})
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	report := func(ls LinkState) {
		pol, ok := policy[ls.Name]
		if !ok {
			return
		}
		key := linkFaultPrefix + ls.Name
		weight, fault := pol.Delta(ls.Up)
		in.mu.Lock()
		was := in.ctl.faults[key]
		oldWeight := in.ctl.weights[key]
		setKey(in.ctl.faults, key, fault)
		if weight != 0 {
			in.ctl.weights[key] = weight
		} else {
			delete(in.ctl.weights, key)
		}
		g := in.group
		in.mu.Unlock()
		mu.Lock()
		first := !seen[ls.Name]
		seen[ls.Name] = true
		if first && len(seen) == len(names) {
			close(settled)
		}
		mu.Unlock()
		if weight != oldWeight && g != nil {
			g.syncWeights()
		}
		switch {
		case was == fault && weight == oldWeight && !first:
			return
		case pol.Weight != 0:
			in.log.Info("tracked interface "+upDown(ls.Up), "link", ls.Name, "weight", weight)
		case fault && !was:
			in.log.Warn("tracked interface "+upDown(ls.Up)+": fault", "link", ls.Name)
		case !fault && was:
			in.log.Info("tracked interface "+upDown(ls.Up)+": fault cleared", "link", ls.Name)
		}
		in.poke()
	}
	wg.Go(func() {
		if err := links.Watch(watchCtx, names, report); err != nil && watchCtx.Err() == nil {
			in.log.Error("link tracking stopped: link changes are no longer seen", "err", err)
		}
	})
	t := time.NewTimer(linkSettle)
	defer t.Stop()
	select {
	case <-settled:
	case <-t.C:
		in.log.Warn("tracked interfaces not reported in time; starting anyway", "links", names, "after", linkSettle)
	case <-ctx.Done():
	}
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func (in *Instance) transportConfig() TransportConfig {
	tc := TransportConfig{Interface: in.cfg.Interface, IPv6: in.cfg.IPv6(), VRID: uint8(in.cfg.VRID)}
	for _, v := range in.cfg.VIPs {
		tc.VIPs = append(tc.VIPs, v.Prefix)
	}
	if u := in.cfg.Unicast; u != nil {
		if u.Source != "" {
			tc.Source, _ = netip.ParseAddr(u.Source) // checked by Validate
		}
		for _, p := range u.Peers {
			a, _ := netip.ParseAddr(p)
			tc.Peers = append(tc.Peers, a)
		}
	}
	return tc
}
