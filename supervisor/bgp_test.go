package supervisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/halo-lb/halo/bgp"
	"github.com/halo-lb/halo/internal/bgptest"
	"github.com/halo-lb/halo/internal/poll"
)

// TestMain removes the halo-bgp the BGP tests build.
func TestMain(m *testing.M) { bgptest.Main(m) }

// startBGPNode runs a supervisor with a bgp section and no VRRP instance, its speaker
// peering with r.
func startBGPNode(t *testing.T, r *bgptest.Router, hap *fakeHAProxy, drain string, maintenance bool) (*Supervisor, context.CancelFunc, chan error) {
	t.Helper()
	dir := t.TempDir()
	if maintenance {
		if err := os.WriteFile(filepath.Join(dir, "maintenance"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	yaml := fmt.Sprintf(`bgp:
  asn: 65001
  router_id: 192.0.2.11
  drain: %s
  neighbors: [{address: 127.0.0.1, asn: 65000, port: %d}]
  prefixes: [{prefix: 198.51.100.10/32, communities: ["65001:100"]}]
control: {socket: %s/halo.sock}
`, drain, r.Port, dir)
	path := filepath.Join(dir, "halo.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	engine := bgptest.EngineBinary(t) // halod's engine: halo-bgp, a child process
	sup, err := New(cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", HAProxy: hap, NoControl: true,
		BGPOptions: func() bgp.Options {
			return bgp.Options{Binder: &bgptest.Binder{}, EnginePath: engine, RefreshInterval: 50 * time.Millisecond}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("supervisor did not stop")
		}
	})
	return sup, cancel, done
}

const svc = "198.51.100.10/32"

// HAProxy's verdict and maintenance drive the announcement: healthy announces, a dead
// HAProxy withdraws at once, maintenance drains with GRACEFUL_SHUTDOWN then withdraws,
// and a clean stop drains before closing the session.
func TestBGPFollowsHealthAndMaintenance(t *testing.T) {
	r := bgptest.NewRouter(t, 65001)
	hap := &fakeHAProxy{}
	sup, cancel, done := startBGPNode(t, r, hap, "600ms", false)

	poll.Until(t, 20*time.Second, "session up", func() error {
		st := sup.Status()
		if st.BGP == nil || len(st.BGP.Neighbors) != 1 || st.BGP.Neighbors[0].State != "ESTABLISHED" {
			return fmt.Errorf("bgp status %+v", st.BGP)
		}
		return nil
	})
	if got, _ := r.Route(svc); got != "" {
		t.Fatalf("announced before HAProxy was judged: %q", got)
	}
	hap.set(true, "")
	r.Await(t, svc, "127.0.0.1 [65001:100]", "announcement once HAProxy is healthy")
	if st := sup.Status(); !st.Healthy() {
		var b strings.Builder
		st.WriteTable(&b, time.Now())
		t.Errorf("status not healthy with BGP up:\n%s", b.String())
	}

	hap.set(false, "hung")
	if took := r.Await(t, svc, "", "withdrawal when HAProxy fails"); took > 2*time.Second {
		t.Errorf("withdrawal took %s", took)
	}
	hap.set(true, "")
	r.Await(t, svc, "127.0.0.1 [65001:100]", "announcement when HAProxy is back")

	if resp := sup.setMaintenance(true); !resp.OK {
		t.Fatal(resp.Error)
	}
	r.Await(t, svc, "127.0.0.1 [65001:100 65535:0]", "graceful shutdown on maintenance")
	r.Await(t, svc, "", "withdrawal after the drain")
	if resp := sup.setMaintenance(false); !resp.OK {
		t.Fatal(resp.Error)
	}
	r.Await(t, svc, "127.0.0.1 [65001:100]", "announcement after maintenance")

	// The status follows the engine's report of what it did, a moment after the router
	// has the route.
	poll.Until(t, 5*time.Second, "the status showing the announcement", func() error {
		var b strings.Builder
		st := sup.Status()
		if err := st.WriteTable(&b, time.Now()); err != nil {
			return err
		}
		for _, want := range []string{"bgp", "neighbor 127.0.0.1", "ESTABLISHED", "prefix 198.51.100.10/32", "ANNOUNCED"} {
			if !strings.Contains(b.String(), want) {
				return fmt.Errorf("table lacks %q:\n%s", want, b.String())
			}
		}
		if st.BGP.Announces != 3 || st.BGP.Withdrawals != 2 || st.BGP.Drains != 1 {
			return fmt.Errorf("counters: %+v", st.BGP)
		}
		return nil
	})

	// A clean stop drains first: the community shows up before the route goes.
	start := time.Now()
	cancel()
	r.Await(t, svc, "127.0.0.1 [65001:100 65535:0]", "graceful shutdown on stop")
	r.Await(t, svc, "", "withdrawal on stop")
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Errorf("withdrawn %s after the stop began, before the drain time", took)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
}

// A node that starts in maintenance (the flag an earlier run left) never announces, not
// even with GRACEFUL_SHUTDOWN, until maintenance is turned off.
func TestBGPStartsInMaintenance(t *testing.T) {
	r := bgptest.NewRouter(t, 65001)
	hap := &fakeHAProxy{}
	hap.set(true, "")
	sup, _, _ := startBGPNode(t, r, hap, "5s", true)
	poll.Until(t, 20*time.Second, "session up, node draining", func() error {
		st := sup.Status()
		if st.BGP == nil || st.BGP.Neighbors[0].State != "ESTABLISHED" || !st.BGP.Draining {
			return fmt.Errorf("bgp status %+v", st.BGP)
		}
		return nil
	})
	if resp := sup.setMaintenance(false); !resp.OK {
		t.Fatal(resp.Error)
	}
	r.Await(t, svc, "127.0.0.1 [65001:100]", "announcement after maintenance off")
	// One announcement and no drain: nothing was offered while in maintenance.
	if b := sup.Status().BGP; b.Announces != 1 || b.Drains != 0 {
		t.Errorf("announces %d, drains %d; want 1, 0", b.Announces, b.Drains)
	}
}

// A changed bgp section is reported by a reload and applied only at restart: the running
// speaker keeps its sessions and its announcement.
func TestBGPReloadKeepsRunningSection(t *testing.T) {
	r := bgptest.NewRouter(t, 65001)
	hap := &fakeHAProxy{}
	hap.set(true, "")
	sup, _, _ := startBGPNode(t, r, hap, "600ms", false)
	r.Await(t, svc, "127.0.0.1 [65001:100]", "announcement")
	path := sup.cfg.Path()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), `"65001:100"`, `"65001:200"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	resp := sup.Reload(t.Context())
	if !resp.OK || !strings.Contains(resp.Message, "the bgp section changed: it takes effect when halod restarts") {
		t.Fatalf("reload: %+v", resp)
	}
	if st := sup.Status(); st.BGP == nil || st.BGP.Announces != 1 || st.BGP.Withdrawals != 0 {
		t.Errorf("the speaker was disturbed by the reload: %+v", st.BGP)
	}
	if got, _ := r.Route(svc); got != "127.0.0.1 [65001:100]" {
		t.Errorf("router holds %q after the reload", got)
	}
}

// A degraded HAProxy (serving, a backend under its minimum) keeps the prefixes announced
// with a raised MED, so that the routers prefer the nodes that kept their backends.
func TestBGPDegradedRaisesMED(t *testing.T) {
	r := bgptest.NewRouter(t, 65001)
	hap := &fakeHAProxy{}
	hap.set(true, "")
	sup, _, _ := startBGPNode(t, r, hap, "600ms", false)
	r.Await(t, svc, "127.0.0.1 [65001:100]", "announcement")
	hap.degrade("backend app: 0/2 servers UP")
	r.Await(t, svc, "127.0.0.1 [65001:100] med=1000", "MED raised while degraded")
	if st := sup.Status(); !st.BGP.Degraded || st.BGP.Withdrawals != 0 {
		t.Errorf("status while degraded: %+v", st.BGP)
	}
	hap.set(true, "")
	r.Await(t, svc, "127.0.0.1 [65001:100]", "MED back once healthy")
}

// Without halo-bgp, a bgp section fails halod's start with a message that names it,
// rather than a speaker retrying in the background.
func TestBGPWithoutEngineFailsTheStart(t *testing.T) {
	dir := t.TempDir()
	yaml := fmt.Sprintf(`bgp:
  asn: 65001
  router_id: 192.0.2.11
  neighbors: [{address: 127.0.0.1, asn: 65000, port: 9}]
  prefixes: [{prefix: 198.51.100.10/32}]
control: {socket: %s/halo.sock}
`, dir)
	path := filepath.Join(dir, "halo.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	sup, err := New(cfg, Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", HAProxy: &fakeHAProxy{}, NoControl: true,
		BGPOptions: func() bgp.Options {
			return bgp.Options{Binder: &bgptest.Binder{}, EnginePath: filepath.Join(dir, "halo-bgp")}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sup.Run(ctx); err == nil || !strings.Contains(err.Error(), "halo-bgp") {
		t.Fatalf("Run = %v, want an error naming halo-bgp", err)
	}
}
