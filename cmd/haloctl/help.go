package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

const globalUsage = `usage: haloctl [-socket PATH | -config halo.yaml] [-timeout 30s] [--json] COMMAND [ARGS]`

const flagsHelp = `flags (before or after the command):
  -socket PATH      halod's control socket; else $HALO_SOCKET; else control.socket of the
                    halo.yaml given with -config; else /run/halo/halo.sock
  -config FILE      read the socket path from this halo.yaml
  -timeout D        how long to wait for halod (default 30s)
  --json            print one JSON object (an error object {"ok":false,"error","code",
                    "reason"} when the command fails or halod does not answer)
  -h, --help        this text; 'haloctl COMMAND -h' is 'haloctl help COMMAND'`

// usageLine is one command's usage.
func usageLine(c command) string {
	if c.args == "" {
		return "haloctl " + c.name
	}
	return "haloctl " + c.name + " " + c.args
}

// writeHelp prints the whole usage: commands, flags, exit codes.
func writeHelp(w io.Writer) {
	fmt.Fprintln(w, globalUsage)
	fmt.Fprintln(w, "\ncommands:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		if c.hidden {
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimPrefix(usageLine(c), "haloctl "), c.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s\n", flagsHelp)
	fmt.Fprintln(w, "\nexit codes:")
	writeExits(w, nil)
	fmt.Fprintln(w, "\n'haloctl help COMMAND' says more about one command.")
}

// writeExits prints the exit codes in only (all when nil).
func writeExits(w io.Writer, only []int) {
	for _, x := range exitCodes {
		if only != nil && !slices.Contains(only, x.code) {
			continue
		}
		fmt.Fprintf(w, "  %d  %s\n", x.code, strings.Join(wrap(x.meaning, 72), "\n     "))
	}
}

// wrap breaks s into lines of at most width characters, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}

// writeCommandHelp prints one command's usage, text and exit codes.
func writeCommandHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "usage: %s\n\n%s\n\n%s\n", usageLine(c), c.summary, c.help)
	fmt.Fprintln(w, "\nexit codes:")
	writeExits(w, c.exits)
}

func runHelp(_ context.Context, e *env, args []string) int {
	switch len(args) {
	case 0:
		writeHelp(e.stdout)
		return exitOK
	case 1:
		if c, ok := lookup(args[0]); ok && !c.hidden {
			writeCommandHelp(e.stdout, c)
			return exitOK
		}
		return e.usageError(fmt.Sprintf("help: unknown command %q (haloctl help lists them)", args[0]))
	}
	return e.usageError("usage: haloctl help [COMMAND]")
}
