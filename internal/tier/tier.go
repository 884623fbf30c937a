// Package tier implements the test tiers of DESIGN.md: a test that needs root, a network
// namespace or a binary such as haproxy skips with a message saying what to install when
// the prerequisite is missing, and fails instead under CI=true, so that a green CI means
// every tier ran. Under go test -short (make test-unit) only tier 1 runs: every helper
// here skips at once, before it looks for anything, so that no test past tier 1 starts
// haproxy, keepalived or a namespace.
package tier

import (
	"os"
	"os/exec"
	"testing"
)

// TB is the part of testing.TB the tiers need; *testing.T and *testing.B satisfy it, and
// programs such as the demo supply their own.
type TB interface {
	Helper()
	Cleanup(func())
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Failed() bool
}

// CI reports whether the tests run under CI (CI=true), where missing prerequisites fail.
func CI() bool { return os.Getenv("CI") == "true" }

// short skips t under go test -short, naming the tier it belongs to. Programs that are
// not tests (the demo, the benchmarks) are never skipped.
func short(t TB, needs string) {
	t.Helper()
	if testing.Testing() && testing.Short() {
		t.Skipf("skipped in -short mode (tier 1 only): needs %s", needs)
	}
}

// Missing skips t, or fails it under CI, explaining what is missing and how to get it.
func Missing(t TB, what, fix string) {
	t.Helper()
	if CI() {
		t.Fatalf("CI=true and %s is missing: %s", what, fix)
	}
	t.Skipf("skipped: %s is missing: %s", what, fix)
}

// Binary returns the path of a program the test needs, or skips/fails naming the Debian
// package that provides it.
func Binary(t TB, name, debianPackage string) string {
	t.Helper()
	short(t, name)
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, "apt-get install -y "+debianPackage)
	}
	return p
}

// HAProxy returns the path of the haproxy binary (tier 2).
func HAProxy(t TB) string {
	t.Helper()
	short(t, "haproxy (tier 2)")
	for _, p := range []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return Binary(t, "haproxy", "haproxy")
}

// Keepalived returns the path of the keepalived binary (tier 3 interop).
func Keepalived(t TB) string {
	t.Helper()
	short(t, "keepalived (tier 3)")
	if _, err := os.Stat("/usr/sbin/keepalived"); err == nil {
		return "/usr/sbin/keepalived"
	}
	return Binary(t, "keepalived", "keepalived")
}

// Root requires root and iproute2's ip, for the network-namespace tier.
func Root(t TB) {
	t.Helper()
	short(t, "root and network namespaces (tier 3)")
	if os.Geteuid() != 0 {
		Missing(t, "root", "run the namespace tier as root (sudo make test)")
	}
	Binary(t, "ip", "iproute2")
}
