package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/internal/vrrptest"
	"github.com/halo-lb/halo/vrrp"
)

// TestReloadEmptyConfigChangesNothing: a reload of a truncated (empty) halo.yaml used to
// remove every instance and release the VIP, answer OK and leave config_valid true.
func TestReloadEmptyConfigChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		a := startNode(t, link, "a", "192.0.2.11", 101, "{fault: true}", "")
		waitState(t, a, "VI_1", "MASTER")
		for _, data := range []string{"", "control: {socket: " + a.dir + "/halo.sock}\n"} {
			if err := os.WriteFile(a.cfg, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			resp := a.sup.Reload(t.Context())
			if resp.OK || !strings.Contains(resp.Error, a.cfg) || !strings.Contains(resp.Error, "no VRRP instance") {
				t.Fatalf("reload of %q answered %+v", data, resp)
			}
			st := a.sup.Status()
			if len(st.Instances) != 1 || st.Instances[0].State != "MASTER" || st.ConfigValid {
				t.Fatalf("after a refused reload of %q: instances %+v, config_valid %v", data, st.Instances, st.ConfigValid)
			}
		}
	})
}

// gatedHAProxy is a fake whose Reload and Validate each announce themselves on entered
// and then wait for gate (or their ctx): a slow reload, a slow `haproxy -c`.
type gatedHAProxy struct {
	*fakeHAProxy
	entered chan string
	gate    chan struct{}
}

func (g *gatedHAProxy) wait(ctx context.Context, what string) {
	g.entered <- what
	select {
	case <-g.gate:
	case <-ctx.Done():
	}
}

func (g *gatedHAProxy) Reload(ctx context.Context) (Reload, error) {
	g.wait(ctx, "reload")
	return g.fakeHAProxy.Reload(ctx)
}

func (g *gatedHAProxy) Validate(ctx context.Context) error {
	g.wait(ctx, "validate")
	return g.fakeHAProxy.Validate(ctx)
}

// syncBuffer collects log lines written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type gatedNode struct {
	sup  *Supervisor
	hap  *gatedHAProxy
	sock string
	logs *syncBuffer
}

