package supervisor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/supervisor"
)

// The tier-3 tests: two halod nodes with real HAProxy in a namespace lab.

func startCluster(t *testing.T, opt cluster.Options) (*cluster.Cluster, *cluster.Poller) {
	t.Helper()
	if testing.Short() {
		t.Skip("namespace tier skipped in -short mode")
	}
	c := cluster.New(t, t.TempDir(), opt)
	for _, lb := range c.LBs {
		if err := c.StartHalod(t.Context(), lb); err != nil {
			t.Fatal(err)
		}
	}
	waitMaster(t, c, c.LBs[0])
	// The others judge their HAProxy before they leave FAULT: a test that moves the role
	// before one is BACKUP finds nobody to take it.
	for _, lb := range c.LBs[1:] {
		poll.Until(t, 30*time.Second, lb.Name+" BACKUP", func() error {
			if s := lb.State(t.Context(), "VI_1"); s != "BACKUP" {
				return fmt.Errorf("state %q", s)
			}
			return nil
		})
	}
	p, err := c.StartPoller(10*time.Millisecond, 200*time.Millisecond, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	waitServedBy(t, p, c.LBs[0].Name)
	return c, p
}

func waitMaster(t *testing.T, c *cluster.Cluster, want *cluster.LB) {
	t.Helper()
	poll.Until(t, 30*time.Second, want.Name+" MASTER holding the VIP", func() error {
		if m := c.Master(t.Context()); m != want {
			return fmt.Errorf("master is %v", m)
		}
		h, err := c.Holder(t.Context())
		if err != nil {
			return err
		}
		if h != want {
			return fmt.Errorf("VIP held by %v", h)
		}
		return nil
	})
}

func waitServedBy(t *testing.T, p *cluster.Poller, lb string) {
	t.Helper()
	poll.Until(t, 30*time.Second, "the client served by "+lb, func() error {
		if ev, ok := p.Last(); !ok || !ev.OK || ev.LB != lb {
			return fmt.Errorf("last answer %+v", ev)
		}
		return nil
	})
}

// haloctlJSON runs the real haloctl binary against lb.
func haloctlJSON(t *testing.T, c *cluster.Cluster, lb *cluster.LB) supervisor.Status {
	t.Helper()
	out, err := exec.Command(filepath.Join(c.Bin, "haloctl"), "-socket", lb.Socket, "status", "--json").Output()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 3) {
		t.Fatalf("haloctl status --json: %v", err)
	}
	var st supervisor.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("haloctl status --json: %v\n%s", err, out)
	}
	return st
}

func instanceState(st supervisor.Status) string {
	if len(st.Instances) == 0 {
		return ""
	}
	return st.Instances[0].State
}

func killHAProxy(t *testing.T, lb *cluster.LB, sig syscall.Signal, workersOnly bool) []int {
	t.Helper()
	m, workers, err := lb.HAProxyPIDs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	pids := workers
	if !workersOnly {
		pids = append([]int{m}, workers...)
	}
	for _, p := range pids {
		if err := syscall.Kill(p, sig); err != nil {
			t.Fatal(err)
		}
	}
	return pids
}

// TestE2EHAProxyKilled: by default (restart_in_place) halod restarts a SIGKILLed HAProxy
// in place on the listening sockets it holds: the VIP does not move, and a client whose
// requests each open a new connection sees at most the one request in flight on an
// accepted connection fail (it dies with the process); the others wait in the accept
// queue and are served by the restarted HAProxy.
func TestE2EHAProxyKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace tier skipped in -short mode")
	}
	c := cluster.New(t, t.TempDir(), cluster.Options{})
	for _, lb := range c.LBs {
		if err := c.StartHalod(t.Context(), lb); err != nil {
			t.Fatal(err)
		}
	}
	lb1, lb2 := c.LBs[0], c.LBs[1]
	waitMaster(t, c, lb1)
	// A patient client: a request queued while HAProxy restarts must not time out.
	p, err := c.StartPoller(10*time.Millisecond, 3*time.Second, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	waitServedBy(t, p, lb1.Name)
	poll.Until(t, 10*time.Second, "lb1 holding its listening sockets", func() error {
		if st := haloctlJSON(t, c, lb1); !st.HAProxy.Healthy || st.HAProxy.HeldSockets == 0 {
			return fmt.Errorf("haproxy %+v", st.HAProxy)
		}
		return nil
	})
	before := haloctlJSON(t, c, lb2)
	ev0, _ := p.Last()
	t0 := time.Now()
	killHAProxy(t, lb1, syscall.SIGKILL, false)
	poll.Until(t, 10*time.Second, "lb1's HAProxy restarted in place", func() error {
		st := haloctlJSON(t, c, lb1)
		if st.HAProxy.RestartsInPlace != 1 || st.HAProxy.RestartingInPlace || !st.HAProxy.Healthy {
			return fmt.Errorf("haproxy %+v", st.HAProxy)
		}
		return nil
	})
	// A failover would not be awaited: it is what must not happen. The client goes on
	// for two advert intervals, in which a resignation (priority 0: the backup takes over
	// in its skew time) or a missed advert would have shown.
	poll.Until(t, 10*time.Second, "two advert intervals after the kill", func() error {
		if d := time.Since(t0); d < 2*time.Second {
			return fmt.Errorf("%s", d)
		}
		return nil
	})
	for _, ev := range p.Events() {
		if ev.At >= t0.UnixNano() && ev.OK && ev.LB != lb1.Name {
			t.Errorf("served by %s after the kill: the VIP moved", ev.LB)
		}
	}
	last, _ := p.Last()
	if failed := last.Failures - ev0.Failures; failed > 1 {
		t.Errorf("%d requests failed after the kill (at most the one in flight may): %+v", failed, p.Events())
	} else {
		t.Logf("HAProxy SIGKILL with restart_in_place: %d requests failed after the kill", failed)
	}
	st1, st2 := haloctlJSON(t, c, lb1), haloctlJSON(t, c, lb2)
	if instanceState(st1) != "MASTER" || !st1.Instances[0].Since.Before(t0) {
		t.Errorf("lb1 left MASTER: %+v", st1.Instances)
	}
	if instanceState(st2) != "BACKUP" || !st2.Instances[0].Since.Equal(before.Instances[0].Since) {
		t.Errorf("lb2 changed state: before %+v, after %+v", before.Instances, st2.Instances)
	}
}

