package vrrp

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// TestTrackInterfaceDelta pins keepalived 2.2's arithmetic (vrrp_track.c
// initialise_interface_tracking_priorities, keepalived_netlink.c on a change): with
// multiplier m (-1 when reversed) a positive weight adds w*m while up, a negative one
// adds w*m while down, weight 0 faults while down (up when reversed).
func TestTrackInterfaceDelta(t *testing.T) {
	for _, tc := range []struct {
		t                  TrackInterface
		upW, downW         int
		upFault, downFault bool
	}{
		{TrackInterface{Weight: 0}, 0, 0, false, true},
		{TrackInterface{Weight: 0, Reverse: true}, 0, 0, true, false},
		{TrackInterface{Weight: 20}, 20, 0, false, false},
		{TrackInterface{Weight: -20}, 0, -20, false, false},
		{TrackInterface{Weight: 20, Reverse: true}, -20, 0, false, false},
		{TrackInterface{Weight: -20, Reverse: true}, 0, 20, false, false},
	} {
		uw, uf := tc.t.Delta(true)
		dw, df := tc.t.Delta(false)
		if uw != tc.upW || uf != tc.upFault || dw != tc.downW || df != tc.downFault {
			t.Errorf("%+v: up (%d, %v) down (%d, %v), want up (%d, %v) down (%d, %v)",
				tc.t, uw, uf, dw, df, tc.upW, tc.upFault, tc.downW, tc.downFault)
		}
	}
}

func TestTrackInterfaceYAML(t *testing.T) {
	var got struct {
		T []TrackInterface `yaml:"t"`
	}
	src := "t: [eth1, {name: eth2, weight: -20}, {name: eth3, weight: 5, reverse: true}]"
	if err := yaml.Unmarshal([]byte(src), &got); err != nil {
		t.Fatal(err)
	}
	want := []TrackInterface{{Name: "eth1"}, {Name: "eth2", Weight: -20}, {Name: "eth3", Weight: 5, Reverse: true}}
	if diff := cmp.Diff(want, got.T); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	out, err := yaml.Marshal(got.T)
	if err != nil {
		t.Fatal(err)
	}
	var back []TrackInterface
	if err := yaml.Unmarshal(out, &back); err != nil || !cmp.Equal(want, back) {
		t.Errorf("round trip through %q: %v, %v", out, back, err)
	}
	for _, bad := range []struct{ src, want string }{
		{"t: [{name: eth1, wieght: 3}]", "line 1: field wieght not found"},
		{"t: [{name: eth1, weight: x}]", `weight "x" is not a whole number`},
		{"t: [{name: eth1, reverse: yes}]", `reverse "yes" is not true or false`},
		{"t: [[eth1]]", "a name or a mapping"},
	} {
		err := yaml.Unmarshal([]byte(bad.src), &got)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err %v, want %q", bad.src, err, bad.want)
		}
	}
}

func TestTrackInterfaceValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(*InstanceConfig)
		wants []string
	}{
		{"range", func(c *InstanceConfig) { c.TrackInterfaces = []TrackInterface{{Name: "eth1", Weight: 254}} },
			[]string{"instances[0].track_interfaces[0].weight: 254 not in -253..253"}},
		{"duplicate", func(c *InstanceConfig) {
			c.TrackInterfaces = []TrackInterface{{Name: "eth1"}, {Name: "eth1", Weight: -2}}
		},
			[]string{"instances[0].track_interfaces[1]: eth1 is already listed at track_interfaces[0]"}},
		{"own interface weighted", func(c *InstanceConfig) { c.TrackInterfaces = []TrackInterface{{Name: "eth0", Weight: -2}} },
			[]string{"instances[0].track_interfaces[0]: eth0 is the instance's own interface"}},
		{"owner weighted", func(c *InstanceConfig) {
			c.Priority, c.AddressOwner = 255, true
			c.TrackInterfaces = []TrackInterface{{Name: "eth1", Weight: -2}}
		}, []string{"instances[0].track_interfaces[0].weight: an address owner"}},
		{"empty", func(c *InstanceConfig) { c.TrackInterfaces = []TrackInterface{{Weight: 3}} },
			[]string{"instances[0].track_interfaces[0]: empty interface name"}},
		{"long", func(c *InstanceConfig) { c.TrackInterfaces = []TrackInterface{{Name: "abcdefghijklmnop"}} },
			[]string{"longer than 15 characters"}},
		{"plain own interface is fine", func(c *InstanceConfig) { c.TrackInterfaces = []TrackInterface{{Name: "eth0"}} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Instances: []InstanceConfig{testConfig("A", 100, tc.mod)}}
			c.ApplyDefaults()
			err := c.Validate()
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			for _, w := range tc.wants {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: %v, want %q", err, w)
				}
			}
		})
	}
}

