package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// Flag is one flag as the flag package prints it (FlagSet.PrintDefaults).
type Flag struct {
	Name  string
	Arg   string // the value's placeholder (`FILE`, string, duration); empty for a bool
	Usage string
}

// Help is what `CMD -h` prints: the usage lines and the flags.
type Help struct {
	Text  string
	Flags []Flag
}

// helpOf runs argv with -h and returns what it printed. The flag package exits 2 (or 0 when
// the command handles -h itself), writing to stderr; anything else is an error.
func helpOf(argv []string) (Help, error) {
	cmd := exec.Command(argv[0], append(argv[1:], "-h")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
		err = nil
	}
	if err != nil {
		return Help{}, fmt.Errorf("%s -h: %w", strings.Join(argv, " "), err)
	}
	return Help{Text: out.String(), Flags: parseDefaults(out.String())}, nil
}

// parseDefaults reads FlagSet.PrintDefaults' format: "  -name[ ARG]" and the usage either
// after a tab on the same line (one-letter bools) or on the lines below, indented by
// "    \t". Lines of other text (usage lines, command lists) are skipped.
func parseDefaults(text string) []Flag {
	var flags []Flag
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "  -"):
			head, usage, _ := strings.Cut(strings.TrimPrefix(line, "  -"), "\t")
			name, arg, _ := strings.Cut(head, " ")
			flags = append(flags, Flag{Name: name, Arg: arg, Usage: usage})
		case strings.HasPrefix(line, "    \t") && len(flags) > 0:
			f := &flags[len(flags)-1]
			f.Usage = strings.TrimSpace(f.Usage + " " + strings.TrimPrefix(line, "    \t"))
		}
	}
	return flags
}

// subcommands returns the subcommands a usage text names on its "usage:" lines, e.g.
// "halod cleanup" from "       halod cleanup [-config FILE]". A word is a subcommand when
// it follows the program's name and is not a flag or an argument placeholder.
func subcommands(prog, text string) []string {
	var subs []string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "usage:"))
		if len(f) < 2 || f[0] != prog || strings.HasPrefix(f[1], "-") || strings.HasPrefix(f[1], "[") ||
			strings.ToUpper(f[1]) == f[1] {
			continue
		}
		subs = append(subs, prog+" "+f[1])
	}
	return subs
}

// Command is one entry of a "commands:" block: "  name ARGS   description".
type Command struct {
	Synopsis, Usage string
}

// commands reads the "commands:" block of a usage text (haloctl's), up to the next line
// that is not indented.
func commands(text string) []Command {
	var cmds []Command
	in := false
	for _, line := range strings.Split(text, "\n") {
		switch {
		case line == "commands:":
			in = true
		case in && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "  -"):
			syn, usage, ok := strings.Cut(strings.TrimSpace(line), "  ")
			if !ok {
				continue
			}
			cmds = append(cmds, Command{Synopsis: syn, Usage: strings.TrimSpace(usage)})
		default:
			in = false
		}
	}
	return cmds
}
