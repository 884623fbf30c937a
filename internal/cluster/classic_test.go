package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/halo-lb/halo/internal/poll"
)

func TestKeepalivedConf(t *testing.T) {
	tests := []struct {
		name      string
		opt       ClassicOptions
		node      int
		want, not []string
	}{
		{"tutorial lb1", TutorialClassic(), 0,
			[]string{`script "killall -0 haproxy"`, "interval 2", "fall 2", "rise 2", "weight 2", "state MASTER", "priority 101",
				"advert_int 1\n", "auth_type PASS", "192.0.2.100/24", "track_script"},
			[]string{"vrrp_version 3"}},
		{"tutorial lb2", TutorialClassic(), 1, []string{"state BACKUP", "priority 100"}, nil},
		{"tuned, weight -2", TunedClassic(-2), 0,
			[]string{"vrrp_version 3", "advert_int 0.1\n", "interval 1", "fall 1", "rise 1", "weight -2"},
			[]string{"authentication"}},
		{"tuned, unweighted", TunedClassic(0), 0, []string{"vrrp_version 3"}, []string{"weight", "authentication"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := &Classic{opt: tc.opt}
			lb := &ClassicLB{Name: fmt.Sprintf("lb%d", tc.node+1), Dir: dir, Priority: 101 - tc.node,
				KeepalivedConf: dir + "/keepalived.conf", HAProxyCfg: dir + "/haproxy.cfg"}
			if err := c.writeConfigs(lb, tc.node); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(lb.KeepalivedConf)
			if err != nil {
				t.Fatal(err)
			}
			conf := string(b)
			for _, w := range tc.want {
				if !strings.Contains(conf, w) {
					t.Errorf("missing %q in:\n%s", w, conf)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(conf, n) {
					t.Errorf("unexpected %q in:\n%s", n, conf)
				}
			}
			if hap, err := os.ReadFile(lb.HAProxyCfg); err != nil || !strings.Contains(string(hap), "X-LB "+lb.Name) {
				t.Errorf("haproxy.cfg: %v\n%s", err, hap)
			}
		})
	}
}

func TestInstances(t *testing.T) {
	ins, err := Instances(MaxInstances)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 50 {
		t.Fatalf("%d instances, want 50", len(ins))
	}
	want := []Instance{{"VI_1", 51, VIP}, {"VI_2", 1, netip.MustParseAddr("192.0.2.151")},
		{"VI_50", 49, netip.MustParseAddr("192.0.2.199")}}
	if diff := cmp.Diff(want, []Instance{ins[0], ins[1], ins[49]}, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("instances (-want +got):\n%s", diff)
	}
	vrids, vips := map[int]bool{}, map[netip.Addr]bool{}
	for _, in := range ins {
		if vrids[in.VRID] || vips[in.VIP] || in.VRID < 1 || in.VRID > 255 {
			t.Errorf("%s: VRID %d or VIP %s reused or out of range", in.Name, in.VRID, in.VIP)
		}
		vrids[in.VRID], vips[in.VIP] = true, true
		if !netip.MustParsePrefix("192.0.2.0/24").Contains(in.VIP) {
			t.Errorf("%s: VIP %s outside 192.0.2.0/24", in.Name, in.VIP)
		}
	}
	for _, n := range []int{0, 51} {
		if _, err := Instances(n); err == nil {
			t.Errorf("Instances(%d): no error", n)
		}
	}
}

func TestKeepalivedConfigFifty(t *testing.T) {
	opt := TunedClassic(0)
	opt.Instances = 50
	for _, tc := range []struct {
		master   bool
		priority int
		state    string
	}{{true, 101, "MASTER"}, {false, 100, "BACKUP"}} {
		conf, err := KeepalivedConfig("lb", opt, tc.master, tc.priority)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			what string
			n    int
		}{
			{"vrrp_instance VI_", 50}, {"\tstate " + tc.state + "\n", 50}, {fmt.Sprintf("\tpriority %d\n", tc.priority), 50},
			{"\tadvert_int 0.1\n", 50}, {"\tinterface eth0\n", 50}, {"\t\tchk_haproxy\n", 50},
			{"vrrp_script chk_haproxy", 1}, {"vrrp_version 3", 1}, {"interval 1\n", 1}, {"weight", 0}, {"authentication", 0},
		} {
			if got := strings.Count(conf, c.what); got != c.n {
				t.Errorf("%s: %q %d times, want %d", tc.state, c.what, got, c.n)
			}
		}
		for _, w := range []string{"vrrp_instance VI_1 {\n\tstate " + tc.state, "virtual_router_id 51\n", "\t\t192.0.2.100/24\n",
			"vrrp_instance VI_2 {", "virtual_router_id 1\n", "\t\t192.0.2.151/24\n",
			"vrrp_instance VI_50 {", "virtual_router_id 49\n", "\t\t192.0.2.199/24\n"} {
			if !strings.Contains(conf, w) {
				t.Errorf("%s: missing %q", tc.state, w)
			}
		}
	}
	opt.Instances = 51
	if _, err := KeepalivedConfig("lb", opt, true, 101); err == nil {
		t.Error("51 instances: no error")
	}
}

