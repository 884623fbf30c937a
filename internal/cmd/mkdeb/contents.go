package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2/files"
)

const doc = "/usr/share/doc/halo"

// examples are the configs/ folders and files installed under doc/examples.
var examples = []string{"two-node", "three-node", "active-active", "unicast-cloud", "sync-group",
	"bgp-ecmp", "prometheus", "grafana", "haproxy.cfg", "README.md"}

// contents lists the package's files; generated ones (gzipped man pages and changelogs,
// the copyright file) are written to work first.
func contents(o options, work, upstream string) (files.Contents, error) {
	r := func(p string) string { return filepath.Join(o.root, p) }
	c := files.Contents{
		file(filepath.Join(o.bin, "halod"), "/usr/sbin/halod", 0o755),
		file(filepath.Join(o.bin, "haloctl"), "/usr/bin/haloctl", 0o755),
		// halod's BGP engine (GoBGP), started by halod only for a bgp section; halod looks
		// for it in /usr/lib/halo.
		file(filepath.Join(o.bin, "halo-bgp"), "/usr/lib/halo/halo-bgp", 0o755),
		file(r("configs/systemd/halod.service"), "/lib/systemd/system/halod.service", 0o644),
		file(r("configs/systemd/halod-external.service"), "/lib/systemd/system/halod-external.service", 0o644),
		file(r("configs/systemd/halod-cleanup@.service"), "/lib/systemd/system/halod-cleanup@.service", 0o644),
		conffile(r("configs/debian/halo.yaml"), "/etc/halo/halo.yaml", 0o640),
		conffile(r("configs/haproxy.cfg"), "/etc/halo/haproxy.cfg", 0o644),
		file(r("configs/debian/lintian-overrides"), "/usr/share/lintian/overrides/halo", 0o644),
		file(r("README.md"), doc+"/README.md", 0o644),
		file(r("docs/MIGRATION.md"), doc+"/MIGRATION.md", 0o644),
		file(r("docs/RELIABILITY.md"), doc+"/RELIABILITY.md", 0o644),
		file(r("docs/ARCHITECTURE.md"), doc+"/ARCHITECTURE.md", 0o644),
		file(r("docs/BGP.md"), doc+"/BGP.md", 0o644),
	}
	for _, e := range examples {
		err := filepath.WalkDir(r("configs/"+e), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(r("configs"), p)
			fi, err := d.Info()
			if err != nil {
				return err
			}
			c = append(c, file(p, doc+"/examples/"+filepath.ToSlash(rel), fi.Mode().Perm()|0o644))
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	gen := []struct {
		dst  string
		data func() ([]byte, error)
		gz   bool
	}{
		{doc + "/copyright", func() ([]byte, error) { return []byte(copyright(o.when)), nil }, false},
		{doc + "/changelog.gz", func() ([]byte, error) { return os.ReadFile(r("CHANGELOG.md")) }, true},
		{doc + "/changelog.Debian.gz", func() ([]byte, error) {
			return []byte(debianChangelog(upstream+"-"+debianRevision, o.describe, o.when)), nil
		}, true},
	}
	for _, m := range []string{"halod.8", "haloctl.1", "halo.yaml.5"} {
		sec := m[strings.LastIndex(m, ".")+1:]
		src := filepath.Join(o.man, m)
		gen = append(gen, struct {
			dst  string
			data func() ([]byte, error)
			gz   bool
		}{fmt.Sprintf("/usr/share/man/man%s/%s.gz", sec, m), func() ([]byte, error) { return os.ReadFile(src) }, true})
	}
	for i, g := range gen {
		data, err := g.data()
		if err != nil {
			return nil, err
		}
		if g.gz {
			if data, err = gzipped(data, o.when); err != nil {
				return nil, err
			}
		}
		p := filepath.Join(work, fmt.Sprint(i))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return nil, err
		}
		c = append(c, file(p, g.dst, 0o644))
	}
	return c, nil
}

func file(src, dst string, mode os.FileMode) *files.Content {
	return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode}}
}

// conffile is a file under /etc that dpkg keeps when the operator edited it.
func conffile(src, dst string, mode os.FileMode) *files.Content {
	c := file(src, dst, mode)
	c.Type = files.TypeConfig
	return c
}

// gzipped compresses as gzip -9n does: no name, a fixed time, so builds are reproducible.
func gzipped(data []byte, when time.Time) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	w.ModTime = when
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	err = w.Close()
	return b.Bytes(), err
}

// copyright is debian/copyright in the machine-readable format 1.0.
func copyright(when time.Time) string {
	return fmt.Sprintf(`Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: halo
Upstream-Contact: %s
Source: https://github.com/halo-lb/halo

Files: *
Copyright: %d The halo authors
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License");
 you may not use this file except in compliance with the License.
 You may obtain a copy of the License at
 .
 https://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS,
 WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 See the License for the specific language governing permissions and
 limitations under the License.
 .
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in the file /usr/share/common-licenses/Apache-2.0.
`, maintainer, when.Year())
}

// debianChangelog is the one entry of a package built from upstream's tree: the upstream
// changes are in changelog.gz (CHANGELOG.md).
func debianChangelog(version, describe string, when time.Time) string {
	return fmt.Sprintf("halo (%s) unstable; urgency=medium\n\n"+
		"  * Built from git describe %s; upstream changes: changelog.gz.\n\n"+
		" -- %s  %s\n", version, describe, maintainer, when.Format(time.RFC1123Z))
}
