package tier

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records what a helper did to its test; Skipf and Fatalf end the goroutine, as
// they do on a *testing.T.
type fakeTB struct {
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper()             {}
func (f *fakeTB) Cleanup(func())      {}
func (f *fakeTB) Logf(string, ...any) {}
func (f *fakeTB) Failed() bool        { return f.failed }
func (f *fakeTB) Skipf(s string, a ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(s, a...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(s string, a ...any) {
	f.failed, f.msg = true, fmt.Sprintf(s, a...)
	runtime.Goexit()
}

// TestShortSkipsEveryTier: under -short each helper skips before it looks for anything,
// so that a program that is missing is not a failure even under CI=true.
func TestShortSkipsEveryTier(t *testing.T) {
	if !testing.Short() {
		t.Skip("checks the -short mode")
	}
	t.Setenv("CI", "true")
	for name, call := range map[string]func(TB){
		"HAProxy":    func(tb TB) { HAProxy(tb) },
		"Keepalived": func(tb TB) { Keepalived(tb) },
		"Root":       Root,
		"Binary":     func(tb TB) { Binary(tb, "halo-no-such-program", "none") },
	} {
		f := &fakeTB{}
		done := make(chan struct{})
		go func() { defer close(done); call(f) }()
		<-done
		if !f.skipped || f.failed || !strings.Contains(f.msg, "-short") {
			t.Errorf("%s under -short: skipped %v, failed %v, %q; want a skip naming -short", name, f.skipped, f.failed, f.msg)
		}
	}
}
