package supervisor_test

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/cluster"
	"github.com/halo-lb/halo/internal/poll"
)

// lockedBuffer takes haloctl watch's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestE2EResignResume is the case with the real binaries: lb1 (priority 101,
// preempt) resigns and stays BACKUP under lb2, which status shows (RESIGNED, lb2 as master
// and peer with its priority, exit 3); `haloctl resume` gives lb1 the role back, no client
// request fails, and `haloctl watch` printed each step and exits 0 on SIGINT.
func TestE2EResignResume(t *testing.T) {
	c, p := startCluster(t, cluster.Options{AdvertInterval: 100 * time.Millisecond})
	lb1, lb2 := c.LBs[0], c.LBs[1]
	ctl := filepath.Join(c.Bin, "haloctl")
	watch := exec.Command(ctl, "-socket", lb1.Socket, "watch")
	var out lockedBuffer
	watch.Stdout, watch.Stderr = &out, &out
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = watch.Process.Kill(); _ = watch.Wait() })
	awaitWatch := func(want string) {
		t.Helper()
		poll.Until(t, 10*time.Second, "haloctl watch to print "+want, func() error {
			if !strings.Contains(out.String(), want) {
				return fmt.Errorf("watch so far:\n%s", out.String())
			}
			return nil
		})
	}
	awaitWatch("VI_1 MASTER (prio 101")
	ev0, _ := p.Last()

	if b, err := exec.Command(ctl, "-socket", lb1.Socket, "resign", "VI_1").CombinedOutput(); err != nil {
		t.Fatalf("haloctl resign: %v: %s", err, b)
	}
	waitMaster(t, c, lb2)
	// Ten of lb2's adverts heard: lb1 would have preempted after three without the resign,
	// so it must have made no state change meanwhile.
	base := haloctlJSON(t, c, lb1).Instances[0]
	poll.Until(t, 10*time.Second, "lb1 hearing ten of lb2's adverts", func() error {
		in := haloctlJSON(t, c, lb1).Instances[0]
		if in.Transitions != base.Transitions {
			t.Fatalf("lb1 went %s while resigned", in.State)
		}
		if n := in.AdvertsReceived - base.AdvertsReceived; n < 10 {
			return fmt.Errorf("%d adverts heard", n)
		}
		return nil
	})
	st := haloctlJSON(t, c, lb1)
	in := st.Instances[0]
	if !in.Resigned || in.MasterSeen != lb2.Node.IPv4[0].Addr().String() || in.MasterPriority != 100 {
		t.Errorf("lb1 status: resigned %v, master %s prio %d; want resigned under lb2 at 100", in.Resigned, in.MasterSeen, in.MasterPriority)
	}
	if len(in.Peers) != 1 || in.Peers[0].Address != in.MasterSeen || in.Peers[0].Priority != 100 || in.Peers[0].AgeSeconds > 1 {
		t.Errorf("lb1 peers %+v, want lb2 at 100 heard within a second", in.Peers)
	}
	if err := exec.Command(ctl, "-socket", lb1.Socket, "status").Run(); exitCode(err) != 3 {
		t.Errorf("haloctl status while resigned: %v, want exit 3", err)
	}
	awaitWatch("VI_1 RESIGNED")

	if b, err := exec.Command(ctl, "-socket", lb1.Socket, "resume", "VI_1").CombinedOutput(); err != nil {
		t.Fatalf("haloctl resume: %v: %s", err, b)
	}
	waitMaster(t, c, lb1)
	waitServedBy(t, p, lb1.Name)
	awaitWatch("VI_1 BACKUP -> MASTER")
	// Two moves, the VIP never dark: at most the one request per move whose SYN reached
	// the old holder just before the new master's gratuitous ARP (see TestE2EMaintenance).
	if ev1, _ := p.Last(); ev1.Failures-ev0.Failures > 2 {
		t.Errorf("%d client requests failed across resign and resume (two moves: at most one each)", ev1.Failures-ev0.Failures)
	}
	if err := watch.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := watch.Wait(); err != nil {
		t.Errorf("haloctl watch after SIGINT: %v, want exit 0\n%s", err, out.String())
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
