package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestParseDefaults reads what the flag package itself prints, so that a change of its
// format fails here rather than dropping options from the man pages.
func TestParseDefaults(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("config", "/etc/halo/halo.yaml", "halo.yaml to run with")
	fs.Bool("t", false, "check and exit")
	fs.Bool("version", false, "print the version")
	fs.Duration("timeout", 30*time.Second, "how long to wait")
	fs.String("o", "", "write to `FILE`\ninstead of stdout")
	var b bytes.Buffer
	fs.SetOutput(&b)
	fs.PrintDefaults()
	want := []Flag{
		{Name: "config", Arg: "string", Usage: `halo.yaml to run with (default "/etc/halo/halo.yaml")`},
		{Name: "o", Arg: "FILE", Usage: "write to FILE instead of stdout"},
		{Name: "t", Usage: "check and exit"},
		{Name: "timeout", Arg: "duration", Usage: "how long to wait (default 30s)"},
		{Name: "version", Usage: "print the version"},
	}
	if d := cmp.Diff(want, parseDefaults("usage: x [-t]\n"+b.String())); d != "" {
		t.Errorf("parseDefaults (-want +got):\n%s\nfrom:\n%s", d, b.String())
	}
}

func TestUsageParsing(t *testing.T) {
	usage := "usage: halod [-config FILE] [-t]\n       halod cleanup [-config FILE]\n" +
		"       halod import-keepalived [-o FILE] keepalived.conf\n  -t\tcheck\n"
	if d := cmp.Diff([]string{"halod cleanup", "halod import-keepalived"}, subcommands("halod", usage)); d != "" {
		t.Errorf("subcommands (-want +got):\n%s", d)
	}
	ctl := "usage: haloctl [-socket PATH] COMMAND\ncommands:\n  status                 show it\n" +
		"  maintenance on|off     keep out\nflags:\n  -json\n    \tJSON\n"
	want := []Command{{"status", "show it"}, {"maintenance on|off", "keep out"}}
	if d := cmp.Diff(want, commands(ctl)); d != "" {
		t.Errorf("commands (-want +got):\n%s", d)
	}
}

// buildBinaries builds halod and haloctl for the pages, or takes HALO_BIN's (`make test`
// passes those `make deb` built).
func buildBinaries(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("HALO_BIN"); bin != "" {
		return bin
	}
	bin := t.TempDir()
	out, err := exec.Command("go", "build", "-o", bin+"/", "../../../cmd/halod", "../../../cmd/haloctl").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestManPages renders the real pages from the real binaries: every flag of every command
// is in them, and a subcommand halod's usage names but the page lacks fails the build.
func TestManPages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds halod and haloctl")
	}
	bin := buildBinaries(t)
	out := t.TempDir()
	if err := run(bin, "../../../docs/man", "../../..", out, "test", "2026-12-02"); err != nil {
		t.Fatal(err)
	}
	for page, argvs := range map[string][][]string{
		"halod.8":   {{"halod"}, {"halod", "cleanup"}, {"halod", "import-keepalived"}},
		"haloctl.1": {{"haloctl"}},
	} {
		b, err := os.ReadFile(filepath.Join(out, page))
		if err != nil {
			t.Fatal(err)
		}
		for _, argv := range argvs {
			h, err := helpOf(append([]string{filepath.Join(bin, argv[0])}, argv[1:]...))
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Flags) == 0 {
				t.Errorf("%s -h: no flags parsed from:\n%s", strings.Join(argv, " "), h.Text)
			}
			for _, f := range h.Flags {
				if !strings.Contains(string(b), `\fB\-`+escape(f.Name)+`\fR`) {
					t.Errorf("%s: no entry for %s's flag -%s", page, strings.Join(argv, " "), f.Name)
				}
			}
		}
	}
	ctl, _ := os.ReadFile(filepath.Join(out, "haloctl.1"))
	for _, cmd := range []string{"status", "reload", "validate", "maintenance on|off", "resign INSTANCE", "version"} {
		if !strings.Contains(string(ctl), `\fB`+escape(cmd)+`\fR`) {
			t.Errorf("haloctl.1: no entry for command %q", cmd)
		}
	}

	md, err := os.ReadFile("../../../docs/man/halod.8.md")
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(md), "{{flags halod cleanup}}", "", 1)
	if _, err := render("halod.8", broken, bin, "../../..", "test", "2026-12-02"); err == nil ||
		!strings.Contains(err.Error(), "halod cleanup") {
		t.Errorf("a page without halod cleanup's flags: err = %v, want one naming halod cleanup", err)
	}
}
