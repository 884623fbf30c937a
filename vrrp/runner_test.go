package vrrp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// memNet is an in-memory link: every port's writes reach every other port, as multicast
// on one segment does. It runs inside a synctest bubble, so time is fake and every wait
// below is exact.
type memNet struct {
	mu    sync.Mutex
	ports []*memPort
	split map[netip.Addr]int // partition group by address; same group (or absent) hears
	held  map[netip.Prefix][]string
}

func newMemNet() *memNet {
	return &memNet{split: map[netip.Addr]int{}, held: map[netip.Prefix][]string{}}
}

type memPort struct {
	net    *memNet
	addr   netip.Addr
	peers  []netip.Addr
	in     chan Packet
	closed chan struct{}
	once   sync.Once
	dead   bool // a crashed node: sends nothing; guarded by net.mu
}

var _ Transport = (*memPort)(nil)

func (n *memNet) port(addr string) *memPort {
	p := &memPort{net: n, addr: netip.MustParseAddr(addr), in: make(chan Packet, 64), closed: make(chan struct{})}
	n.mu.Lock()
	n.ports = append(n.ports, p)
	n.mu.Unlock()
	return p
}

func (p *memPort) ReadPacket(b []byte) (Packet, error) {
	select {
	case pk := <-p.in:
		n := copy(b, pk.Data)
		pk.Data = b[:n]
		return pk, nil
	case <-p.closed:
		return Packet{}, net.ErrClosed
	}
}

func (p *memPort) WriteTo(msg []byte, dst netip.Addr) error {
	p.net.mu.Lock()
	defer p.net.mu.Unlock()
	if p.dead {
		return nil
	}
	for _, q := range p.net.ports {
		if q == p || p.net.split[p.addr] != p.net.split[q.addr] {
			continue
		}
		if dst.IsMulticast() || dst == q.addr {
			q.deliver(Packet{Data: bytes.Clone(msg), Src: p.addr, Dst: dst, TTL: TTL})
		}
	}
	return nil
}

func (p *memPort) deliver(pk Packet) {
	select {
	case p.in <- pk:
	default: // a full queue drops, as a socket buffer does
	}
}

func (p *memPort) Source() netip.Addr { return p.addr }
func (p *memPort) Destinations() []netip.Addr {
	if len(p.peers) > 0 {
		return p.peers
	}
	return []netip.Addr{MulticastGroup(p.addr.Is6())}
}
func (p *memPort) Close() error { p.once.Do(func() { close(p.closed) }); return nil }

// crash makes the node fall silent at once, as a SIGKILL or a power cut would.
func (p *memPort) crash() {
	p.net.mu.Lock()
	p.dead = true
	p.net.mu.Unlock()
}

// crash makes the node fall silent and leaves its VIPs where they are, as a SIGKILL
// would; what its Run still does afterwards reaches nobody.
func (nd *node) crash() {
	nd.port.crash()
	nd.owner.net.mu.Lock()
	nd.owner.dead = true
	nd.owner.net.mu.Unlock()
}

// memOwner records which node holds which VIP on the shared link.
type memOwner struct {
	net       *memNet
	name      string
	vips      []netip.Prefix
	mu        sync.Mutex
	announces int
	dead      bool   // a crashed process: touches nothing any more; guarded by net.mu
	removed   func() // WatchRemovals' callback; guarded by mu
	failAdd   int    // AddVIPs calls still to fail; guarded by net.mu
	failDel   int    // RemoveVIPs calls still to fail; guarded by net.mu
}

func (o *memOwner) Missing() ([]netip.Prefix, error) {
	o.net.mu.Lock()
	defer o.net.mu.Unlock()
	var out []netip.Prefix
	for _, v := range o.vips {
		if !slices.Contains(o.net.held[v], o.name) {
			out = append(out, v)
		}
	}
	return out, nil
}

func (o *memOwner) WatchRemovals(ctx context.Context, removed func()) error {
	o.mu.Lock()
	o.removed = removed
	o.mu.Unlock()
	<-ctx.Done()
	return nil
}