func TestInstanceStates(t *testing.T) {
	log := `Sun Nov 22 04:06:11 2026: (VI_1) Entering BACKUP STATE (init)
Sun Nov 22 04:06:11 2026: (VI_12) Entering BACKUP STATE (init)
Sun Nov 22 04:06:11 2026: VRRP_Script(chk_haproxy) succeeded
Sun Nov 22 04:06:15 2026: (VI_1) Entering MASTER STATE
Sun Nov 22 04:06:21 2026: (VI_12) Entering FAULT STATE
Sun Nov 22 04:06:22 2026: (VI_3) received lower priority advert
`
	want := map[string]string{"VI_1": "MASTER", "VI_12": "FAULT"}
	if diff := cmp.Diff(want, instanceStates(log)); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

func TestHeldAddrs(t *testing.T) {
	out := `1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever
2: eth0    inet 192.0.2.11/24 brd 192.0.2.255 scope global eth0\       valid_lft forever preferred_lft forever
2: eth0    inet 192.0.2.100/24 scope global secondary eth0\       valid_lft forever preferred_lft forever
2: eth0    inet 192.0.2.199/24 scope global secondary eth0\       valid_lft forever preferred_lft forever
`
	a := netip.MustParseAddr
	got := heldAddrs(out, []netip.Addr{a("192.0.2.100"), a("192.0.2.151"), a("192.0.2.199"), a("192.0.2.255")})
	if diff := cmp.Diff([]netip.Addr{a("192.0.2.100"), a("192.0.2.199")}, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("held (-want +got):\n%s", diff)
	}
}

func TestKeepalivedLogParsing(t *testing.T) {
	log := `Sun Nov 22 04:06:11 2026: (VI_1) Entering BACKUP STATE (init)
Sun Nov 22 04:06:11 2026: VRRP_Script(chk_haproxy) succeeded
Sun Nov 22 04:06:15 2026: (VI_1) Entering MASTER STATE
Sun Nov 22 04:06:21 2026: VRRP_Script(chk_haproxy) failed (exited with status 1)
Sun Nov 22 04:06:24 2026: (VI_1) Entering BACKUP STATE
`
	if got := lastOf(log, "(VI_1) Entering ", " STATE"); got != "BACKUP" {
		t.Errorf("state %q, want BACKUP", got)
	}
	if got := lastOf(log, "VRRP_Script(chk_haproxy) ", " "); got != "failed" {
		t.Errorf("check %q, want failed", got)
	}
	if got := lastOf("", "(VI_1) Entering ", " STATE"); got != "" {
		t.Errorf("empty log: %q", got)
	}
}

// TestClassicPIDNamespaces is the fairness guard of the benchmark: HAProxy killed on lb1
// must fail lb1's `killall -0 haproxy` although lb2's HAProxy runs, and the backup takes
// the VIP.
func TestClassicPIDNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace tier skipped in -short mode")
	}
	c := NewClassic(t, t.TempDir(), TunedClassic(0))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	lb1, lb2 := c.LBs[0], c.LBs[1]
	holder := func(want *ClassicLB) func() error {
		return func() error {
			h, err := c.Holder(t.Context())
			if err != nil {
				return err
			}
			if h != want {
				return fmt.Errorf("VIP held by %v", h)
			}
			return nil
		}
	}
	poll.Until(t, 20*time.Second, "lb1 holding the VIP", holder(lb1))
	m, w, err := lb1.HAProxyPIDs()
	if err != nil {
		t.Fatal(err)
	}
	if ns, err := lb1.NSPID(m); err != nil || ns == m {
		t.Errorf("HAProxy master %d: PID %d in its namespace (%v): not in a PID namespace of its own", m, ns, err)
	}
	for _, p := range append([]int{m}, w...) {
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 10*time.Second, "lb1's check failing", func() error {
		if lb1.CheckOK() {
			return fmt.Errorf("lb1 check still OK; log:\n%s", lb1.KeepalivedLog())
		}
		return nil
	})
	if !lb2.CheckOK() {
		t.Errorf("lb2's check failed although its HAProxy runs")
	}
	poll.Until(t, 10*time.Second, "lb2 holding the VIP", holder(lb2))
	if err := lb1.StartHAProxy(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "lb1 holding the VIP again", holder(lb1))
}
