package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path"
	"time"
)

// entry is one file or directory of the image's root filesystem.
type entry struct {
	name string // absolute path inside the image
	mode int64
	dir  bool
	data []byte
}

// baseFiles are what a static Go daemon needs of a distribution, distroless-style:
// name lookups for root and nobody (os/user, which halod uses for control.group, reads
// /etc/passwd and /etc/group when built without cgo), the resolver's order, a /tmp, and
// the runtime directories halod and HAProxy put their sockets in (volumes in Kubernetes).
func baseFiles() []entry {
	return []entry{
		{name: "/etc", mode: 0o755, dir: true},
		{name: "/etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
		{name: "/etc/group", mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{name: "/etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "/etc/halo", mode: 0o755, dir: true},
		{name: "/root", mode: 0o700, dir: true},
		{name: "/run", mode: 0o755, dir: true},
		{name: "/run/halo", mode: 0o755, dir: true},
		{name: "/run/haproxy", mode: 0o755, dir: true},
		{name: "/tmp", mode: 0o1777, dir: true},
		{name: "/usr", mode: 0o755, dir: true},
		{name: "/usr/bin", mode: 0o755, dir: true},
		{name: "/usr/sbin", mode: 0o755, dir: true},
		{name: "/usr/share", mode: 0o755, dir: true},
		{name: "/usr/share/doc", mode: 0o755, dir: true},
		{name: "/usr/share/doc/halo", mode: 0o755, dir: true},
	}
}

// binaries reads the programs to ship and refuses a dynamically linked one: the image
// has no libc to load it with.
func binaries(halod, haloctl, license string) ([]entry, error) {
	var out []entry
	for _, b := range []struct{ src, dst string }{{halod, "/usr/sbin/halod"}, {haloctl, "/usr/bin/haloctl"}} {
		data, err := os.ReadFile(b.src)
		if err != nil {
			return nil, err
		}
		if err := checkStatic(b.src, data); err != nil {
			return nil, err
		}
		out = append(out, entry{name: b.dst, mode: 0o755, data: data})
	}
	if license != "" {
		data, err := os.ReadFile(license)
		if err != nil {
			return nil, err
		}
		out = append(out, entry{name: "/usr/share/doc/halo/LICENSE", mode: 0o644, data: data})
	}
	return out, nil
}

// layerTar writes the entries as one uncompressed tar, every time stamp and owner fixed,
// so that the same binaries give the same layer digest.
func layerTar(entries []entry, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    path.Clean(e.name)[1:], // layer paths are relative to the root
			Mode:    e.mode,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