// steal removes the VIPs behind the instance's back, as `ip addr del` would.
func (o *memOwner) steal() {
	o.net.mu.Lock()
	for _, v := range o.vips {
		o.net.held[v] = slices.DeleteFunc(o.net.held[v], func(s string) bool { return s == o.name })
	}
	o.net.mu.Unlock()
	o.mu.Lock()
	r := o.removed
	o.mu.Unlock()
	if r != nil {
		r()
	}
}

func (o *memOwner) AddVIPs() error {
	o.net.mu.Lock()
	defer o.net.mu.Unlock()
	if o.dead {
		return nil
	}
	if o.failAdd > 0 {
		o.failAdd--
		return errors.New("file exists (a test's failure)")
	}
	for _, v := range o.vips {
		if !slices.Contains(o.net.held[v], o.name) {
			o.net.held[v] = append(o.net.held[v], o.name)
		}
	}
	return nil
}

func (o *memOwner) RemoveVIPs() error {
	o.net.mu.Lock()
	defer o.net.mu.Unlock()
	if o.dead {
		return nil
	}
	if o.failDel > 0 {
		o.failDel--
		return errors.New("too many open files (a test's failure)")
	}
	for _, v := range o.vips {
		o.net.held[v] = slices.DeleteFunc(o.net.held[v], func(s string) bool { return s == o.name })
	}
	return nil
}

func (o *memOwner) Announce() error {
	o.mu.Lock()
	o.announces++
	o.mu.Unlock()
	return nil
}

func (o *memOwner) Close() error { return nil }

func (o *memOwner) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.announces
}

// holders returns who holds the VIP.
func (n *memNet) holders(v netip.Prefix) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.held[v])
}

