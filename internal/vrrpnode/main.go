// Command vrrpnode runs the VRRP instances and sync groups of a halo.yaml vrrp section,
// with their link tracking and notify hooks, and nothing else, for the vrrp package's
// network-namespace tests. It also carries the two small tools those tests need inside a
// namespace: TCP servers bound to VIPs (with IP_FREEBIND, so they may start before the
// VIPs exist) and a client for them.
//
//	vrrpnode -config halo.yaml [-serve 192.0.2.100:8080,192.0.2.101:8080 -name n1]
//	vrrpnode -get 192.0.2.100:8080
//
// SIGTERM or SIGINT stops it gracefully (priority 0, VIPs handed over, stop hooks run);
// SIGUSR1 makes every instance resign.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/halo-lb/halo/vrrp"
)

func main() {
	config := flag.String("config", "", "halo.yaml whose vrrp section to run")
	serve := flag.String("serve", "", "also answer TCP connections on these addresses (comma separated) with the node name")
	name := flag.String("name", "", "node name the server answers with (default: hostname)")
	get := flag.String("get", "", "connect to this address, print the answer and exit")
	verbose := flag.Bool("v", false, "log at debug level")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file (for tuning the idle cost)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "vrrpnode:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}

	if *get != "" {
		if err := fetch(*get, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "vrrpnode:", err)
			os.Exit(1)
		}
		return
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, log, *config, *serve, *name); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("vrrpnode", "err", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, path, serve, name string) error {
	cfg, err := load(path)
	if err != nil {
		return err
	}
	var instances []*vrrp.Instance
	byName := map[string]*vrrp.Instance{}
	sockets, timers := vrrp.NewSockets(), vrrp.NewTimers()
	defer timers.Close() // after wg.Wait: every instance has stopped
	for _, ic := range cfg.Instances {
		in, err := vrrp.NewInstance(ic, vrrp.Options{Logger: log, Sockets: sockets, Timers: timers})
		if err != nil {
			return err
		}
		instances = append(instances, in)
		byName[ic.Name] = in
	}
	var groups []*vrrp.Group
	for _, gc := range cfg.SyncGroups {
		var members []*vrrp.Instance
		for _, n := range gc.Instances {
			members = append(members, byName[n]) // names checked by Validate
		}
		g, err := vrrp.NewGroup(gc, members, vrrp.GroupOptions{Logger: log})
		if err != nil {
			return err
		}
		groups = append(groups, g)
	}
	if serve != "" {
		if name == "" {
			name, _ = os.Hostname()
		}
		for _, addr := range strings.Split(serve, ",") {
			ln, err := listenFreebind(ctx, addr)
			if err != nil {
				return err
			}
			defer ln.Close()
			go answer(ln, name)
		}
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for {
			select {
			case <-usr1:
				for _, in := range instances {
					in.Resign()
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make([]error, len(instances))
	for i, in := range instances {
		wg.Go(func() { errs[i] = in.Run(ctx) })
	}
	for _, g := range groups {
		wg.Go(func() { _ = g.Run(ctx) })
	}
	log.Info("vrrpnode running", "instances", len(instances), "sync_groups", len(groups))
	wg.Wait()
	return errors.Join(errs...)
}

func load(path string) (vrrp.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return vrrp.Config{}, err
	}
	var doc struct {
		VRRP vrrp.Config `yaml:"vrrp"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return vrrp.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	doc.VRRP.ApplyDefaults()
	if err := doc.VRRP.Validate(); err != nil {
		return vrrp.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return doc.VRRP, nil
}

// listenFreebind listens on addr even while addr is not on any interface (IP_FREEBIND):
// the server is bound to the VIP on every node, and answers where the VIP is.
func listenFreebind(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		})
		return errors.Join(err, serr)
	}}
	return lc.Listen(ctx, "tcp", addr)
}

func answer(ln net.Listener, name string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.WriteString(c, name+"\n")
		c.Close()
	}
}

func fetch(addr string, w io.Writer) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, err = io.Copy(w, c)
	return err
}