// TestE2EHAProxyKilledFailsOver: with restart_in_place off a SIGKILLed HAProxy fails over
// as keepalived's pair would, faster; halod restarts it and lb1 preempts back.
func TestE2EHAProxyKilledFailsOver(t *testing.T) {
	c, p := startCluster(t, cluster.Options{HAProxyExtra: "  restart_in_place: {enabled: false}"})
	lb1, lb2 := c.LBs[0], c.LBs[1]
	t0 := time.Now()
	killHAProxy(t, lb1, syscall.SIGKILL, false)
	waitServedBy(t, p, lb2.Name)
	d, _, _ := p.Outage(t0)
	t.Logf("client outage after HAProxy SIGKILL: %s", d)
	if st := haloctlJSON(t, c, lb2); instanceState(st) != "MASTER" || !st.Instances[0].HoldsVIPs {
		t.Errorf("lb2 status: %+v", st.Instances)
	}
	// halod restarts HAProxy; lb1 comes back and preempts.
	waitMaster(t, c, lb1)
	st := haloctlJSON(t, c, lb1)
	if st.HAProxy.Restarts < 1 || !st.HAProxy.Healthy {
		t.Errorf("lb1 HAProxy after restart: %+v", st.HAProxy)
	}
	if st := haloctlJSON(t, c, lb2); instanceState(st) != "BACKUP" {
		t.Errorf("lb2 after lb1 is back: %s", instanceState(st))
	}
}