// node is one running instance of a test.
type node struct {
	in       *Instance
	port     *memPort
	owner    *memOwner
	cancel   context.CancelFunc
	done     chan error
	log      *syncBuf
	stopOnce sync.Once
	mu       sync.Mutex
	events   []Transition
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testVIP() netip.Prefix { return netip.MustParsePrefix("192.0.2.100/24") }

// trackWeight tracks HAProxy with a weight.
func trackWeight(w int) func(*InstanceConfig) {
	return func(c *InstanceConfig) { c.TrackHAProxy = &Track{Weight: w} }
}

func testConfig(name string, prio int, mod ...func(*InstanceConfig)) InstanceConfig {
	c := InstanceConfig{Name: name, Interface: "eth0", VRID: 51, Priority: prio,
		AdvertInterval: time.Second, VIPs: []VIP{{Prefix: testVIP()}}}
	for _, f := range mod {
		f(&c)
	}
	return c
}

func startNode(t *testing.T, n *memNet, addr string, cfg InstanceConfig) *node {
	t.Helper()
	return startNodeWith(t, n, addr, cfg, nil)
}

// startNodeWith is startNode with the options adjusted by opt (links, hooks, ...).
func startNodeWith(t *testing.T, n *memNet, addr string, cfg InstanceConfig, opt func(*Options)) *node {
	t.Helper()
	nd := newNode(t, n, addr, cfg, opt)
	nd.start(t)
	return nd
}

// newNode builds a node's instance without starting it.
func newNode(t *testing.T, n *memNet, addr string, cfg InstanceConfig, opt func(*Options)) *node {
	t.Helper()
	nd := &node{port: n.port(addr), done: make(chan error, 1), log: &syncBuf{}}
	nd.owner = &memOwner{net: n, name: cfg.Name}
	if cfg.Unicast != nil {
		for _, p := range cfg.Unicast.Peers {
			nd.port.peers = append(nd.port.peers, netip.MustParseAddr(p))
		}
	}
	for _, v := range cfg.VIPs {
		nd.owner.vips = append(nd.owner.vips, v.Prefix)
	}
	opts := Options{
		Logger:    slog.New(slog.NewTextHandler(nd.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Transport: nd.port,
		Owner:     nd.owner,
		OnTransition: func(tr Transition) {
			nd.mu.Lock()
			nd.events = append(nd.events, tr)
			nd.mu.Unlock()
		},
	}
	if opt != nil {
		opt(&opts)
	}
	in, err := NewInstance(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	nd.in = in
	return nd
}

// start runs the node's instance until the test ends (or stop).
func (nd *node) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	nd.cancel = cancel
	go func() { nd.done <- nd.in.Run(ctx) }()
	t.Cleanup(func() {
		nd.stop(t)
		if t.Failed() {
			t.Logf("%s log:\n%s", nd.in.Name(), nd.log)
		}
	})
}

// stop shuts the node down gracefully and waits for Run to return.
func (nd *node) stop(t *testing.T) {
	t.Helper()
	nd.stopOnce.Do(func() {
		nd.cancel()
		if err := <-nd.done; err != nil {
			t.Errorf("%s: Run: %v", nd.in.Name(), err)
		}
	})
}

func (nd *node) state() State { return nd.in.Snapshot().State }

func (nd *node) transitions() []Transition {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return slices.Clone(nd.events)
}

// advance moves the fake clock by d and lets every goroutine of the bubble settle.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func wantStates(t *testing.T, when string, nodes map[*node]State) {
	t.Helper()
	for nd, want := range nodes {
		if got := nd.state(); got != want {
			t.Errorf("%s: %s is %s, want %s", when, nd.in.Name(), got, want)
		}
	}
}

func wantHolder(t *testing.T, when string, n *memNet, who ...string) {
	t.Helper()
	if got := n.holders(testVIP()); !slices.Equal(got, who) {
		t.Errorf("%s: VIP held by %v, want %v", when, got, who)
	}
}

// mdi150 is the master-down interval at priority 150 and 1 s.
const mdi150 = 3*time.Second + 106*time.Second/256

func TestInstanceGracefulFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		a := startNode(t, n, "192.0.2.11", testConfig("A", 150))
		b := startNode(t, n, "192.0.2.12", testConfig("B", 100))
		advance(mdi150 + time.Millisecond)
		wantStates(t, "after start", map[*node]State{a: StateMaster, b: StateBackup})
		wantHolder(t, "after start", n, "A")
		if s := b.in.Snapshot(); s.MasterSeen != a.port.addr || s.MasterPriority != 150 {
			t.Errorf("B sees master %s/%d", s.MasterSeen, s.MasterPriority)
		}
		if !strings.Contains(a.log.String(), "VRRP_Instance(A) Entering MASTER STATE") {
			t.Errorf("no keepalived-style line in the log:\n%s", a.log)
		}

		// A stops gracefully: priority 0, and B takes over after its skew time. A keeps
		// the VIP (and answers on it) until it hears B's first advert.
		stopped := time.Now()
		a.cancel()
		synctest.Wait()
		wantHolder(t, "A stopping", n, "A")
		if s := a.in.Snapshot(); s.State != StateInit || !s.HoldsVIPs {
			t.Errorf("A stopping: state %s, holds VIPs %v; want INIT holding them", s.State, s.HoldsVIPs)
		}
		advance(skew100 - time.Millisecond)
		wantStates(t, "just before the skew time", map[*node]State{b: StateBackup})
		wantHolder(t, "just before the skew time", n, "A")
		advance(time.Millisecond)
		wantStates(t, "at the skew time", map[*node]State{b: StateMaster})
		// B's first advert starts A's drain: both hold the VIP until it ends.
		wantHolder(t, "B heard, A draining", n, "A", "B")
		if tr := b.transitions(); len(tr) != 2 || tr[1].To != StateMaster || tr[1].At.Sub(stopped) != skew100 {
			t.Errorf("B transitions %+v", tr)
		}
		advance(drain1s - time.Millisecond)
		wantHolder(t, "just before the end of the drain", n, "A", "B")
		advance(time.Millisecond)
		wantHolder(t, "after the drain", n, "B")
		a.stop(t) // Run has returned: the handover ended with the drain
		if d := time.Since(stopped); d != skew100+drain1s {
			t.Errorf("A's Run returned %v after ctx ended, want %v (B's first advert and the drain)", d, skew100+drain1s)
		}
		sa := a.in.Snapshot()
		if sa.State != StateInit || sa.Counters.PriorityZeroSent != 1 || sa.HoldsVIPs {
			t.Errorf("A after stop: %+v", sa)
		}
		if got := a.transitions(); len(got) != 3 || got[2].From != StateMaster || got[2].To != StateInit || got[2].Reason != "shutdown" {
			t.Errorf("A transitions %+v", got)
		}
		if sb := b.in.Snapshot(); sb.Counters.PriorityZeroReceived != 1 || sb.Counters.Transitions[StateChange{StateBackup, StateMaster}] != 1 {
			t.Errorf("B counters %+v", sb.Counters)
		}
	})
}

