package metrics

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rss returns this process's resident set size in bytes.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// TestServerBoundsSlowHeaders: a hundred clients each sending an unfinished 1 MB header
// must neither grow halod's memory past a bound nor keep a good scrape from being served.
func TestServerBoundsSlowHeaders(t *testing.T) {
	srv := NewServer("/metrics", Handler(sample()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = Serve(srv, ln) }()
	defer srv.Close()
	addr := ln.Addr().String()

	const clients, bound = 100, 48 << 20
	big := append([]byte("GET /metrics HTTP/1.1\r\nHost: halo\r\nX-Big: "), bytes.Repeat([]byte("a"), 1<<20)...)
	base := rss(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	for range clients {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write(big) // the server may refuse it half way: that is the point
		})
	}
	wg.Wait()

	scraped := make(chan error, 1)
	go func() {
		client := &http.Client{Timeout: 10 * time.Second}
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			scraped <- err
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("halo_")) {
			scraped <- fmt.Errorf("scrape: %s, %d bytes", resp.Status, len(body))
			return
		}
		scraped <- nil
	}()
	// What must not happen is watched for a bounded time: the server reading the headers.
	var peak int64
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		peak = max(peak, rss(t)-base)
		if peak > bound {
			t.Fatalf("RSS grew by %d MB with %d unfinished 1 MB headers, bound %d MB", peak>>20, clients, bound>>20)
		}
	}
	if err := <-scraped; err != nil {
		t.Fatalf("a good scrape beside the slow clients: %v", err)
	}
	t.Logf("RSS grew by at most %d MB", peak>>20)
}
