package main

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// describe is `git describe --tags --always --dirty --abbrev=7`: a tag vX.Y.Z[-pre], then
// -N-gHASH when commits follow it, or only a hash when no tag exists; -dirty last.
var describe = regexp.MustCompile(`^(?:v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.]+?))?(?:-(\d+)-g([0-9a-f]+))?|([0-9a-f]{4,40}))(-dirty)?$`)

// debVersion maps git describe to a Debian upstream version that sorts as the builds do
// (dpkg --compare-versions):
//
//	v1.2.3               1.2.3
//	v1.2.3-rc1           1.2.3~rc1              (before 1.2.3)
//	v1.2.3-4-gabc1234    1.2.3+git20261202.004407.4.abc1234   (after 1.2.3)
//	abc1234 (no tag)     0~git20261202.004407.abc1234
//	...-dirty            ... .dirty
//
// commit is the commit's time, so that untagged builds sort by date.
func debVersion(desc string, commit time.Time) (string, error) {
	m := describe.FindStringSubmatch(strings.TrimSpace(desc))
	if m == nil {
		return "", fmt.Errorf("git describe %q: not vX.Y.Z[-pre][-N-gHASH], nor a hash", desc)
	}
	stamp := commit.UTC().Format("20060102.150405")
	var v string
	switch {
	case m[5] != "":
		v = "0~git" + stamp + "." + m[5]
	default:
		v = m[1]
		if m[2] != "" {
			v += "~" + m[2]
		}
		if m[3] != "" {
			v += "+git" + stamp + "." + m[3] + "." + m[4]
		}
	}
	if m[6] != "" {
		v += ".dirty"
	}
	return v, nil
}
