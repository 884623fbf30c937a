// Command demo is `make demo`: a live two-node halo cluster in network namespaces, narrated.
// Two halod nodes run real HAProxy in front of two backends while a client polls the VIP
// every 10 ms; the demo kills HAProxy on the master (halod restarts it in place: the VIP
// stays), hangs it, and tries a broken reload,
// and shows what the client saw each time. Everything it made is removed at the end, also
// on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
)

// run is a tier.TB for a program: Fatalf and Skipf unwind to main, which runs the cleanups.
type run struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

type stopRun struct{}

func (r *run) Helper()                         {}
func (r *run) Logf(format string, args ...any) { fmt.Printf("   "+format+"\n", args...) }
func (r *run) Failed() bool                    { r.mu.Lock(); defer r.mu.Unlock(); return r.failed }
func (r *run) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}
func (r *run) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...)
	panic(stopRun{})
}
func (r *run) Skipf(format string, args ...any) { r.Fatalf(format, args...) }

func (r *run) cleanup() {
	r.mu.Lock()
	cs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

func main() {
	bin := flag.String("bin", "", "directory holding halod, haloctl and labtool (default: build them)")
	flag.Parse()
	if *bin != "" {
		abs, err := filepath.Abs(*bin)
		if err == nil {
			*bin = abs
		}
	}
	r := &run{}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := 0
	func() {
		defer func() {
			if p := recover(); p != nil {
				if _, ok := p.(stopRun); !ok {
					fmt.Fprintln(os.Stderr, "demo: panic:", p)
				}
				code = 1
			}
		}()
		if err := demo(ctx, r, *bin); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			code = 1
		}
	}()
	if ctx.Err() != nil {
		fmt.Println("\ninterrupted")
	}
	stop()
	fmt.Println("\n== cleaning up: ending every process by its PID, deleting the namespaces")
	r.cleanup()
	fmt.Println("   done: nothing of the demo is left (ip netns list shows none of it).")
	os.Exit(code)
}

func say(format string, args ...any)  { fmt.Printf("\n== "+format+"\n", args...) }
func note(format string, args ...any) { fmt.Printf("   "+format+"\n", args...) }

