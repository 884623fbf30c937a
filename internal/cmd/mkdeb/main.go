// Command mkdeb builds halo's Debian package with nfpm (as a library): the static binaries,
// the systemd units, /etc/halo's conffiles, the man pages mkman generated, the docs and
// examples, the maintainer scripts of configs/debian. `make deb` runs it:
//
//	mkdeb -bin bin/static -man dist/man -describe "$(git describe ...)" -time UNIX -out dist
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
)

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/static", "directory holding the static halod and haloctl")
	flag.StringVar(&o.man, "man", "dist/man", "directory holding the generated man pages")
	flag.StringVar(&o.root, "root", ".", "the repository's top directory")
	flag.StringVar(&o.describe, "describe", "", "git describe --tags --always --dirty --abbrev=7")
	unix := flag.Int64("time", 0, "the commit's time, seconds since the epoch (git log -1 --format=%ct)")
	flag.StringVar(&o.out, "out", "dist", "directory to write halo_VERSION_ARCH.deb to")
	flag.StringVar(&o.arch, "arch", "amd64", "Debian architecture of the binaries")
	flag.Parse()
	o.when = time.Unix(*unix, 0).UTC()
	path, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

type options struct {
	bin, man, root, describe, out, arch string
	when                                time.Time
}

func build(o options) (string, error) {
	if o.when.Unix() <= 0 {
		return "", fmt.Errorf("-time: the commit's time is required (reproducible builds)")
	}
	upstream, err := debVersion(o.describe, o.when)
	if err != nil {
		return "", err
	}
	work, err := os.MkdirTemp("", "mkdeb")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	contents, err := contents(o, work, upstream)
	if err != nil {
		return "", err
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          "halo",
		Arch:          o.arch,
		Platform:      "linux",
		Version:       upstream,
		VersionSchema: "none",
		Release:       debianRevision,
		Section:       "net",
		Priority:      "optional",
		Maintainer:    maintainer,
		Homepage:      "https://github.com/halo-lb/halo",
		License:       "Apache-2.0",
		MTime:         o.when,
		Description: "HAProxy supervisor and keepalived-compatible VRRP speaker\n" +
			"halod replaces the haproxy + keepalived pair of a load-balancer node: it runs\n" +
			"or watches the local HAProxy, judges its health through the runtime API,\n" +
			"validates every haproxy.cfg before a seamless reload, and ties that health to\n" +
			"a VRRP speaker (v2 and v3, IPv4 and IPv6) that keepalived nodes interoperate\n" +
			"with. haloctl shows and controls it; Prometheus metrics are built in.",
		Overridables: nfpm.Overridables{
			// The binaries are static (CGO_ENABLED=0): no libc. iproute2 is what operators
			// and notify hooks reach for; HAProxy may run elsewhere (external mode).
			Depends:    []string{"iproute2"},
			Recommends: []string{"haproxy (>= 2.6)"},
			Conflicts:  []string{},
			Contents:   contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(o.root, "configs/debian/postinst"),
				PreRemove:   filepath.Join(o.root, "configs/debian/prerm"),
				PostRemove:  filepath.Join(o.root, "configs/debian/postrm"),
			},
			Deb: nfpm.Deb{Compression: "xz"},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	if err := nfpm.Validate(info); err != nil {
		return "", err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(o.out, pkg.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("package: %w", err)
	}
	return path, f.Close()
}

const (
	debianRevision = "1"
	maintainer     = "halo developers <halo-lb@users.noreply.github.com>"
)
