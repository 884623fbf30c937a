package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"time"
)

// SpreadResult is spread's one line of output: which load balancer answered each new
// connection.
type SpreadResult struct {
	ByLB     map[string]int    `json:"by_lb"`
	Failures int               `json:"failures"`
	Errors   map[string]uint64 `json:"errors,omitempty"`
}

// spread opens n connections one after another, one request each, and counts the X-LB
// header of the answers: how an ECMP router spreads new flows.
func spread(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("spread", flag.ExitOnError)
	url := fs.String("url", "http://203.0.113.10/", "URL to request")
	n := fs.Int("n", 300, "connections (at most 100000)")
	timeout := fs.Duration("timeout", time.Second, "per-request timeout")
	fs.Parse(args)
	if *n > 100000 {
		*n = 100000
	}
	tr := &http.Transport{DisableKeepAlives: true}
	cl := &http.Client{Transport: tr, Timeout: *timeout}
	res := SpreadResult{ByLB: map[string]int{}, Errors: map[string]uint64{}}
	for i := 0; i < *n && ctx.Err() == nil; i++ {
		resp, err := cl.Get(*url)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			res.Failures++
			res.Errors[shortErr(err)]++
			continue
		}
		res.ByLB[resp.Header.Get("X-LB")]++
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
