package supervisor

import "runtime/debug"

// Version is the version a binary reports: stamped, when the build set one with
// `-ldflags "-X main.version=..."` (make build: `git describe`), else what the Go
// toolchain recorded in the binary, so that `go build` and `go install` of a checkout or
// of a tagged module still say which code they are rather than "dev".
func Version(stamped string) string {
	info, ok := debug.ReadBuildInfo()
	return versionFrom(stamped, info, ok)
}

// versionFrom is Version with the build information passed in, for the tests: the
// ldflags value; else the main module's version (`go install ...@v1.2.3`, or the
// pseudo-version go 1.24+ derives from the checkout); else vcs.revision, with "-dirty"
// for uncommitted changes as git describe writes it; else "unknown".
func versionFrom(stamped string, info *debug.BuildInfo, ok bool) string {
	if stamped != "" && stamped != "dev" {
		return stamped
	}
	if !ok || info == nil {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