func demo(ctx context.Context, r *run, bin string) error {
	start := time.Now()
	var summary []string
	dir, err := os.MkdirTemp("", "halo-demo-")
	if err != nil {
		return err
	}
	r.Cleanup(func() { os.RemoveAll(dir) })
	say("building a lab: namespaces lb1, lb2 (halod + HAProxy), be1, be2 (HTTP backends), client; one bridge")
	c := cluster.New(r, dir, cluster.Options{Bin: bin})
	for _, lb := range c.LBs {
		if err := c.StartHalod(ctx, lb); err != nil {
			return err
		}
		note("%s: halod started (pid %d), priority %d, config %s", lb.Name, lb.Halod.PID, lb.Priority, lb.Config)
	}
	master, err := waitMaster(ctx, c, nil, 15*time.Second)
	if err != nil {
		return err
	}
	say("%s is MASTER and holds the VIP %s", master.Name, cluster.VIP)
	for _, lb := range c.LBs {
		haloctl(c, lb)
	}
	poller, err := c.StartPoller(10*time.Millisecond, 100*time.Millisecond, 3*time.Minute)
	if err != nil {
		return err
	}
	if err := waitServed(ctx, poller, 10*time.Second); err != nil {
		return err
	}
	note("the client polls http://%s/ every 10 ms (100 ms timeout); answered by %s", cluster.VIP, lastLB(poller))

	// 1. HAProxy killed.
	say("1. kill -9 HAProxy (master and workers) on %s", master.Name)
	mpid, workers, err := master.HAProxyPIDs(ctx)
	if err != nil {
		return err
	}
	ev0, _ := poller.Last()
	t0 := time.Now()
	for _, p := range append([]int{mpid}, workers...) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	took, err := restartedInPlace(ctx, master, t0)
	if err != nil {
		return err
	}
	if err := waitServedBy(ctx, poller, master.Name, 10*time.Second); err != nil {
		return err
	}
	ev1, _ := poller.Last()
	moved := "the VIP stayed on " + master.Name
	if h, _ := c.Holder(ctx); h != master {
		moved = "the VIP moved to " + name(h)
	}
	note("halod restarted HAProxy in place on the listening sockets it holds: serving again within %d ms; %s; %d client requests failed (in flight at the kill, or past the client's 100 ms timeout while queued)",
		took.Milliseconds(), moved, ev1.Failures-ev0.Failures)
	summary = append(summary, fmt.Sprintf("HAProxy killed on the master: restarted in place within %d ms, %s, %d requests failed",
		took.Milliseconds(), moved, ev1.Failures-ev0.Failures))
	haloctl(c, master)

	// 2. HAProxy hung.
	say("2. kill -STOP HAProxy's worker on %s: it hangs, its process still exists (pidof would call it alive)", master.Name)
	_, workers, err = master.HAProxyPIDs(ctx)
	if err != nil {
		return err
	}
	t0 = time.Now()
	for _, p := range workers {
		_ = syscall.Kill(p, syscall.SIGSTOP)
	}
	backup, d, err := outage(ctx, c, poller, t0, master)
	if err != nil {
		return err
	}
	summary = append(summary, fmt.Sprintf("HAProxy hung (SIGSTOP) on the master: VIP dark %d ms, then served by %s", d.Milliseconds(), backup.Name))
	st, _ := master.Status(ctx)
	note("%s says: haproxy %s", master.Name, st.HAProxy.Reason)
	say("kill -CONT: HAProxy answers again, %s turns healthy and takes the VIP back", master.Name)
	for _, p := range workers {
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
	if _, err := waitMaster(ctx, c, master, 30*time.Second); err != nil {
		return err
	}
	if err := waitServedBy(ctx, poller, master.Name, 10*time.Second); err != nil {
		return err
	}
	note("%s is MASTER again", master.Name)

	// 3. A broken config.
	say("3. a broken haproxy.cfg on %s, then `haloctl reload`", master.Name)
	good, err := os.ReadFile(master.HAProxyCfg)
	if err != nil {
		return err
	}
	broken := strings.Replace(string(good), "balance roundrobin", "balance roundrobin\n    server be9 192.0.2.99:8080 chek", 1)
	if err := os.WriteFile(master.HAProxyCfg, []byte(broken), 0o644); err != nil {
		return err
	}
	before := poller.Events()
	out, _ := exec.Command(filepath.Join(c.Bin, "haloctl"), "-socket", master.Socket, "reload").CombinedOutput()
	note("$ haloctl reload\n%s", indent(string(out)))
	if err := os.WriteFile(master.HAProxyCfg, good, 0o644); err != nil {
		return err
	}
	time.Sleep(time.Second) // let the client poll on through the refused reload
	after := poller.Events()
	failed := uint64(0)
	if len(after) > 0 && len(before) > 0 {
		failed = after[len(after)-1].Failures - before[len(before)-1].Failures
	}
	m := c.Master(ctx)
	note("refused: the running HAProxy kept serving the old config; client failures meanwhile: %d; MASTER still %s", failed, name(m))

	say("summary, as the client saw it (polling every 10 ms)")
	for _, line := range summary {
		note("%s", line)
	}
	note("broken haproxy.cfg: reload refused, %d failed requests, no VIP move", failed)
	say("done in %s", time.Since(start).Round(time.Second))
	return nil
}

func name(lb *cluster.LB) string {
	if lb == nil {
		return "nobody"
	}
	return lb.Name
}

func indent(s string) string {
	return "     " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n     ")
}

func haloctl(c *cluster.Cluster, lb *cluster.LB) {
	out, _ := exec.Command(filepath.Join(c.Bin, "haloctl"), "-socket", lb.Socket, "status").CombinedOutput()
	note("$ haloctl status   # on %s\n%s", lb.Name, indent(string(out)))
}

func lastLB(p *cluster.Poller) string {
	ev, _ := p.Last()
	return ev.LB
}

// restartedInPlace waits until halod on lb reports HAProxy restarted in place and healthy,
// and returns how long after t0 it saw it.
func restartedInPlace(ctx context.Context, lb *cluster.LB, t0 time.Time) (time.Duration, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if st, err := lb.Status(ctx); err == nil && st.HAProxy.RestartsInPlace > 0 && !st.HAProxy.RestartingInPlace && st.HAProxy.Healthy {
			return time.Since(t0), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s: HAProxy not restarted in place within 10 s", lb.Name)
}

// outage waits for the client to be served by another node after a fault at t0 and reports
// the gap; it returns the new master.
func outage(ctx context.Context, c *cluster.Cluster, p *cluster.Poller, t0 time.Time, old *cluster.LB) (*cluster.LB, time.Duration, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		if d, lb, ok := p.Outage(t0); ok && lb != "" && lb != old.Name {
			holder, _ := c.Holder(ctx)
			note("client outage: %d ms; now served by %s; VIP on %s", d.Milliseconds(), lb, name(holder))
			if holder == nil {
				return nil, d, fmt.Errorf("served by %s but no node holds the VIP", lb)
			}
			return holder, d, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, 0, fmt.Errorf("no failover within 30 s")
}

func waitMaster(ctx context.Context, c *cluster.Cluster, want *cluster.LB, d time.Duration) (*cluster.LB, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if m := c.Master(ctx); m != nil && (want == nil || m == want) {
			return m, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("no MASTER within %s", d)
}

func waitServed(ctx context.Context, p *cluster.Poller, d time.Duration) error {
	return waitServedBy(ctx, p, "", d)
}

func waitServedBy(ctx context.Context, p *cluster.Poller, lb string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if ev, ok := p.Last(); ok && ev.OK && (lb == "" || ev.LB == lb) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("client not served (by %q) within %s", lb, d)
}
