// Command halod is the halo daemon: it supervises the local HAProxy and speaks VRRP for the
// node's virtual IPs. See README.md.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/halo-lb/halo/metrics"
	"github.com/halo-lb/halo/supervisor"
	"github.com/halo-lb/halo/supervisor/keepalived"
)

// version is set at build time with -ldflags "-X main.version=..." (make build: git
// describe); left empty, supervisor.Version falls back to the Go build information.
var version string

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "import-keepalived" {
		return keepalived.Run(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "cleanup" {
		return cleanup(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("halod", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: halod [-config FILE] [-t [-strict]] [-version]\n       halod cleanup [-config FILE]\n       halod import-keepalived [-o FILE] [-haproxy-config FILE] [-host NAME] keepalived.conf")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "/etc/halo/halo.yaml", "halo.yaml to run with")
	check := fs.Bool("t", false, "check halo.yaml and the haproxy.cfg it names, print every problem and exit (non-zero when invalid)")
	strict := fs.Bool("strict", false, "with -t: warnings make the configuration invalid too")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "halod", supervisor.Version(version))
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
		return checkAll(cfg, *configPath, *strict, supervisor.ReadHost(), stdout, stderr)
	}
	log := newLogger(cfg.Log, stderr)
	// What `halod -t` warns about, said once at start too: a missing interface here is
	// the first thing to look at when an instance sits in FAULT.
	for _, w := range cfg.Warnings(supervisor.ReadHost()) {
		log.Warn("halo.yaml", "warning", w.String())
	}
	if err := serve(cfg, log); err != nil {
		log.Error("halod stopped", "err", err)
		return 1
	}
	return 0
}

// cleanup is `halod cleanup`: it removes this node's VIPs, for the unit to run once halod
// will not come back (never on a quick restart: that one resumes with them).
func cleanup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("halod cleanup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "/etc/halo/halo.yaml", "halo.yaml whose VIPs to remove")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := supervisor.LoadConfig(*configPath)
	if err != nil {
		for _, p := range supervisor.Problems(err) {
			fmt.Fprintln(stderr, p)
		}
		return 1
	}
	done, err := supervisor.Cleanup(cfg)
	if len(done) > 0 {
		fmt.Fprintf(stdout, "VIPs removed: %s\n", strings.Join(done, ", "))
	}
	if err != nil {
		fmt.Fprintln(stderr, "halod cleanup:", err)
		return 1
	}
	return 0
}

// checkAll prints the rest of `halod -t`: haproxy.cfg's findings, then halo's warnings
// about this host. Warnings leave the exit code 0 unless strict.
func checkAll(cfg *supervisor.Config, path string, strict bool, host supervisor.Host, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := supervisor.Check(ctx, cfg, host)
	if e := supervisor.CheckBGPEngine(cfg); e != nil {
		r.Findings = append(r.Findings, e.Error())
		r.Err = cmp.Or(r.Err, e)
	}
	for _, f := range r.Findings {
		fmt.Fprintln(stderr, f)
	}
	for _, w := range r.Warnings {
		fmt.Fprintln(stderr, w)
	}
	if r.Err != nil {
		fmt.Fprintf(stderr, "%s: configuration invalid\n", path)
		return 1
	}
	if n := len(r.Warnings) + r.HAProxyWarnings; strict && n > 0 {
		plural := "s"
		if n == 1 {
			plural = ""
		}
		fmt.Fprintf(stderr, "%s: configuration invalid: %d warning%s, and -strict makes warnings errors\n", path, n, plural)
		return 1
	}
	fmt.Fprintf(stdout, "%s: configuration valid (haproxy.cfg: %s)\n", path, strings.Join(r.Files, ", "))
	return 0
}

func serve(cfg *supervisor.Config, log *slog.Logger) (err error) {
	// halod's work is small and wakes often (a check every 200 ms, adverts): on one
	// processor the runtime hands wake-ups between no threads, which costs a quarter less
	// idle CPU (0.28 % of a core against 0.37 %, measured side by side with checkcost).
	// 50 instances at 100 ms adverts need about 2 % of it. GOMAXPROCS in the environment
	// still decides.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	deps := supervisor.Deps{Logger: log, Version: supervisor.Version(version)}
	if os.Getenv("NOTIFY_SOCKET") != "" {
		deps.Notify = func(state string) {
			if _, err := daemon.SdNotify(false, state); err != nil {
				log.Warn("sd_notify", "state", state, "err", err)
			}
		}
		deps.Watchdog, _ = daemon.SdWatchdogEnabled(false)
	}
	var sup *supervisor.Supervisor
	defer func() {
		// A halod that cannot start removes the VIPs a crashed predecessor left, so the
		// backup is their only holder; unless another halod runs and owns them.
		if err != nil && !errors.Is(err, supervisor.ErrAnotherHalod) && (sup == nil || !sup.Started()) {
			if done, cerr := supervisor.Cleanup(cfg); cerr != nil {
				log.Error("halod cannot start, and removing its VIPs failed", "err", cerr)
			} else {
				log.Warn("halod cannot start: its VIPs are removed", "instances", done)
			}
		}
	}()
	sup, err = supervisor.New(cfg, deps)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// A second halod would first fail on the metrics port; name the real reason.
	probe, cancel := context.WithTimeout(ctx, time.Second)
	_, err = supervisor.Call(probe, cfg.Control.Socket, supervisor.Request{Cmd: "version"})
	cancel()
	if err == nil {
		return fmt.Errorf("control socket %s: %w", cfg.Control.Socket, supervisor.ErrAnotherHalod)
	}

	if cfg.Metrics.Listen != "off" {
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics.listen: %w", err)
		}
		srv := metrics.NewServer(cfg.Metrics.Path, metrics.Handler(sup))
		go func() { _ = metrics.Serve(srv, ln) }()
		defer srv.Close()
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading halo.yaml and HAProxy")
				rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				resp := sup.Reload(rctx)
				cancel()
				if resp.OK {
					log.Info("reload done", "result", resp.Message)
				} else {
					log.Error("reload refused or failed", "err", resp.Error)
				}
			}
		}
	}()
	if err := sup.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
