package supervisor

import (
	"runtime/debug"
	"testing"
)

func TestVersionFrom(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "0ab7484e1f2d3c4b5a69788796a5b4c3d2e1f000"
	for _, tc := range []struct {
		name    string
		stamped string
		info    *debug.BuildInfo
		ok      bool
		want    string
	}{
		{"ldflags win", "v1.2.0-3-g0ab7484", &debug.BuildInfo{Main: debug.Module{Version: "v1.1.0"}}, true, "v1.2.0-3-g0ab7484"},
		{"go install @tag", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.1.0"}}, true, "v1.1.0"},
		{"old dev default ignored", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.1.0"}}, true, "v1.1.0"},
		{"checkout, clean", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, true, "0ab7484e1f2d"},
		{"checkout, modified", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, true, "0ab7484e1f2d-dirty"},
		{"no vcs data", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "unknown"},
		{"no build info", "", nil, false, "unknown"},
	} {
		if got := versionFrom(tc.stamped, tc.info, tc.ok); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
