package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// goBenchResult is the Go micro-benchmarks of every package.
type goBenchResult struct {
	cmd  string
	rows []benchRow
	// problems are the lines of packages that did not build or failed.
	problems []string
	err      string
}

type benchRow struct {
	pkg, name                     string
	iters, nsOp, bOp, allocsPerOp string
	// other holds the metrics a benchmark reports itself ("0 failed_keepalive").
	other []string
}

func goBench(ctx context.Context, quick bool) goBenchResult {
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1"}
	if quick {
		args = append(args, "-benchtime", "1x")
	}
	res := goBenchResult{}
	root, err := moduleRoot(ctx)
	if err != nil {
		res.err = err.Error()
		return res
	}
	// Only the packages that have benchmarks: the others would only be compiled.
	pkgs, err := benchPackages(root)
	if err != nil {
		res.err = err.Error()
		return res
	}
	if len(pkgs) == 0 {
		res.err = "no package has a benchmark"
		return res
	}
	args = append(args, pkgs...)
	res.cmd = "go " + strings.Join(args, " ")
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		res.err = err.Error()
	}
	res.rows, res.problems = parseGoBench(string(out), err != nil)
	logf("go test -bench: %d benchmarks, %d problem lines", len(res.rows), len(res.problems))
	return res
}

// parseGoBench reads `go test -bench` output: one row per benchmark, with the metrics it
// reports itself, and the lines saying what failed (file:line lines only when the run
// failed: a passing benchmark's logs are not problems).
func parseGoBench(out string, failed bool) (rows []benchRow, problems []string) {
	pkg := ""
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
		case strings.HasPrefix(line, "Benchmark"):
			f := strings.Fields(line)
			if len(f) < 4 {
				continue
			}
			r := benchRow{pkg: strings.TrimPrefix(pkg, "github.com/halo-lb/halo/"), name: f[0], iters: f[1]}
			for i := 2; i+1 < len(f); i += 2 {
				switch f[i+1] {
				case "ns/op":
					r.nsOp = f[i]
				case "B/op":
					r.bOp = f[i]
				case "allocs/op":
					r.allocsPerOp = f[i]
				default:
					r.other = append(r.other, f[i]+" "+f[i+1])
				}
			}
			rows = append(rows, r)
		case strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "# "), strings.HasPrefix(line, "--- FAIL"),
			strings.HasPrefix(line, "panic:"), failed && strings.Contains(line, ".go:"):
			if len(problems) < 30 {
				problems = append(problems, strings.TrimSpace(line))
			}
		}
	}
	return rows, problems
}

// benchPackages lists, as ./dir patterns, the packages under root whose tests hold a
// benchmark.
func benchPackages(root string) ([]string, error) {
	seen := map[string]bool{}
	var pkgs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		if !seen[dir] && strings.Contains(string(b), "\nfunc Benchmark") {
			seen[dir] = true
			rel, err := filepath.Rel(root, dir)
			if err != nil {
				return err
			}
			pkgs = append(pkgs, "./"+filepath.ToSlash(rel))
		}
		return nil
	})
	return pkgs, err
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return os.Getwd()
	}
	return filepath.Dir(mod), nil
}

// machine describes where the figures were measured.
type machine struct {
	date, cpu, kernel, debian, goVersion string
	cores                                int
	commit, haproxy, keepalived, pidof   string
	// loadStart and loadEnd are /proc/loadavg when the run began and ended: other work on
	// the machine shows in the figures.
	loadStart, loadEnd string
}

func machineInfo(ctx context.Context) machine {
	m := machine{date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), cores: runtime.NumCPU(), goVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	m.kernel = readTrim("/proc/sys/kernel/osrelease")
	m.loadStart = readTrim("/proc/loadavg")
	m.debian = readTrim("/etc/debian_version")
	first := func(name string, args ...string) string {
		out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	if root, err := moduleRoot(ctx); err == nil {
		cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
		cmd.Dir = root
		out, _ := cmd.Output()
		m.commit = strings.TrimSpace(string(out))
	}
	m.haproxy = first(haproxyBinary(), "-v")
	kad := "/usr/sbin/keepalived"
	if _, err := os.Stat(kad); err != nil {
		kad = "keepalived"
	}
	m.keepalived = first(kad, "--version")
	if p, err := filepath.EvalSymlinks("/usr/bin/pidof"); err == nil {
		m.pidof = p
	}
	return m
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}
