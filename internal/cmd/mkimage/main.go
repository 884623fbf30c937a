// Command mkimage packs halod and haloctl, built static (CGO_ENABLED=0), into a container
// image tarball without a container daemon: one layer over an empty base, with the few
// files of a distribution a static Go daemon needs (/etc/passwd, /etc/group). `make image`
// runs it; see configs/kubernetes/README.md for loading and running the image.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.halod, "halod", "bin/image/halod", "static halod to ship")
	fs.StringVar(&o.haloctl, "haloctl", "bin/image/haloctl", "static haloctl to ship")
	fs.StringVar(&o.license, "license", "LICENSE", "licence text shipped as /usr/share/doc/halo/LICENSE (empty: none)")
	fs.StringVar(&o.version, "version", "dev", "version: the org.opencontainers.image.version label and the tag")
	fs.StringVar(&o.revision, "revision", "", "commit: the org.opencontainers.image.revision label")
	fs.StringVar(&o.source, "source", "https://github.com/halo-lb/halo", "the org.opencontainers.image.source label")
	fs.StringVar(&o.arch, "arch", runtime.GOARCH, "GOARCH the binaries were built for")
	fs.StringVar(&o.format, "format", FormatDocker, "tarball format: docker (docker-archive) or oci (OCI layout in a tar)")
	fs.StringVar(&o.repo, "name", "halo", "image name; the tag is the version")
	epoch := fs.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "creation time and every file's mtime, Unix seconds (default SOURCE_DATE_EPOCH, else 0): the same input gives the same image digest")
	out := fs.String("o", "bin/halo-image.tar", "tarball to write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.created = time.Unix(0, 0).UTC()
	if *epoch != "" {
		sec, err := strconv.ParseInt(*epoch, 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "mkimage: -created %q: want Unix seconds\n", *epoch)
			return 2
		}
		o.created = time.Unix(sec, 0).UTC()
	}
	img, err := buildImage(o)
	if err == nil {
		err = writeImage(img, *out, o.format, o.repo, tagFor(o.version))
	}
	if err != nil {
		fmt.Fprintln(stderr, "mkimage:", err)
		return 1
	}
	digest, err := img.Digest()
	if err != nil {
		fmt.Fprintln(stderr, "mkimage:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s:%s (%s, %s)\n", *out, o.repo, tagFor(o.version), o.format, digest)
	return 0
}