func TestInstanceCrashFailoverAndPreempt(t *testing.T) {
	for _, preempt := range []bool{true, false} {
		t.Run(map[bool]string{true: "preempt", false: "nopreempt"}[preempt], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newMemNet()
				cfgA := testConfig("A", 150, func(c *InstanceConfig) { c.Preempt = &preempt })
				a := startNode(t, n, "192.0.2.11", cfgA)
				b := startNode(t, n, "192.0.2.12", testConfig("B", 100))
				advance(mdi150 + time.Millisecond)
				wantStates(t, "after start", map[*node]State{a: StateMaster, b: StateBackup})

				// A crashes just after an advert: B waits its master-down interval.
				advance(time.Second - 2*time.Millisecond) // A's advert goes out at the next ms
				advance(time.Millisecond)
				a.crash()
				advance(mdi100 - time.Millisecond)
				wantStates(t, "just before master down", map[*node]State{b: StateBackup})
				advance(2 * time.Millisecond)
				wantStates(t, "after master down", map[*node]State{b: StateMaster})

				// A's crashed process is gone; it comes back on the same address.
				a.cancel()
				synctest.Wait()
				n.mu.Lock()
				n.ports = slices.DeleteFunc(n.ports, func(p *memPort) bool { return p == a.port })
				delete(n.held, testVIP()) // the reboot wiped A's addresses
				n.held[testVIP()] = []string{"B"}
				n.mu.Unlock()
				a2 := startNode(t, n, "192.0.2.11", cfgA)
				advance(10 * time.Second)
				if preempt {
					wantStates(t, "A back with preempt", map[*node]State{a2: StateMaster, b: StateBackup})
					wantHolder(t, "A back with preempt", n, "A")
				} else {
					wantStates(t, "A back without preempt", map[*node]State{a2: StateBackup, b: StateMaster})
					wantHolder(t, "A back without preempt", n, "B")
				}
			})
		})
	}
}

