package haproxy

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSocketExchangeRoundTrip: what serveSockets hands over, fetchSockets receives:
// more sockets than one message carries (acknowledged batches, as HAProxy's sender
// waits for), each with its record (namespace, interface) kept byte for byte, the
// same sockets (inodes) on the other side.
func TestSocketExchangeRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.sock")
	ln, err := listenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: %v %v", fi.Mode(), err)
	}
	const n = maxSendFD + 7
	var sent []xferSocket
	for i := range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		meta := []byte{0, 0, 0, 0, 0, 0}
		if i%50 == 1 {
			meta = append([]byte{3, 'n', 's', '1', 4, 'e', 't', 'h', '0'}, 0, 0, 0, 0)
		}
		sent = append(sent, describe(fd, meta))
	}
	defer closeSockets(sent)
	served := make(chan error, 1)
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			served <- err
			return
		}
		served <- serveSockets(c, sent, 5*time.Second)
	}()
	got, err := fetchSockets(t.Context(), path, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSockets(got)
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if len(got) != n {
		t.Fatalf("%d sockets received, %d sent", len(got), n)
	}
	for i := range got {
		if got[i].ino != sent[i].ino || string(got[i].meta) != string(sent[i].meta) || got[i].fd == sent[i].fd {
			t.Fatalf("socket %d: got ino %d meta %q fd %d, sent ino %d meta %q fd %d",
				i, got[i].ino, got[i].meta, got[i].fd, sent[i].ino, sent[i].meta, sent[i].fd)
		}
		if fl, err := unix.FcntlInt(uintptr(got[i].fd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Fatalf("socket %d received without close-on-exec: a started HAProxy would inherit it", i)
		}
	}
}

// TestSocketExchangeRefusals: a socket without expose-fd closes without a word; a
// server answers only _getsocks; an empty hold is a valid answer of zero sockets.
func TestSocketExchangeRefusals(t *testing.T) {
	dir := t.TempDir()
	silent := filepath.Join(dir, "silent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: silent, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			buf := make([]byte, 64)
			_, _ = c.Read(buf)
			c.Close()
		}
	}()
	if _, err := fetchSockets(t.Context(), silent, 2*time.Second); err == nil || !strings.Contains(err.Error(), "expose-fd listeners") {
		t.Errorf("silent close: %v", err)
	}

	empty := filepath.Join(dir, "empty.sock")
	eln, err := listenUnix(empty)
	if err != nil {
		t.Fatal(err)
	}
	defer eln.Close()
	go func() {
		for range 2 {
			c, err := eln.AcceptUnix()
			if err != nil {
				return
			}
			_ = serveSockets(c, nil, 2*time.Second)
		}
	}()
	if got, err := fetchSockets(t.Context(), empty, 2*time.Second); err != nil || len(got) != 0 {
		t.Errorf("empty hold: %v, %v", got, err)
	}
	c, err := net.Dial("unix", empty)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("show info\n"))
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.Read(make([]byte, 16)); n != 0 || err == nil {
		t.Errorf("show info answered: %d bytes, %v", n, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := fetchSockets(ctx, empty, time.Second); err == nil {
		t.Error("fetch with a cancelled context succeeded")
	}
}

func TestSplitMeta(t *testing.T) {
	for _, tc := range []struct {
		data string
		n    int
		ok   bool
	}{
		{"\x00\x00\x00\x00\x00\x00", 1, true},
		{"\x02ns\x03eth\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 2, true},
		{"\x00\x00\x00\x00\x00", 1, false},         // cut short
		{"\x05ns\x00\x00\x00\x00\x00", 1, false},   // name longer than the data
		{"\x00\x00\x00\x00\x00\x00\x00", 1, false}, // a byte after the last record
		{"\x00\x00\x00\x00\x00\x00", 2, false},     // one record for two sockets
	} {
		got, err := splitMeta([]byte(tc.data), tc.n)
		if (err == nil) != tc.ok || tc.ok && len(got) != tc.n {
			t.Errorf("splitMeta(%q, %d) = %q, %v", tc.data, tc.n, got, err)
		}
	}
}

// TestFetchAcrossAReleaseKeepsNothing: a check finds a worker serving and asks for its
// sockets; the worker crashes and fails over (release) while the fetch is under way. The
// fetch must not keep what it got: halod would hold a listener while HAProxy is down
// (TestRestartInPlaceFailsOver/crash-loop saw it once in make test).
func TestFetchAcrossAReleaseKeepsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.sock")
	ln, err := listenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sent := []xferSocket{describe(fd, []byte{0, 0, 0, 0, 0, 0})}
	defer closeSockets(sent)
	accepted, gate := make(chan struct{}), make(chan struct{})
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		close(accepted)
		<-gate
		_ = serveSockets(c, sent, 5*time.Second)
	}()
	m := &Manager{cfg: Config{StatsSocket: path}, log: discardLogger(), hold: newListenerHold()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.fetchListeners(t.Context(), 42)
	}()
	<-accepted
	m.hold.release() // the crash's failover, while the fetch waits for its answer
	close(gate)
	<-done
	if n := m.hold.count(); n != 0 {
		t.Errorf("%d sockets held after a release that came during their fetch", n)
	}
}
