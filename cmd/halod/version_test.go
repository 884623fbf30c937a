package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinariesReportVersion builds halod and haloctl twice, as `make build` does (the
// version passed with -ldflags) and as `go build` does (nothing passed), and runs each
// binary's version command: the first must print the stamped version, the second what
// the toolchain recorded (`go version -m`): the module's (pseudo-)version, else the
// commit. Never "dev".
func TestBinariesReportVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries twice (about 10 s)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binaries with")
	}
	for _, tc := range []struct{ name, ldflags, want string }{
		{"make build", "-X main.version=v9.8.7-3-gabcdef", "v9.8.7-3-gabcdef"},
		{"go build", "", ""},
	} {
		dir := t.TempDir()
		// -trimpath as make build and bench-quick: their compiled packages are reused.
		build := exec.Command(goBin, "build", "-trimpath", "-ldflags", tc.ldflags, "-o", dir+"/", ".", "../haloctl")
		// As on a machine with Go's defaults, whatever this one's go env says.
		build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=auto")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, out)
		}
		for _, c := range []struct{ bin, arg string }{{"halod", "-version"}, {"haloctl", "version"}} {
			bin := filepath.Join(dir, c.bin)
			want := tc.want
			if want == "" {
				want = recorded(t, goBin, bin)
			}
			// haloctl version prints its own version, then fails to reach a halod.
			args := []string{c.arg}
			if c.bin == "haloctl" {
				args = []string{"-socket", filepath.Join(dir, "none.sock"), c.arg}
			}
			out, _ := exec.Command(bin, args...).CombinedOutput()
			first, _, _ := strings.Cut(string(out), "\n")
			if first != c.bin+" "+want {
				t.Errorf("%s: %s %s printed %q, want %q", tc.name, c.bin, c.arg, first, c.bin+" "+want)
			}
		}
	}
}

// recorded is the version a binary built without ldflags must report, from what the
// toolchain wrote into it. A git worktree (.git is a file) gets no VCS stamp from go
// 1.26, so there it is "unknown"; a clone, as CI's, gets the pseudo-version.
func recorded(t *testing.T, goBin, bin string) string {
	t.Helper()
	out, err := exec.Command(goBin, "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var mod, rev string
	dirty := false
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "mod":
			mod = f[2]
		case len(f) >= 2 && strings.HasPrefix(f[1], "vcs.revision="):
			rev = strings.TrimPrefix(f[1], "vcs.revision=")
		case len(f) >= 2 && f[1] == "vcs.modified=true":
			dirty = true
		}
	}
	switch {
	case mod != "" && mod != "(devel)":
		return mod
	case rev != "":
		if dirty {
			return rev[:12] + "-dirty"
		}
		return rev[:12]
	}
	t.Logf("go stamped no version into %s (a git worktree?): expecting \"unknown\"", bin)
	return "unknown"
}
