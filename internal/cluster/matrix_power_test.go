package cluster

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
)

// Powering a node of the lab off and on again, for the cases that lose a whole machine.

// powerOff kills every process of lb (halod, HAProxy's master and workers, by the PIDs
// recorded), cuts its cable and removes the VIP the dead halod left, as losing power
// would.
func (m *mlab) powerOff(t *testing.T, lb *LB) time.Time {
	t.Helper()
	pids := m.haproxyPIDs(t, lb)
	t0 := time.Now()
	if err := lb.Halod.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	signal(t, pids, syscall.SIGKILL)
	if err := m.c.Lab.LinkDown(lb.Node, 0); err != nil {
		t.Fatal(err)
	}
	<-lb.Halod.Done()
	poll.Until(t, 5*time.Second, lb.Name+"'s HAProxy gone", func() error {
		for _, p := range pids {
			if alive(p) {
				return fmt.Errorf("pid %d alive", p)
			}
		}
		return nil
	})
	// The kernel's state goes with the power: the VIP the killed halod left is gone too.
	if ok, _ := lb.Node.HasAddr(m.ctx, m.c.VIP); ok {
		m.exec(t, lb, "ip", "addr", "del", m.vipPrefix(), "dev", "eth0")
	}
	return t0
}

// powerOn undoes powerOff as a reboot would: no VIP on the interface, the cable back,
// halod started. A case that powers a node off registers powerOn as its cleanup too, run
// after the case powered the node on itself: a node already on (its halod running) only
// gets its cable checked. Its halod owns the VIP by then, and deleting it, as this once
// did, broke the master's clients between two cases.
func (m *mlab) powerOn(t *testing.T, lb *LB) {
	t.Helper()
	if running(lb.Halod.Done()) {
		if err := m.c.Lab.LinkUp(lb.Node, 0); err != nil {
			t.Fatal(err)
		}
		return
	}
	if ok, _ := lb.Node.HasAddr(m.ctx, m.c.VIP); ok {
		m.exec(t, lb, "ip", "addr", "del", m.vipPrefix(), "dev", "eth0")
	}
	if err := m.c.Lab.LinkUp(lb.Node, 0); err != nil {
		t.Fatal(err)
	}
	m.startHalod(t, lb)
}

func (m *mlab) vipPrefix() string {
	if m.c.VIP.Is6() {
		return m.c.VIP.String() + "/64"
	}
	return m.c.VIP.String() + "/24"
}
