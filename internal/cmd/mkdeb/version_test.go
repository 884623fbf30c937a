package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestDebVersion(t *testing.T) {
	when := time.Date(2026, 12, 2, 0, 44, 7, 0, time.UTC)
	for _, tc := range []struct{ desc, want string }{
		{"v1.2.3", "1.2.3"},
		{"1.2", "1.2"},
		{"v1.2.3-rc1", "1.2.3~rc1"},
		{"v1.2.3-4-gabc1234", "1.2.3+git20261202.004407.4.abc1234"},
		{"v1.2.3-rc.1-4-gabc1234", "1.2.3~rc.1+git20261202.004407.4.abc1234"},
		{"abc1234", "0~git20261202.004407.abc1234"},
		{"abc1234-dirty", "0~git20261202.004407.abc1234.dirty"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+git20261202.004407.4.abc1234.dirty"},
	} {
		got, err := debVersion(tc.desc, when)
		if err != nil || got != tc.want {
			t.Errorf("debVersion(%q) = %q, %v; want %q", tc.desc, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "dev", "v1.2.3 x", "release-1"} {
		if v, err := debVersion(bad, when); err == nil {
			t.Errorf("debVersion(%q) = %q, want an error", bad, v)
		}
	}
}

// TestDebVersionOrder checks with dpkg itself that the versions sort as the builds do.
func TestDebVersionOrder(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg not installed")
	}
	day := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	order := []struct {
		desc string
		when time.Time
	}{
		{"abc1234", day},
		{"def5678", day.Add(time.Hour)},
		{"v0.9.0-rc1", day},
		{"v0.9.0", day},
		{"v0.9.0-1-gabc1234", day},
		{"v0.9.0-2-gabc1235", day.Add(time.Minute)},
		{"v0.10.0", day},
	}
	var prev string
	for _, o := range order {
		v, err := debVersion(o.desc, o.when)
		if err != nil {
			t.Fatal(err)
		}
		if prev != "" {
			if out, err := exec.Command(dpkg, "--compare-versions", prev+"-1", "lt", v+"-1").CombinedOutput(); err != nil {
				t.Errorf("dpkg: %s-1 is not below %s-1 (%s %v)", prev, v, strings.TrimSpace(string(out)), err)
			}
		}
		prev = v
	}
}
