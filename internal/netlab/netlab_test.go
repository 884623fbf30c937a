package netlab

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/internal/tier"
)

func TestPingIPv4AndIPv6(t *testing.T) {
	lab := New(t, Options{Nodes: 2})
	a, b := lab.Nodes[0], lab.Nodes[1]
	ctx := t.Context()
	if _, err := a.Exec(ctx, "ping", "-c1", "-W2", b.IPv4[0].Addr().String()); err != nil {
		t.Fatalf("IPv4: %v", err)
	}
	if _, err := a.Exec(ctx, "ping", "-6", "-c1", "-W2", b.IPv6[0].Addr().String()); err != nil {
		t.Fatalf("IPv6: %v", err)
	}
}

// TestTCPAcrossNodes starts a server in one node and reaches it from another, checking
// that the root namespace has no route to the lab.
func TestTCPAcrossNodes(t *testing.T) {
	lab := New(t, Options{Nodes: 3})
	srv, cli := lab.Nodes[0], lab.Nodes[2]
	addr := net.JoinHostPort(srv.IPv4[0].Addr().String(), "8080")
	// The test binary itself plays server and client (TestHelperProcess), so nothing
	// outside the repository is needed.
	p, err := srv.Start(testBinary(t), "-test.run=TestHelperProcess", "--", "serve", addr, srv.Name)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	poll.Until(t, 5*time.Second, "the server to answer", func() error {
		out, err = cli.Exec(t.Context(), testBinary(t), "-test.run=TestHelperProcess", "--", "get", addr)
		return err
	})
	if !strings.Contains(string(out), "hello from "+srv.Name) {
		t.Fatalf("client got %q", out)
	}
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err == nil {
		c.Close()
		t.Fatal("the root namespace reached a lab address")
	}
	p.Stop(time.Second)
}

func TestPartitionAndLinkDown(t *testing.T) {
	lab := New(t, Options{Nodes: 3})
	a, b, c := lab.Nodes[0], lab.Nodes[1], lab.Nodes[2]
	ping := func(from, to *Node) error {
		_, err := from.Exec(t.Context(), "ping", "-c1", "-W1", to.IPv4[0].Addr().String())
		return err
	}
	if err := lab.Partition([]*Node{a, b}, []*Node{c}); err != nil {
		t.Fatal(err)
	}
	if err := ping(a, b); err != nil {
		t.Errorf("same side: %v", err)
	}
	if ping(a, c) == nil {
		t.Error("a reached c across the partition")
	}
	if err := lab.Heal(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "a to reach c after heal", func() error { return ping(a, c) })

	if err := lab.LinkDown(b, 0); err != nil {
		t.Fatal(err)
	}
	out, err := b.Exec(t.Context(), "ip", "-o", "link", "show", "eth0")
	if err != nil || !strings.Contains(string(out), "NO-CARRIER") {
		t.Errorf("after LinkDown, b's eth0: %s %v", out, err)
	}
	if ping(a, b) == nil {
		t.Error("a reached b over a cut link")
	}
	if err := lab.LinkUp(b, 0); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "a to reach b after LinkUp", func() error { return ping(a, b) })
}

func TestCleanupLeavesNothing(t *testing.T) {
	// Here, not only in the subtest's New: where that skips, the checks below would run
	// on no lab at all (and pid 0 is always "alive").
	tier.Root(t)
	var prefix string
	var pid int
	t.Run("lab", func(t *testing.T) {
		lab := New(t, Options{Nodes: 2, Networks: 2})
		prefix = lab.Prefix
		p, err := lab.Nodes[0].Start("sleep", "300")
		if err != nil {
			t.Fatal(err)
		}
		pid = p.PID
		if len(lab.Nodes[1].Ifaces) != 2 {
			t.Fatalf("want eth0 and eth1, got %v", lab.Nodes[1].Ifaces)
		}
	})
	for _, ns := range List() {
		if strings.HasPrefix(ns, prefix) {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	if processAlive(pid) {
		t.Errorf("process %d left running", pid)
	}
}

func TestRemoveStale(t *testing.T) {
	// A namespace named as a crashed run's (a PID that cannot exist) is removed.
	ns := fmt.Sprintf("%s%d-1-sw", NamePrefix, 1<<30)
	lab := New(t, Options{Nodes: 1}) // ensures root, skips otherwise
	_ = lab
	if err := ip("netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeNS(ns) })
	if err := RemoveStale(); err != nil {
		t.Fatal(err)
	}
	for _, n := range List() {
		if n == ns {
			t.Fatalf("stale namespace %s survived", ns)
		}
	}
	// Our own live lab survives.
	found := false
	for _, n := range List() {
		found = found || n == lab.Switch
	}
	if !found {
		t.Fatal("RemoveStale removed a live lab")
	}
}

// TestHelperProcess is not a test: it is the server and client that other tests run
// inside lab nodes through the test binary.
func TestHelperProcess(t *testing.T) {
	args := helperArgs()
	if args == nil {
		t.Skip("helper process only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch args[0] {
	case "serve":
		ln, err := net.Listen("tcp", args[1])
		if err != nil {
			t.Fatal(err)
		}
		host := args[2]
		go func() { <-ctx.Done(); ln.Close() }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from %s\n", host)
			c.Close()
		}
	case "get":
		c, err := net.DialTimeout("tcp", args[1], time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		fmt.Print(line)
	}
}