func TestE2EHAProxyHung(t *testing.T) {
	c, p := startCluster(t, cluster.Options{})
	lb1, lb2 := c.LBs[0], c.LBs[1]
	stopped := killHAProxy(t, lb1, syscall.SIGSTOP, true)
	t.Cleanup(func() {
		for _, pid := range stopped {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	waitServedBy(t, p, lb2.Name)
	st := haloctlJSON(t, c, lb1)
	if st.HAProxy.Healthy || instanceState(st) != "FAULT" || !strings.Contains(st.HAProxy.Reason, "timeout") {
		t.Errorf("lb1 with a hung HAProxy: haproxy %+v, state %s", st.HAProxy, instanceState(st))
	}
	for _, pid := range stopped {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	waitMaster(t, c, lb1)
}

func TestE2EBrokenReloadRefused(t *testing.T) {
	c, p := startCluster(t, cluster.Options{})
	lb1 := c.LBs[0]
	good, err := os.ReadFile(lb1.HAProxyCfg)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(good), "balance roundrobin", "balance roundrobin\n    server be9 192.0.2.99:8080 chek", 1)
	os.WriteFile(lb1.HAProxyCfg, []byte(broken), 0o644)
	ev0, _ := p.Last()
	out, err := exec.Command(filepath.Join(c.Bin, "haloctl"), "-socket", lb1.Socket, "reload").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "chek") {
		t.Errorf("broken reload: err %v, output %s", err, out)
	}
	os.WriteFile(lb1.HAProxyCfg, good, 0o644)
	ev1, _ := p.Last()
	if ev1.Failures != ev0.Failures || !ev1.OK || ev1.LB != lb1.Name {
		t.Errorf("client during the refused reload: before %+v after %+v", ev0, ev1)
	}
	if m := c.Master(t.Context()); m != lb1 {
		t.Errorf("master moved to %v", m)
	}
	st := haloctlJSON(t, c, lb1)
	if st.HAProxy.LastReload == nil || st.HAProxy.LastReload.OK {
		t.Errorf("last reload: %+v", st.HAProxy.LastReload)
	}
}

func TestE2EMaintenance(t *testing.T) {
	c, p := startCluster(t, cluster.Options{AdvertInterval: 100 * time.Millisecond})
	lb1, lb2 := c.LBs[0], c.LBs[1]
	ev0, _ := p.Last()
	resp, err := lb1.Ctl(t.Context(), "maintenance", "on")
	if err != nil || !resp.OK {
		t.Fatalf("maintenance on: %+v %v", resp, err)
	}
	waitMaster(t, c, lb2)
	waitServedBy(t, p, lb2.Name)
	resp, err = lb1.Ctl(t.Context(), "maintenance", "off")
	if err != nil || !resp.OK {
		t.Fatalf("maintenance off: %+v %v", resp, err)
	}
	waitMaster(t, c, lb1)
	waitServedBy(t, p, lb1.Name)
	ev1, _ := p.Last()
	// The VIP moves twice and is never dark: the old holder keeps it until the new master
	// is heard, then drains what it received. What no VRRP speaker can save is a
	// connection whose SYN reached the old node just before the new master's gratuitous
	// ARP and whose next packet reached the new one (a reset): the poller runs one
	// request at a time, so at most one per move. A dark VIP fails a request every 10 ms.
	if n := ev1.Failures - ev0.Failures; n > 2 {
		t.Errorf("%d client requests failed across maintenance on/off (two moves: at most one each)", n)
		// The poller records every change of answer: when each failure came, and who
		// answered around it, against the transitions in the halods' logs.
		for _, ev := range p.Events() {
			t.Logf("poll %s %+v", time.Unix(0, ev.At).UTC().Format("15:04:05.000000"), ev)
		}
	}
}

func TestE2EGracefulStop(t *testing.T) {
	c, p := startCluster(t, cluster.Options{})
	lb1, lb2 := c.LBs[0], c.LBs[1]
	t0 := time.Now()
	if err := lb1.Halod.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitServedBy(t, p, lb2.Name)
	d, _, _ := p.Outage(t0)
	t.Logf("client outage after SIGTERM of the master's halod: %s", d)
	// Priority 0: lb2 takes over within its skew time (0.61 s at 1 s adverts), far from
	// the 3.6 s of a master-down interval.
	if d > 2*time.Second {
		t.Errorf("outage %s after a graceful stop", d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := lb1.Halod.Wait(ctx); err != nil {
		t.Errorf("halod exit: %v\n%s", err, lb1.Halod.Output())
	}
	if ok, _ := lb1.Node.HasAddr(t.Context(), cluster.VIP); ok {
		t.Error("lb1 kept the VIP after stopping")
	}
}

func TestE2EMetrics(t *testing.T) {
	c, _ := startCluster(t, cluster.Options{})
	lb1 := c.LBs[0]
	url := fmt.Sprintf("http://%s:9110/metrics", lb1.Node.IPv4[0].Addr())
	out, err := c.Client.Exec(t.Context(), "curl", "-sf", "--max-time", "5", url)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`halo_vrrp_state{state="MASTER",vrrp_instance="VI_1"} 1`,
		`halo_vrrp_transitions_total{from="BACKUP",to="MASTER",vrrp_instance="VI_1"}`,
		"halo_haproxy_healthy 1",
		"halo_haproxy_check_duration_seconds_bucket",
		"halo_build_info",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestE2ESIGHUP: SIGHUP re-reads halo.yaml and reloads HAProxy on the master; the unchanged
// instance keeps the VIP and the client loses nothing.
func TestE2ESIGHUP(t *testing.T) {
	c, p := startCluster(t, cluster.Options{})
	lb1 := c.LBs[0]
	before := haloctlJSON(t, c, lb1)
	ev0, _ := p.Last()
	if err := lb1.Halod.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the SIGHUP reload to finish", func() error {
		st := haloctlJSON(t, c, lb1)
		if st.HAProxy.LastReload == nil || !st.HAProxy.LastReload.OK {
			return fmt.Errorf("last reload %+v", st.HAProxy.LastReload)
		}
		return nil
	})
	// Keep polling a little past the reload: a drop would show as a failure.
	waitServedBy(t, p, lb1.Name)
	after := haloctlJSON(t, c, lb1)
	if after.Instances[0].Transitions != before.Instances[0].Transitions || instanceState(after) != "MASTER" {
		t.Errorf("the reload moved VI_1: before %+v after %+v", before.Instances[0], after.Instances[0])
	}
	ev1, _ := p.Last()
	if n := ev1.Failures - ev0.Failures; n != 0 {
		t.Errorf("%d client requests failed across the SIGHUP reload", n)
	}
}
