package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// BurnResult is burn's one line of output.
type BurnResult struct {
	Loops   int     `json:"loops"`
	Seconds float64 `json:"seconds"`
	// Spins counts the busy loops' iterations, in millions.
	Spins uint64 `json:"spins_million"`
}

// burn keeps n threads busy for a bounded time: a load generator for the tests of a node
// whose CPUs are saturated.
func burn(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("burn", flag.ExitOnError)
	n := fs.Int("loops", runtime.NumCPU(), "busy loops, each on a thread of its own (at most 64)")
	d := fs.Duration("duration", 5*time.Second, "stop after this long (at most 2m)")
	fs.Parse(args)
	if *n < 1 || *n > 64 || *d <= 0 || *d > 2*time.Minute {
		return errors.New("burn: loops 1..64, duration up to 2m")
	}
	runtime.GOMAXPROCS(*n + 1)
	ctx, cancel := context.WithTimeout(ctx, *d)
	defer cancel()
	var spins atomic.Uint64
	var wg sync.WaitGroup
	start := time.Now()
	for range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			x := uint64(1)
			for ctx.Err() == nil {
				for range 1 << 20 {
					x = x*6364136223846793005 + 1442695040888963407
				}
				spins.Add(1)
			}
			if x == 0 {
				println() // keeps x alive
			}
		}()
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(BurnResult{Loops: *n, Seconds: time.Since(start).Seconds(), Spins: spins.Load()})
}