func TestInstanceControl(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		a := startNode(t, n, "192.0.2.11", testConfig("A", 150, trackWeight(-60)))
		b := startNode(t, n, "192.0.2.12", testConfig("B", 100))
		advance(mdi150 + time.Millisecond)
		wantStates(t, "start", map[*node]State{a: StateMaster, b: StateBackup})

		// A fault: FAULT at once, priority 0, B takes over after its skew time.
		a.in.setFault("link:eth0", true)
		synctest.Wait()
		wantStates(t, "fault set", map[*node]State{a: StateFault})
		wantHolder(t, "fault set", n)
		advance(skew100)
		wantStates(t, "fault set", map[*node]State{b: StateMaster})
		wantHolder(t, "fault set", n, "B")
		if s := a.in.Snapshot(); !slices.Equal(s.Faults, []string{"link:eth0"}) {
			t.Errorf("faults %v", s.Faults)
		}

		// Cleared: back to BACKUP, then preempt after a master-down interval.
		a.in.setFault("link:eth0", false)
		synctest.Wait()
		wantStates(t, "fault cleared", map[*node]State{a: StateBackup})
		advance(mdi150)
		wantStates(t, "fault cleared", map[*node]State{a: StateMaster, b: StateBackup})
		wantHolder(t, "fault cleared, B draining", n, "B", "A")
		advance(drain1s)
		wantHolder(t, "fault cleared", n, "A")

		// A weighted tracker drops A below B and A resigns: B takes over in its skew time.
		a.in.SetTracked(TrackerHAProxy, true)
		synctest.Wait()
		if s := a.in.Snapshot(); s.EffectivePriority != 90 || s.Priority != 150 {
			t.Errorf("priority %d/%d, want 150/90", s.Priority, s.EffectivePriority)
		}
		advance(5 * time.Second)
		wantStates(t, "weight", map[*node]State{a: StateBackup, b: StateMaster})
		wantHolder(t, "weight", n, "B")
		a.in.SetTracked(TrackerHAProxy, false)
		advance(5 * time.Second)
		wantStates(t, "weight cleared", map[*node]State{a: StateMaster, b: StateBackup})

		// Resign: B takes over in skew time and keeps the role; A holds the VIP until then.
		a.in.Resign()
		synctest.Wait()
		wantStates(t, "resign", map[*node]State{a: StateBackup})
		wantHolder(t, "resign, handing over", n, "A")
		advance(skew100)
		wantStates(t, "resign", map[*node]State{b: StateMaster})
		wantHolder(t, "resign, A draining", n, "A", "B")
		advance(drain1s)
		wantHolder(t, "resign, handed over", n, "B")
		advance(10 * time.Second)
		wantStates(t, "after resign", map[*node]State{a: StateBackup, b: StateMaster})
		wantHolder(t, "after resign", n, "B")

		// Maintenance on B: A takes over; B never comes back while it lasts.
		b.in.SetMaintenance(true)
		advance(10 * time.Second)
		wantStates(t, "maintenance", map[*node]State{a: StateMaster, b: StateBackup})
		a.stop(t)
		advance(10 * time.Second)
		wantStates(t, "maintenance, A gone", map[*node]State{b: StateBackup})
		wantHolder(t, "maintenance, A gone", n)
		if !b.in.Snapshot().Maintenance {
			t.Error("snapshot does not show maintenance")
		}
		b.in.SetMaintenance(false)
		advance(mdi100 + time.Millisecond)
		wantStates(t, "maintenance off", map[*node]State{b: StateMaster})
	})
}

func TestInstanceSplitBrainHeals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		a := startNode(t, n, "192.0.2.11", testConfig("A", 150))
		b := startNode(t, n, "192.0.2.12", testConfig("B", 100))
		advance(mdi150 + time.Millisecond)
		n.mu.Lock()
		n.split[b.port.addr] = 1
		n.mu.Unlock()
		advance(5 * time.Second)
		wantStates(t, "partitioned", map[*node]State{a: StateMaster, b: StateMaster})
		announced := a.owner.count()
		n.mu.Lock()
		delete(n.split, b.port.addr)
		n.mu.Unlock()
		// B's next advert reaches A, which answers at once; B yields in one round trip,
		// well before A's own next advert would have gone out.
		advance(time.Second)
		wantStates(t, "healed", map[*node]State{a: StateMaster, b: StateBackup})
		wantHolder(t, "healed", n, "A")
		if a.owner.count() <= announced {
			t.Error("A did not re-announce the VIP on meeting the lower-priority master")
		}
	})
}

