package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fault is one row of the failover table.
type fault struct {
	key, title string
	inject     func(ctx context.Context, s system) (undo func(context.Context) error, t0 time.Time, err error)
}

func faultList() []fault {
	return []fault{
		{"haproxy-kill", "HAProxy SIGKILL (master and workers)", injectHAProxyKill},
		{"haproxy-stop", "HAProxy SIGSTOP (workers: hung)", injectHAProxyStop},
		{"link-cut", "master's link cut", injectLinkCut},
		{"daemon-term", "master's daemon SIGTERM", func(ctx context.Context, s system) (func(context.Context) error, time.Time, error) {
			return injectDaemon(ctx, s, syscall.SIGTERM)
		}},
		{"daemon-kill", "master's daemon SIGKILL", func(ctx context.Context, s system) (func(context.Context) error, time.Time, error) {
			return injectDaemon(ctx, s, syscall.SIGKILL)
		}},
	}
}

// windowOf is how long the client may stay unserved after fault before the round counts
// as "no failover".
func windowOf(cfg config, fault string) time.Duration {
	if fault == "haproxy-stop" {
		return cfg.window
	}
	return maxWindow
}

func faultKeys() []string {
	var keys []string
	for _, f := range faultList() {
		keys = append(keys, f.key)
	}
	return keys
}
func injectHAProxyKill(ctx context.Context, s system) (func(context.Context) error, time.Time, error) {
	m, w, err := s.haproxyPIDs(ctx, 0)
	if err != nil {
		return nil, time.Time{}, err
	}
	pids := append([]int{m}, w...)
	t0 := time.Now()
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	return func(ctx context.Context) error {
		if err := waitGone(ctx, pids, 5*time.Second); err != nil {
			return err
		}
		return s.haproxyKilled(ctx, 0)
	}, t0, nil
}

func injectHAProxyStop(ctx context.Context, s system) (func(context.Context) error, time.Time, error) {
	_, w, err := s.haproxyPIDs(ctx, 0)
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(w) == 0 {
		return nil, time.Time{}, errors.New("no HAProxy worker")
	}
	t0 := time.Now()
	for _, p := range w {
		_ = syscall.Kill(p, syscall.SIGSTOP)
	}
	return func(context.Context) error {
		for _, p := range w {
			_ = syscall.Kill(p, syscall.SIGCONT)
		}
		return nil
	}, t0, nil
}

func injectLinkCut(ctx context.Context, s system) (func(context.Context) error, time.Time, error) {
	t0 := time.Now()
	if err := s.lab().LinkDown(s.node(0), 0); err != nil {
		return nil, t0, err
	}
	return func(context.Context) error { return s.lab().LinkUp(s.node(0), 0) }, t0, nil
}

func injectDaemon(ctx context.Context, s system, sig syscall.Signal) (func(context.Context) error, time.Time, error) {
	main, all, err := s.daemonPIDs(ctx, 0)
	if err != nil {
		return nil, time.Time{}, err
	}
	m, w, err := s.haproxyPIDs(ctx, 0)
	if err != nil {
		return nil, time.Time{}, err
	}
	hap := append([]int{m}, w...)
	t0 := time.Now()
	if sig == syscall.SIGKILL {
		// A crash: every process of the daemon at once, none may say goodbye.
		for _, p := range all {
			_ = syscall.Kill(p, sig)
		}
	} else {
		_ = syscall.Kill(main, sig)
	}
	return func(ctx context.Context) error {
		if err := waitGone(ctx, all, 15*time.Second); err != nil {
			for _, p := range all {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			if err := waitGone(ctx, all, 5*time.Second); err != nil {
				return err
			}
		}
		return s.daemonEnded(ctx, 0, hap, sig == syscall.SIGKILL)
	}, t0, nil
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// comm returns the command name of pid.
func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// waitGone waits until none of pids runs.
func waitGone(ctx context.Context, pids []int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		var left []string
		for _, p := range pids {
			if alive(p) {
				left = append(left, strconv.Itoa(p))
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %s still running after %s", strings.Join(left, ","), d)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}
