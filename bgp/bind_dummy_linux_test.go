package bgp

import (
	"errors"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/halo-lb/halo/internal/tier"
)

// addLink's message creates the interface netlink.LinkAdd would. The kernels of the test
// machines lack the dummy module, so the same message is checked with a bridge, in a
// network namespace of this test's own thread: it names nothing and vanishes with the
// thread, which Go ends because the goroutine returns still locked to it.
func TestAddLink(t *testing.T) {
	tier.Root(t)
	type result struct {
		kind  string
		again error // a second add of the same name
		err   error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread leaves with its namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			res <- result{err: err}
			return
		}
		if err := addLink("halo-t0", "bridge"); err != nil {
			res <- result{err: err}
			return
		}
		l, err := netlink.LinkByName("halo-t0")
		if err != nil {
			res <- result{err: err}
			return
		}
		res <- result{kind: l.Type(), again: addLink("halo-t0", "bridge")}
	}()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.kind != "bridge" {
		t.Errorf("created a %q", r.kind)
	}
	if !errors.Is(r.again, unix.EEXIST) {
		t.Errorf("second add: %v, want EEXIST (Bind takes an existing interface)", r.again)
	}
}