// TestInstanceLinkWeight: a weighted link moves the priority as keepalived does, without
// FAULT, without resigning: the peer takes over by preemption when the priority falls
// below its own, and the node preempts back when the link returns.
func TestInstanceLinkWeight(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prio     int
		track    TrackInterface
		up, down int // A's effective priority with eth1 up and down
	}{
		{"negative", 150, TrackInterface{Name: "eth1", Weight: -60}, 150, 90},
		{"positive", 100, TrackInterface{Name: "eth1", Weight: 60}, 160, 100},
		{"negative reversed", 150, TrackInterface{Name: "eth1", Weight: 60, Reverse: true}, 90, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newMemNet()
				links := newFakeLinks("eth0", "eth1")
				if tc.track.Reverse {
					links = newFakeLinks("eth0") // eth1 starts down, so A starts at its best
				}
				a := startNodeWith(t, n, "192.0.2.11", testConfig("A", tc.prio, func(c *InstanceConfig) {
					c.TrackInterfaces = []TrackInterface{tc.track}
				}), withLinks(links))
				b := startNodeWith(t, n, "192.0.2.12", testConfig("B", 120), withLinks(newFakeLinks("eth0")))
				advance(mdi150 + time.Millisecond)
				wantStates(t, "start", map[*node]State{a: StateMaster, b: StateBackup})
				best, worst := tc.up, tc.down
				if tc.track.Reverse {
					best, worst = tc.down, tc.up
				}
				if s := a.in.Snapshot(); s.EffectivePriority != best {
					t.Fatalf("A's effective priority %d at start, want %d", s.EffectivePriority, best)
				}

				// The worse state: B, whose adverts A no longer outranks, lets its
				// master-down timer run out and takes over (RFC 5798 §6.4.2).
				links.set("eth1", tc.track.Reverse)
				advance(5 * time.Second)
				wantStates(t, "worse", map[*node]State{a: StateBackup, b: StateMaster})
				wantHolder(t, "worse", n, "B")
				s := a.in.Snapshot()
				if s.EffectivePriority != worst || len(s.Faults) != 0 || s.Weights["link:eth1"] != worst-tc.prio {
					t.Errorf("A: priority %d faults %v weights %v, want %d, none, link:eth1 %d", s.EffectivePriority, s.Faults, s.Weights, worst, worst-tc.prio)
				}

				links.set("eth1", !tc.track.Reverse)
				advance(5 * time.Second)
				wantStates(t, "better", map[*node]State{a: StateMaster, b: StateBackup})
				wantHolder(t, "better", n, "A")
				a.stop(t)
				if s := a.in.Snapshot(); len(s.Weights) != 0 {
					t.Errorf("link weights left after Run: %v", s.Weights)
				}
			})
		})
	}
}

// TestInstanceLinkReverseFault: weight 0 reversed faults while the link is up.
func TestInstanceLinkReverseFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := newMemNet()
		links := newFakeLinks("eth0", "eth1")
		a := startNodeWith(t, n, "192.0.2.11", testConfig("A", 150, func(c *InstanceConfig) {
			c.TrackInterfaces = []TrackInterface{{Name: "eth1", Reverse: true}}
		}), withLinks(links))
		advance(10 * time.Second)
		wantStates(t, "eth1 up", map[*node]State{a: StateFault})
		links.set("eth1", false)
		advance(mdi150 + time.Millisecond)
		wantStates(t, "eth1 down", map[*node]State{a: StateMaster})
	})
}

// TestGroupLinkWeight: a weighted link of one sync-group member lowers every member (as a
// tracked weight does, see Group), so the whole group moves, and comes back with the link.
func TestGroupLinkWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nets := newGroupNets()
		a := newPair(t, nets, "A", 11, 150, func(c *InstanceConfig) {
			if c.Interface == "eth0" {
				c.TrackInterfaces = []TrackInterface{{Name: "eth2", Weight: -60}}
			}
		})
		b := newPair(t, nets, "B", 12, 100)
		advance(10 * time.Second)
		// eth2 is missing, so down: A starts at 90 and B wins.
		wantPair(t, "eth2 down at start", b, StateMaster)
		a.links.set("eth2", true)
		advance(10 * time.Second)
		wantPair(t, "eth2 up", a, StateMaster)
		wantHolders(t, "eth2 up", nets, "A")

		a.links.set("eth2", false)
		synctest.Wait()
		for _, nd := range []*node{a.wan, a.lan} {
			if s := nd.in.Snapshot(); s.EffectivePriority != 90 || s.Weights["link:eth2"] != -60 || len(s.Faults) != 0 {
				t.Errorf("%s: effective priority %d, weights %v, faults %v", nd.in.Name(), s.EffectivePriority, s.Weights, s.Faults)
			}
		}
		advance(10 * time.Second)
		wantPair(t, "eth2 down", a, StateBackup)
		wantPair(t, "eth2 down", b, StateMaster)
		wantHolders(t, "eth2 down", nets, "B")
	})
}