// startGated runs a supervisor with its control socket and a gated HAProxy.
func startGated(t *testing.T) *gatedNode {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "halo.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(nodeYAML, 101, "20ms", "{fault: true}", "", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	n := &gatedNode{
		hap:  &gatedHAProxy{fakeHAProxy: &fakeHAProxy{ev: HAProxyHealth{Healthy: true}}, entered: make(chan string, 16), gate: make(chan struct{})},
		sock: cfg.Control.Socket,
		logs: &syncBuffer{},
	}
	link := vrrptest.NewLink()
	n.sup, err = New(cfg, Deps{Logger: slog.New(slog.NewTextHandler(n.logs, nil)), Version: "test", HAProxy: n.hap,
		VRRPOptions: func(ic vrrp.InstanceConfig) vrrp.Options {
			return vrrp.Options{Transport: link.Port(netip.MustParseAddr("192.0.2.11")), Owner: link.Owner("a", ic.VIPs)}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.sup.Run(ctx) }()
	t.Cleanup(func() {
		close(n.hap.gate)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// Run reads the maintenance flag for its "halod running" line without a lock, after
	// the socket is served; waiting for the line keeps a request from racing with it.
	poll.Until(t, 5*time.Second, "halod running", func() error {
		if !strings.Contains(n.logs.String(), "halod running") {
			return errors.New("not yet")
		}
		return nil
	})
	return n
}

// slowReload starts a reload over the socket and waits until HAProxy is reloading; the
// returned channel gets its answer.
func (n *gatedNode) slowReload(t *testing.T) <-chan Response {
	t.Helper()
	answer := make(chan Response, 1)
	go func() {
		resp, err := Call(context.Background(), n.sock, Request{Cmd: "reload"})
		if err != nil {
			resp.Error = err.Error()
		}
		answer <- resp
	}()
	if got := <-n.hap.entered; got != "reload" {
		t.Fatalf("entered %s, want reload", got)
	}
	return answer
}

// TestAbandonedRequestNeverRuns: `haloctl -timeout 1s maintenance on` during a slow
// reload gave up, exited 1, and the node went into maintenance once the reload was done.
func TestAbandonedRequestNeverRuns(t *testing.T) {
	n := startGated(t)
	reload := n.slowReload(t)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err := Call(ctx, n.sock, Request{Cmd: "maintenance", Args: []string{"on"}})
	cancel()
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("maintenance on during a slow reload: %v, want a timeout", err)
	}
	// The server notices the hangup while the request still waits for the reload.
	poll.Until(t, 5*time.Second, "the abandoned request to be dropped", func() error {
		if !strings.Contains(n.logs.String(), "client went away") {
			return errors.New("not dropped")
		}
		return nil
	})
	n.hap.gate <- struct{}{}
	if resp := <-reload; !resp.OK {
		t.Fatalf("reload: %+v", resp)
	}
	// A request queued after the abandoned one is served after it would have been.
	if resp, err := Call(t.Context(), n.sock, Request{Cmd: "resign", Args: []string{"nope"}}); err != nil || resp.OK {
		t.Fatalf("resign nope: %+v %v", resp, err)
	}
	if n.sup.Status().Maintenance {
		t.Fatal("an abandoned maintenance request ran after its client gave up")
	}
}

// TestTimedOutReloadSaysTimeout: a SIGHUP reload that waits past its deadline behind
// another request was reported as "halod is shutting down".
func TestTimedOutReloadSaysTimeout(t *testing.T) {
	n := startGated(t)
	reload := n.slowReload(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	resp := n.sup.Reload(ctx)
	cancel()
	if resp.OK || strings.Contains(resp.Error, "shutting down") || !strings.Contains(resp.Error, "timed out") {
		t.Fatalf("timed-out reload answered %+v, want a timeout", resp)
	}
	n.hap.gate <- struct{}{}
	<-reload
}

// TestReadOnlyNeverQueuesAheadOfChanges: validate (any user may run it, and each runs
// `haproxy -c`) went through the queue of state-changing requests, so a slow one held up
// root's maintenance on.
func TestReadOnlyNeverQueuesAheadOfChanges(t *testing.T) {
	n := startGated(t)
	validated := make(chan Response, 1)
	go func() {
		resp, _ := Call(context.Background(), n.sock, Request{Cmd: "validate"})
		validated <- resp
	}()
	if got := <-n.hap.entered; got != "validate" {
		t.Fatalf("entered %s, want validate", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := Call(ctx, n.sock, Request{Cmd: "maintenance", Args: []string{"on"}})
	if err != nil || !resp.OK {
		t.Fatalf("maintenance on while a validate runs: %+v %v", resp, err)
	}
	n.hap.gate <- struct{}{}
	<-validated
}

// TestNewHAProxySectionChecked: validate and reload checked the running HAProxy's
// settings, so a new haproxy section naming a missing binary or haproxy.cfg was "valid"
// and "takes effect at restart", and the restart failed. They now check the new section
// as `halod -t` does, and a reload is refused with nothing changed.
func TestNewHAProxySectionChecked(t *testing.T) {
	for name, section := range map[string]string{
		"missing binary":      "haproxy: {binary: /nonexistent/haproxy}\n",
		"missing haproxy.cfg": "haproxy: {config: [/nonexistent/haproxy.cfg]}\n",
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				link := vrrptest.NewLink()
				a := startNode(t, link, "a", "192.0.2.11", 101, "{fault: true}", "")
				waitState(t, a, "VI_1", "MASTER")
				data := fmt.Sprintf(nodeYAML, 101, "20ms", "{fault: true}", "", a.dir) + section
				if err := os.WriteFile(a.cfg, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
				if resp := a.sup.submit(t.Context(), Request{Cmd: "validate"}); resp.OK || !strings.Contains(resp.Error, "/nonexistent/") {
					t.Fatalf("validate answered %+v", resp)
				}
				resp := a.sup.Reload(t.Context())
				if resp.OK || !strings.Contains(resp.Error, "/nonexistent/") || !strings.Contains(resp.Error, "nothing changed") {
					t.Fatalf("reload answered %+v", resp)
				}
				if st := a.sup.Status(); st.ConfigValid || st.HAProxy.Reloads != 0 {
					t.Errorf("after a refused reload: config_valid %v, HAProxy reloads %d", st.ConfigValid, st.HAProxy.Reloads)
				}
			})
		})
	}
}

// TestMaintenanceNotPersistedIsAnError: `maintenance on` answered OK when the flag could
// not be saved, so a restart of halod would silently bring the node back.
func TestMaintenanceNotPersistedIsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := vrrptest.NewLink()
		a := startNode(t, link, "a", "192.0.2.11", 101, "{fault: true}", "")
		waitState(t, a, "VI_1", "MASTER")
		// A regular file where the state directory should be: the flag cannot be written.
		a.sup.deps.StateDir = a.cfg
		resp := a.sup.submit(t.Context(), Request{Cmd: "maintenance", Args: []string{"on"}})
		if resp.OK || !strings.Contains(resp.Error, "not persisted") {
			t.Fatalf("maintenance on with an unwritable flag answered %+v", resp)
		}
		if !a.sup.Status().Maintenance {
			t.Error("maintenance is not on for this run")
		}
		waitState(t, a, "VI_1", "BACKUP")
	})
}
