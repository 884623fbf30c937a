// Command haloctl controls a running halod over its unix socket, supervisorctl-style.
// `haloctl help` lists the commands and exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=..." (make build: git
// describe); left empty, supervisor.Version falls back to the Go build information.
var version string

func main() {
	// Ctrl-C ends a watch cleanly (exit 0), and abandons any other request: halod drops a
	// request whose client hung up before it ran.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// env is what a command runs with: the parsed flags, where to write, the socket.
type env struct {
	stdout, stderr io.Writer
	cmd            string // the command being run
	json           bool
	timeout        time.Duration
	sock           socket
	sockErr        error // -config did not load: reported by the commands that need halod
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("haloctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // haloctl prints its own usage
	socketFlag := fs.String("socket", "", "")
	configFlag := fs.String("config", "", "")
	asJSON := fs.Bool("json", false, "")
	timeout := fs.Duration("timeout", 30*time.Second, "")
	e := &env{stdout: stdout, stderr: stderr}
	// Flags may come before or after the command and its arguments: `haloctl status --json`.
	var pos []string
	wantHelp := false
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			wantHelp = true
			break
		}
		if err != nil {
			e.json = *asJSON || slices.Contains(args, "--json") || slices.Contains(args, "-json")
			return e.usageError(err.Error())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...) // after "--" every word is an argument
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	e.json, e.timeout = *asJSON, *timeout
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	e.sock, e.sockErr = resolveSocket(*socketFlag, set["socket"], getenv, *configFlag)

	if wantHelp {
		if len(pos) > 0 {
			if c, ok := lookup(pos[0]); ok && !c.hidden {
				writeCommandHelp(stdout, c)
				return exitOK
			}
		}
		writeHelp(stdout)
		return exitOK
	}
	if len(pos) == 0 {
		if e.json {
			return e.usageError("no command given (haloctl help lists them)")
		}
		writeHelp(stderr)
		return exitUsage
	}
	c, ok := lookup(pos[0])
	if !ok {
		return e.usageError(fmt.Sprintf("unknown command %q (haloctl help lists them)", pos[0]))
	}
	cmdArgs := pos[1:]
	if c.nargs >= 0 && len(cmdArgs) != c.nargs || len(c.choices) > 0 && len(cmdArgs) == 1 && !slices.Contains(c.choices, cmdArgs[0]) {
		return e.usageError("usage: " + usageLine(c))
	}
	e.cmd = c.name
	return c.run(ctx, e, cmdArgs)
}

// usageError reports a bad command line (exit 2).
func (e *env) usageError(msg string) int {
	return e.fail(exitUsage, msg)
}

// fail reports an error with its exit code: an error object on stdout with --json (so a
// script always reads one JSON object), a line on stderr otherwise.
func (e *env) fail(code int, msg string) int {
	if e.json {
		writeJSON(e.stdout, errorObject(code, msg, e.sock))
		return code
	}
	fmt.Fprintf(e.stderr, "haloctl: %s\n", msg)
	return code
}
