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
	"sync"
	"sync/atomic"
	"time"
)

// HoldConn is one long-lived connection of hold: which load balancer it first reached,
// and whether it broke (a failed request, a new connection, or another load balancer).
type HoldConn struct {
	LB     string `json:"lb"`
	Broken bool   `json:"broken"`
	Err    string `json:"err,omitempty"`
}

// hold keeps n keep-alive connections open for a while, one request on each every
// interval, and reports which broke: what an ECMP rehash does to established flows.
func hold(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hold", flag.ExitOnError)
	url := fs.String("url", "http://203.0.113.10/", "URL to request")
	n := fs.Int("conns", 60, "connections (at most 1000)")
	every := fs.Duration("interval", 100*time.Millisecond, "time between requests on one connection")
	duration := fs.Duration("duration", 10*time.Second, "how long to hold them")
	timeout := fs.Duration("timeout", time.Second, "per-request timeout")
	fs.Parse(args)
	*n = min(*n, 1000)
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	conns := make([]HoldConn, *n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() { holdOne(ctx, *url, *every, *timeout, &conns[i]) })
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(conns)
}

func holdOne(ctx context.Context, url string, every, timeout time.Duration, c *HoldConn) {
	var dials atomic.Int32
	d := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: timeout}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var base int32 // dials when the connection first answered
	for {
		resp, err := cl.Get(url)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lb := resp.Header.Get("X-LB")
			switch {
			case c.LB == "":
				c.LB, base = lb, dials.Load()
			case lb != c.LB:
				err = fmt.Errorf("now served by %s", lb)
			}
		}
		if err == nil && dials.Load() > base {
			err = fmt.Errorf("reconnected")
		}
		if err != nil && ctx.Err() == nil {
			if c.LB != "" {
				c.Broken, c.Err = true, shortErr(err)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
