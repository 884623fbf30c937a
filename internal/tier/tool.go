package tier

import "os/exec"

// Tool returns the path of a program a tier-1 test needs (promtool, say): unlike Binary it
// runs under -short too, since the test needs neither root nor a daemon. Missing, it skips
// naming fix, or fails under CI=true.
func Tool(t TB, name, fix string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, fix)
	}
	return p
}
