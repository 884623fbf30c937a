// Command halo-bgp is halo's BGP engine: GoBGP in a process of its own, started by halod
// for a bgp section and driven over its stdin and stdout (JSON lines), so that halod
// itself carries none of GoBGP. It is not meant to be run by hand.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/halo-lb/halo/bgp"
	"github.com/halo-lb/halo/bgp/engine"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 {
		if os.Args[1] == "-version" || os.Args[1] == "--version" {
			fmt.Println("halo-bgp", version)
			return
		}
		fmt.Fprintln(os.Stderr, "usage: halo-bgp [-version]\nhalod starts it for a bgp section and talks to it over stdin and stdout.")
		os.Exit(2)
	}
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprintln(os.Stderr, "halo-bgp: halod starts it and talks to it over a pipe; it is not run from a terminal")
		os.Exit(2)
	}
	// halod decides when this engine stops: a stop of the unit signals every process in
	// its cgroup at once, and the engine must go on announcing through halod's drain. It
	// ends on halod's word, on its stdin's end, or by the parent-death signal. A write to
	// a halod that died returns an error instead of killing it before its CEASE.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	if err := bgp.ServeEngine(context.Background(), os.Stdin, os.Stdout, engine.New()); err != nil {
		fmt.Fprintln(os.Stderr, "halo-bgp:", err)
		os.Exit(1)
	}
}
