// Command labtool plays the backends and the clients of halo's network-namespace labs (tests,
// make demo, make bench): an HTTP backend that names itself, a poller that measures how
// long the VIP was dark, and a bounded load generator for reloads. Every loop it runs is
// bounded in count and time.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: labtool serve|poll|load|vrrp-flood|burn|spread|hold [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "poll":
		err = poll(ctx, os.Args[2:])
	case "load":
		err = load(ctx, os.Args[2:])
	case "vrrp-flood":
		err = flood(ctx, os.Args[2:])
	case "burn":
		err = burn(ctx, os.Args[2:])
	case "spread":
		err = spread(ctx, os.Args[2:])
	case "hold":
		err = hold(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "labtool:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", ":8080", "listen address")
	name := fs.String("name", "backend", "name to answer with")
	life := fs.Duration("max-life", time.Hour, "exit after this long (labs must end)")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", *name)
		io.WriteString(w, *name+"\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, *life)
	defer cancel()
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// Event is one line of poll's output: printed when the answer changes (success to
// failure, another load balancer answering, or another kind of failure), and with -beat
// for every other request too, marked Beat.
type Event struct {
	// At is when the request that showed the change started (Unix ns).
	At int64 `json:"at"`
	OK bool  `json:"ok"`
	// LastOK is the start of the last successful request before this failure (Unix ns).
	LastOK int64 `json:"last_ok,omitempty"`
	// LB and Backend name who answered (the X-LB and X-Backend headers).
	LB      string `json:"lb,omitempty"`
	Backend string `json:"backend,omitempty"`
	Err     string `json:"err,omitempty"`
	// Requests and Failures count every request so far.
	Requests uint64 `json:"requests"`
	Failures uint64 `json:"failures"`
	// Beat marks a request that changed nothing (printed with -beat only): a reader that
	// must know how the latest request ended, not only the latest change, reads these.
	Beat bool `json:"beat,omitempty"`
}

func poll(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("poll", flag.ExitOnError)
	url := fs.String("url", "http://192.0.2.100/", "URL to poll")
	every := fs.Duration("interval", 10*time.Millisecond, "time between request starts")
	timeout := fs.Duration("timeout", 100*time.Millisecond, "per-request timeout")
	duration := fs.Duration("duration", 5*time.Minute, "stop after this long")
	beat := fs.Bool("beat", false, "also print every request that changed nothing, marked \"beat\": true")
	fs.Parse(args)
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	// A fresh connection per request: each poll sees where the VIP is now, not where a
	// kept-alive connection was made.
	tr := &http.Transport{DisableKeepAlives: true}
	cl := &http.Client{Transport: tr, Timeout: *timeout}
	enc := json.NewEncoder(os.Stdout)
	var last Event
	var lastOK int64
	var reqs, fails uint64
	first := true
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		start := time.Now()
		ev := Event{At: start.UnixNano()}
		resp, err := cl.Get(*url)
		reqs++
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			ev.LB, ev.Backend = resp.Header.Get("X-LB"), resp.Header.Get("X-Backend")
		}
		if err != nil {
			fails++
			ev.Err = shortErr(err)
			ev.LastOK = lastOK
			ev.LB, ev.Backend = "", ""
		} else {
			ev.OK = true
			lastOK = ev.At
		}
		ev.Requests, ev.Failures = reqs, fails
		if first || ev.OK != last.OK || ev.LB != last.LB || ev.Err != last.Err {
			enc.Encode(ev)
			last, first = ev, false
		} else if *beat {
			ev.Beat = true
			enc.Encode(ev)
		}
		select {
		case <-ctx.Done():
			ev.At = time.Now().UnixNano()
			ev.Err, ev.Beat = "done", false
			enc.Encode(ev)
			return nil
		case <-tick.C:
		}
	}
}

func shortErr(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "Client.Timeout"), strings.Contains(s, "deadline exceeded"):
		return "timeout"
	case strings.Contains(s, "connection refused"):
		return "refused"
	case strings.Contains(s, "connection reset"):
		return "reset"
	case strings.Contains(s, "no route"), strings.Contains(s, "unreachable"):
		return "unreachable"
	case strings.Contains(s, "EOF"):
		return "eof"
	}
	return s
}

// LoadResult is load's one line of output.
type LoadResult struct {
	Requests uint64            `json:"requests"`
	Failures uint64            `json:"failures"`
	Errors   map[string]uint64 `json:"errors"`
	Seconds  float64           `json:"seconds"`
}

func load(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	url := fs.String("url", "http://192.0.2.100/", "URL to load")
	conns := fs.Int("conns", 4, "concurrent clients")
	keepAlive := fs.Bool("keepalive", true, "reuse connections (false: one request per connection)")
	duration := fs.Duration("duration", 30*time.Second, "stop after this long")
	maxReq := fs.Uint64("max", 1_000_000, "stop after this many requests")
	timeout := fs.Duration("timeout", 2*time.Second, "per-request timeout")
	stopFile := fs.String("stop-file", "", "stop when this file exists")
	trace := fs.String("trace", "", "write every request to this file, one line each: start (Unix ns), duration (ns), error (\"ok\" when none)")
	fs.Parse(args)
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var reqs, fails atomic.Uint64
	var mu sync.Mutex
	errs := map[string]uint64{}
	start := time.Now()
	var wg sync.WaitGroup
	traces := make([][]string, *conns)
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{DisableKeepAlives: !*keepAlive, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: *timeout}
			for ctx.Err() == nil && reqs.Add(1) <= *maxReq {
				t0 := time.Now()
				if *stopFile != "" && reqs.Load()%64 == 0 {
					if _, err := os.Stat(*stopFile); err == nil {
						cancel()
						return
					}
				}
				resp, err := cl.Get(*url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("HTTP %d", resp.StatusCode)
					}
				}
				if err != nil && ctx.Err() == nil {
					fails.Add(1)
					mu.Lock()
					errs[shortErr(err)]++
					mu.Unlock()
				}
				if *trace != "" && (err == nil || ctx.Err() == nil) {
					what := "ok"
					if err != nil {
						what = strings.ReplaceAll(shortErr(err), " ", "_")
					}
					traces[i] = append(traces[i], fmt.Sprintf("%d %d %s", t0.UnixNano(), time.Since(t0).Nanoseconds(), what))
				}
			}
		}()
	}
	wg.Wait()
	if *trace != "" {
		var all []string
		for _, t := range traces {
			all = append(all, t...)
		}
		if err := os.WriteFile(*trace, []byte(strings.Join(all, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	n := reqs.Load()
	if n > *maxReq {
		n = *maxReq
	}
	return json.NewEncoder(os.Stdout).Encode(LoadResult{Requests: n, Failures: fails.Load(), Errors: errs, Seconds: time.Since(start).Seconds()})
}