func TestInstanceOwnerAndInvalid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		a := startNode(t, n, "192.0.2.11", testConfig("A", 255, func(c *InstanceConfig) { c.AddressOwner = true }, trackWeight(-100)))
		synctest.Wait()
		wantStates(t, "owner at start", map[*node]State{a: StateMaster})
		if got := a.owner.count(); got != DefaultGARPRepeat {
			t.Errorf("%d announcements, want a burst of %d", got, DefaultGARPRepeat)
		}
		advance(DefaultGARPDelay)
		if got := a.owner.count(); got != 2*DefaultGARPRepeat {
			t.Errorf("%d announcements after the GARP delay, want %d", got, 2*DefaultGARPRepeat)
		}
		src, dst := netip.MustParseAddr("192.0.2.99"), MulticastGroup(false)
		good := Advert{Version: 3, VRID: 51, Priority: 200, Interval: time.Second, Addresses: []netip.Addr{testVIP().Addr()}}
		msg, err := good.Marshal(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		other := good
		other.VRID = 52
		otherMsg, _ := other.Marshal(src, dst)
		v2 := good
		v2.Version = 2
		v2Msg, _ := v2.Marshal(src, dst)
		bad := bytes.Clone(msg)
		bad[7] ^= 1
		for _, pk := range []Packet{
			{Data: msg, Src: src, Dst: dst, TTL: 254},
			{Data: bad, Src: src, Dst: dst, TTL: TTL},
			{Data: msg[:5], Src: src, Dst: dst, TTL: TTL},
			{Data: otherMsg, Src: src, Dst: dst, TTL: TTL},
			{Data: v2Msg, Src: src, Dst: dst, TTL: TTL},
		} {
			a.port.deliver(pk)
		}
		synctest.Wait()
		s := a.in.Snapshot()
		want := map[string]uint64{"ttl": 1, "checksum": 1, "too_short": 1, "version": 1}
		for k, v := range want {
			if s.Counters.Invalid[k] != v {
				t.Errorf("invalid[%s] = %d, want %d (all: %v)", k, s.Counters.Invalid[k], v, s.Counters.Invalid)
			}
		}
		if s.Counters.OtherVRID != 1 || s.Counters.AdvertsReceived != 0 || s.State != StateMaster {
			t.Errorf("counters %+v, state %s", s.Counters, s.State)
		}

		// A weight never lowers an address owner's 255 (it still resigns: its tracked
		// service fails).
		a.in.SetTracked(TrackerHAProxy, true)
		synctest.Wait()
		if p := a.in.Snapshot().EffectivePriority; p != 255 {
			t.Errorf("owner priority %d after a weight, want 255", p)
		}
	})
}

func TestInstanceV2Auth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		v2 := func(pass string) func(*InstanceConfig) {
			return func(c *InstanceConfig) { c.Version, c.AuthPass = 2, pass }
		}
		a := startNode(t, n, "192.0.2.11", testConfig("A", 150, v2("secret")))
		b := startNode(t, n, "192.0.2.12", testConfig("B", 100, v2("wrong")))
		advance(10 * time.Second)
		// B rejects A's adverts: both masters, B counting auth failures.
		wantStates(t, "mismatched passwords", map[*node]State{a: StateMaster, b: StateMaster})
		if s := b.in.Snapshot(); s.Counters.Invalid["auth"] == 0 {
			t.Errorf("B counters %+v", s.Counters)
		}
		// The operator sees why, once a minute per source, not once per advert.
		logged := func() int {
			return strings.Count(b.log.String(), `level=WARN msg="dropped advert" instance=B src=192.0.2.11 reason=auth hint=`)
		}
		if got := logged(); got != 1 {
			t.Errorf("%d warnings for ~10 rejected adverts in 10 s, want 1:\n%s", got, b.log)
		}
		advance(time.Minute)
		if got := logged(); got != 2 || !strings.Contains(b.log.String(), "more_since_last_logged=") {
			t.Errorf("%d warnings after a minute, want 2 with a count of the ones not logged:\n%s", got, b.log)
		}
		c := startNode(t, n, "192.0.2.13", testConfig("C", 50, v2("secret")))
		advance(10 * time.Second)
		wantStates(t, "matching password", map[*node]State{c: StateBackup})
		if s := c.in.Snapshot(); s.MasterSeen != a.port.addr {
			t.Errorf("C sees master %s", s.MasterSeen)
		}
	})
}

