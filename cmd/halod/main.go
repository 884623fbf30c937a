// Command halod is the halo daemon: it supervises the local HAProxy and speaks VRRP for the
// node's virtual IPs. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/halo-lb/halo/supervisor"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("halod", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "/etc/halo/halo.yaml", "halo.yaml to run with")
	check := fs.Bool("t", false, "check the configuration, print every problem and exit (non-zero when invalid)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "halod", version)
		return 0
	}
	cfg, err := supervisor.LoadConfig(*configPath)
	if err != nil {
		for _, p := range supervisor.Problems(err) {
			fmt.Fprintln(stderr, p)
		}
		if *check {
			fmt.Fprintf(stderr, "%s: configuration invalid\n", *configPath)
		}
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "%s: configuration valid\n", *configPath)
		return 0
	}
	log := newLogger(cfg.Log, stderr)
	sup, err := supervisor.New(cfg, supervisor.Deps{Logger: log, Version: version})
	if err != nil {
		log.Error("halod cannot start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := sup.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("halod stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(c supervisor.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
