package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Formats of the tarball.
const (
	// FormatDocker is a docker-archive (`docker save`'s format): `docker load`, `podman
	// load`, `skopeo copy docker-archive:FILE ...`.
	FormatDocker = "docker"
	// FormatOCI is an OCI image layout in a tar (oci-archive): `podman load`, `docker
	// load` from Docker 25, `skopeo copy oci-archive:FILE ...`.
	FormatOCI = "oci"
)

// DefaultConfig is where the image's halod reads halo.yaml: a ConfigMap or a bind mount
// puts it there.
const DefaultConfig = "/etc/halo/halo.yaml"

// options are what an image is made of.
type options struct {
	halod, haloctl, license string
	version, revision       string
	source                  string
	arch                    string
	created                 time.Time
	format                  string
	repo                    string // image name without tag, e.g. "halo"
}

// buildImage assembles the image: one layer over nothing, halod as the entry point.
func buildImage(o options) (v1.Image, error) {
	bins, err := binaries(o.halod, o.haloctl, o.license)
	if err != nil {
		return nil, err
	}
	data, err := layerTar(append(baseFiles(), bins...), o.created)
	if err != nil {
		return nil, err
	}
	base, layerType := v1.Image(empty.Image), types.DockerLayer
	if o.format == FormatOCI {
		base = mutate.MediaType(base, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
		layerType = types.OCILayer
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(layerType))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: o.created}, CreatedBy: "internal/cmd/mkimage: halod, haloctl, /etc/passwd, /etc/group",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", o.arch, v1.Time{Time: o.created}
	cf.Config = v1.Config{
		Entrypoint: []string{"/usr/sbin/halod"},
		Cmd:        []string{"-config", DefaultConfig},
		Env:        []string{"PATH=/usr/sbin:/usr/bin"},
		WorkingDir: "/",
		// halod needs CAP_NET_ADMIN and CAP_NET_RAW (VIPs, VRRP's raw socket): the pod
		// grants those two to root and drops the rest.
		User:       "0:0",
		StopSignal: "SIGTERM",
		Labels: map[string]string{
			"org.opencontainers.image.title":       "halo",
			"org.opencontainers.image.description": "halod (HAProxy supervisor and VRRP speaker) and haloctl",
			"org.opencontainers.image.version":     o.version,
			"org.opencontainers.image.revision":    o.revision,
			"org.opencontainers.image.source":      o.source,
			"org.opencontainers.image.licenses":    "Apache-2.0",
			"org.opencontainers.image.created":     o.created.UTC().Format(time.RFC3339),
		},
	}
	return mutate.ConfigFile(img, cf)
}

// tagFor makes a version usable as an image tag ([A-Za-z0-9_.-], at most 128, not
// starting with . or -): a Go pseudo-version's "+dirty" becomes "-dirty".
func tagFor(version string) string {
	t := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, version)
	t = strings.TrimLeft(t, ".-")
	if len(t) > 128 {
		t = t[:128]
	}
	if t == "" {
		t = "latest"
	}
	return t
}

// writeImage writes img as a tarball at out, in format, named repo:tag.
func writeImage(img v1.Image, out, format, repo, tag string) error {
	ref, err := name.NewTag(repo+":"+tag, name.WithDefaultRegistry(""))
	if err != nil {
		return fmt.Errorf("image name: %w", err)
	}
	switch format {
	case FormatDocker:
		return tarball.WriteToFile(out, ref, img)
	case FormatOCI:
		dir, err := os.MkdirTemp("", "mkimage-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		p, err := layout.Write(dir, empty.Index)
		if err != nil {
			return err
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": ref.Name(),
		})); err != nil {
			return err
		}
		return tarDir(dir, out)
	}
	return fmt.Errorf("format %q: want %s or %s", format, FormatDocker, FormatOCI)
}

// tarDir writes the files under dir into a tar at out, paths relative to dir.
func tarDir(dir, out string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