func TestInstanceUnicastDropsStrangers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		uni := func(peer string) func(*InstanceConfig) {
			return func(c *InstanceConfig) { c.Unicast = &Unicast{Peers: []string{peer}} }
		}
		a := startNode(t, n, "192.0.2.11", testConfig("A", 150, uni("192.0.2.12")))
		b := startNode(t, n, "192.0.2.12", testConfig("B", 100, uni("192.0.2.11")))
		startNode(t, n, "192.0.2.13", testConfig("S", 200, uni("192.0.2.12")))
		advance(10 * time.Second)
		wantStates(t, "unicast", map[*node]State{a: StateMaster, b: StateBackup})
		if s := b.in.Snapshot(); s.Counters.Invalid["peer"] == 0 || s.MasterSeen != a.port.addr {
			t.Errorf("B: master %s, counters %+v", s.MasterSeen, s.Counters)
		}
	})
}

// TestInstanceHandover checks the planned moves (resign, maintenance, shutdown): the old
// master keeps the VIP until the drain after the new master's first advert has ended, so
// there is no instant when nobody holds it, and the status says so truthfully.
func TestInstanceHandover(t *testing.T) {
	for _, how := range []string{"resign", "maintenance", "shutdown"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newMemNet()
				a := startNode(t, n, "192.0.2.11", testConfig("A", 150))
				b := startNode(t, n, "192.0.2.12", testConfig("B", 100))
				advance(mdi150 + time.Millisecond)
				wantStates(t, "start", map[*node]State{a: StateMaster, b: StateBackup})

				// Sample who holds the VIP at every millisecond of fake time.
				leave := time.Now()
				switch how {
				case "resign":
					a.in.Resign()
				case "maintenance":
					a.in.SetMaintenance(true)
				case "shutdown":
					a.cancel()
				}
				synctest.Wait()
				if s := a.in.Snapshot(); !s.HoldsVIPs || s.State == StateMaster {
					t.Errorf("A just after %s: state %s, holds VIPs %v", how, s.State, s.HoldsVIPs)
				}
				var released time.Duration // when A stopped holding the VIP
				for range 2 * skew100 / time.Millisecond {
					h := n.holders(testVIP())
					if len(h) == 0 {
						t.Fatalf("%v after %s: nobody holds the VIP", time.Since(leave), how)
					}
					if released == 0 && !slices.Contains(h, "A") {
						released = time.Since(leave)
					}
					advance(time.Millisecond)
				}
				// B's first advert comes at its skew time; A answers for the drain more
				// (sampled each millisecond).
				if want := skew100 + drain1s; released < want || released >= want+time.Millisecond {
					t.Errorf("A released the VIP %v after %s, want %v (B's skew time and the drain)", released, how, want)
				}
				wantStates(t, "after the handover", map[*node]State{b: StateMaster})
				wantHolder(t, "after the handover", n, "B")
				if s := a.in.Snapshot(); s.HoldsVIPs {
					t.Errorf("A after the handover still says it holds the VIPs")
				}
				if l := a.log.String(); !strings.Contains(l, "keeping the VIPs for the drain") ||
					!strings.Contains(l, "handover done") || strings.Contains(l, "no new master heard in time") {
					t.Errorf("A's log does not tell the drain and the handover's end truthfully:\n%s", l)
				}
			})
		})
	}
}

// TestInstanceHandoverBounded stops a master that has no backup: it keeps its VIP for one
// handover bound, then releases it and Run returns.
func TestInstanceHandoverBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		a := startNode(t, n, "192.0.2.11", testConfig("A", 150))
		advance(mdi150 + time.Millisecond)
		wantStates(t, "start", map[*node]State{a: StateMaster})
		stopped := time.Now()
		a.cancel()
		synctest.Wait()
		wantHolder(t, "stopping", n, "A")
		advance(hold1s - time.Millisecond)
		wantHolder(t, "just before the bound", n, "A")
		select {
		case err := <-a.done:
			t.Fatalf("Run returned before the handover bound: %v", err)
		default:
		}
		a.stop(t)
		if d := time.Since(stopped); d != hold1s {
			t.Errorf("Run returned %v after ctx ended, want the bound %v", d, hold1s)
		}
		wantHolder(t, "stopped", n)
		if s := a.in.Snapshot(); s.HoldsVIPs || s.State != StateInit {
			t.Errorf("after stop: %+v", s)
		}
	})
}
