// Command haloctl controls a running halod over its unix socket, supervisorctl-style.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/halo-lb/halo/supervisor"
)

var version = "dev"

// Exit codes scripts can rely on.
const (
	exitOK          = 0
	exitFailed      = 1 // refused or failed
	exitUsage       = 2
	exitUnhealthy   = 3 // status: the node is not healthy or not as configured
	exitUnreachable = 4 // halod did not answer
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: haloctl [-socket PATH] [-timeout 30s] [--json] COMMAND
commands:
  status                 HAProxy and every VRRP instance (exit 3 when not healthy)
  reload                 validate haproxy.cfg and halo.yaml, then reload
  validate               validate haproxy.cfg and halo.yaml without reloading
  maintenance on|off     keep this node out of MASTER, or let it back
  resign INSTANCE        give up MASTER of one instance now
  version                versions of haloctl and halod
`

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("haloctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage+"flags:\n")
		fs.PrintDefaults()
	}
	socket := fs.String("socket", supervisor.DefaultControlSocket, "halod's control socket")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for halod")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	rest := fs.Args()
	// Accept flags after the command too: `haloctl status --json`.
	var cmdArgs []string
	for _, a := range rest {
		switch a {
		case "--json", "-json":
			*asJSON = true
		default:
			cmdArgs = append(cmdArgs, a)
		}
	}
	if len(cmdArgs) == 0 {
		fs.Usage()
		return exitUsage
	}
	req := supervisor.Request{Cmd: cmdArgs[0], Args: cmdArgs[1:]}
	switch req.Cmd {
	case "status", "reload", "validate", "version":
		if len(req.Args) != 0 {
			fmt.Fprintf(stderr, "haloctl: %s takes no arguments\n", req.Cmd)
			return exitUsage
		}
	case "maintenance":
		if len(req.Args) != 1 || (req.Args[0] != "on" && req.Args[0] != "off") {
			fmt.Fprintln(stderr, "haloctl: maintenance on|off")
			return exitUsage
		}
	case "resign":
		if len(req.Args) != 1 {
			fmt.Fprintln(stderr, "haloctl: resign INSTANCE")
			return exitUsage
		}
	default:
		fmt.Fprintf(stderr, "haloctl: unknown command %q\n", req.Cmd)
		fs.Usage()
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	resp, err := supervisor.Call(ctx, *socket, req)
	if err != nil {
		if req.Cmd == "version" {
			fmt.Fprintln(stdout, "haloctl", version)
		}
		fmt.Fprintf(stderr, "haloctl: %v\n", err)
		if errors.Is(err, supervisor.ErrUnreachable) {
			return exitUnreachable
		}
		return exitFailed
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		var v any = resp
		if resp.Status != nil {
			v = resp.Status
		}
		_ = enc.Encode(v)
	}
	if !resp.OK {
		if !*asJSON {
			fmt.Fprintf(stderr, "haloctl: %s: %s\n", req.Cmd, resp.Error)
		}
		return exitFailed
	}
	switch {
	case req.Cmd == "status":
		if !*asJSON {
			_ = resp.Status.WriteTable(stdout, time.Now())
		}
		if !resp.Status.Healthy() {
			return exitUnhealthy
		}
	case req.Cmd == "version" && !*asJSON:
		fmt.Fprintf(stdout, "haloctl %s\nhalod %s\n", version, resp.Version)
	case !*asJSON:
		fmt.Fprintln(stdout, resp.Message)
	}
	return exitOK
}
