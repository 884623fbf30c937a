package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/halo-lb/halo/supervisor"
)

// TestMain lets the completion test run this binary as haloctl itself.
func TestMain(m *testing.M) {
	if os.Getenv("HALOCTL_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestCompletionCoversTable: every command of the table is in both scripts, the hidden
// one in neither's command list.
func TestCompletionCoversTable(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		code, out, _ := haloctl(t, nil, "completion", shell)
		if code != exitOK {
			t.Fatalf("completion %s: exit %d", shell, code)
		}
		for _, c := range commands() {
			var listed bool
			if shell == "bash" {
				m := bashCommands.FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("no command list in the bash script:\n%s", out)
				}
				listed = slices.Contains(strings.Fields(m[1]), c.name)
			} else {
				listed = strings.Contains(out, "'"+c.name+":")
			}
			if listed == c.hidden {
				t.Errorf("%s: command %q listed %v, want %v", shell, c.name, listed, !c.hidden)
			}
		}
	}
	if code, _, _ := haloctl(t, nil, "completion", "fish"); code != exitUsage {
		t.Errorf("completion fish: exit %d, want %d", code, exitUsage)
	}
}

// TestBashCompletion runs the generated bash script: commands, choices, and instance
// names read from a halod (here a fake) through the -socket on the command line.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash") // Debian always has it; other systems may not
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "haloctl.bash")
	_, out, _ := haloctl(t, nil, "completion", "bash")
	if err := os.WriteFile(script, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "haloctl")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nHALOCTL_TEST_MAIN=1 exec "+self+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sock := serve(t, func(ctx context.Context, req supervisor.Request) supervisor.Response {
		return supervisor.Response{OK: true, Status: &supervisor.Status{Instances: []supervisor.InstanceStatus{{Name: "VI_1"}, {Name: "VI_WAN"}}}}
	})
	var all []string
	for _, c := range commands() {
		if !c.hidden {
			all = append(all, c.name)
		}
	}
	for _, tc := range []struct {
		words []string
		want  []string
	}{
		{[]string{wrapper, ""}, all},
		{[]string{wrapper, "re"}, []string{"reload", "resign", "resume"}},
		{[]string{wrapper, "maintenance", ""}, []string{"on", "off"}},
		{[]string{wrapper, "--json", "completion", ""}, []string{"bash", "zsh"}},
		{[]string{wrapper, "help", "wa"}, []string{"watch"}},
		{[]string{wrapper, "-socket", sock, "resign", ""}, []string{"VI_1", "VI_WAN"}},
		{[]string{wrapper, "-socket", sock, "resume", "VI_W"}, []string{"VI_WAN"}},
		{[]string{wrapper, "-socket", filepath.Join(dir, "none.sock"), "resign", ""}, nil},
		{[]string{wrapper, "resign", "VI_1", ""}, nil},
		{[]string{wrapper, "status", "--j"}, []string{"--json"}},
	} {
		var words []string
		for _, w := range tc.words {
			words = append(words, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
		}
		prog := "source " + script + "\nCOMP_WORDS=(" + strings.Join(words, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(tc.words)-1) + "\n_haloctl\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		cmd := exec.Command(bash, "-c", prog)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tc.words[1:], err, stderr.String())
		}
		got := strings.Fields(string(b))
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tc.want))
		if !slices.Equal(got, want) {
			t.Errorf("%q completes to %q, want %q (stderr %q)", tc.words[1:], got, want, stderr.String())
		}
	}
}

// bashCommands finds the command words the bash script completes first.
var bashCommands = regexp.MustCompile(`if \[\[ -z \$cmd \]\]; then\s+COMPREPLY=\(\$\(compgen -W "([^"]*)"`)
