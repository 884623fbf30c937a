package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/halo-lb/halo/internal/tier"
)

const testVersion = "v0.0.0-imagetest"

// buildStatic builds halod and haloctl as `make image` does and returns their directory.
func buildStatic(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binaries with")
	}
	dir := t.TempDir()
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags", "-s -w -X main.version="+testVersion,
		"-o", dir+"/", "../../../cmd/halod", "../../../cmd/haloctl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// TestImage builds the image in both tarball formats, reads each back as a container
// runtime would, unpacks its layers into a root filesystem and runs the binaries found
// there: `halod -version`, `haloctl version` and (with haproxy, tier 2) `halod -t` on a
// halo.yaml placed in that root.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds halod and haloctl (about 10 s)")
	}
	bins := buildStatic(t)
	for _, format := range []string{FormatDocker, FormatOCI} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "halo-image.tar")
			var stdout, stderr bytes.Buffer
			if code := run([]string{"-halod", bins + "/halod", "-haloctl", bins + "/haloctl", "-license", "../../../LICENSE",
				"-version", testVersion, "-revision", "abc123", "-format", format, "-created", "1700000000", "-o", out}, &stdout, &stderr); code != 0 {
				t.Fatalf("mkimage exit %d: %s", code, stderr.String())
			}
			img := readBack(t, format, out)
			checkConfig(t, img)
			root := t.TempDir()
			extract(t, img, root)
			for _, f := range []string{"etc/passwd", "etc/group", "usr/share/doc/halo/LICENSE"} {
				if _, err := os.Stat(filepath.Join(root, f)); err != nil {
					t.Errorf("image lacks /%s: %v", f, err)
				}
			}
			for _, c := range [][]string{{"usr/sbin/halod", "-version"}, {"usr/bin/haloctl", "-socket", filepath.Join(root, "none.sock"), "version"}} {
				got, _ := exec.Command(filepath.Join(root, c[0]), c[1:]...).CombinedOutput()
				want := filepath.Base(c[0]) + " " + testVersion + "\n"
				if !strings.HasPrefix(string(got), want) {
					t.Errorf("/%s %s printed %q, want %q first", c[0], c[len(c)-1], got, want)
				}
			}
			if format == FormatDocker {
				checkT(t, root)
			}
		})
	}
}

// checkT runs the image's halod -t on a configuration inside its root. Tier 2: -t runs
// `haproxy -c` (the host's: HAProxy has its own container in the image's use).
func checkT(t *testing.T, root string) {
	tier.HAProxy(t)
	etc := filepath.Join(root, "etc/halo")
	hcfg := "global\n    stats socket " + filepath.Join(root, "run/haproxy/admin.sock") + " level admin expose-fd listeners\n    maxconn 1000\n" +
		"defaults\n    mode http\n    option idle-close-on-response\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n" +
		"frontend main\n    bind 127.0.0.1:8080\n    default_backend app\nbackend app\n    server a 127.0.0.1:8081 check\n"
	y := "haproxy: {mode: external, config: [haproxy.cfg], stats_socket: " + filepath.Join(root, "run/haproxy/admin.sock") + "}\n" +
		"vrrp:\n  instances:\n    - {name: VI_1, interface: lo, vrid: 51, vips: [192.0.2.100/24]}\n" +
		"metrics: {listen: \"127.0.0.1:9110\"}\n"
	if err := os.WriteFile(filepath.Join(etc, "haproxy.cfg"), []byte(hcfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "halo.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(filepath.Join(root, "usr/sbin/halod"), "-t", "-strict", "-config", filepath.Join(etc, "halo.yaml")).CombinedOutput()
	if err != nil || !strings.Contains(string(got), "configuration valid") {
		t.Errorf("halod -t -strict from the image: %v\n%s", err, got)
	}
}

func readBack(t *testing.T, format, path string) v1.Image {
	t.Helper()
	if format == FormatDocker {
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			t.Fatalf("read docker-archive: %v", err)
		}
		return img
	}
	dir := t.TempDir()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	untar(t, f, dir)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("read OCI layout: %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("OCI index: %v, %d manifests", err, len(m.Manifests))
	}
	if got := m.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != "halo:"+testVersion {
		t.Errorf("ref.name = %q", got)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func checkConfig(t *testing.T, img v1.Image) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if strings.Join(c.Entrypoint, " ") != "/usr/sbin/halod" || strings.Join(c.Cmd, " ") != "-config "+DefaultConfig {
		t.Errorf("entrypoint %q, cmd %q", c.Entrypoint, c.Cmd)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": "abc123",
		"org.opencontainers.image.source":   "https://github.com/halo-lb/halo",
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.created":  "2023-11-14T22:13:20Z",
	} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
		}
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
}

// extract unpacks the image's layers, flattened, under root.
func extract(t *testing.T, img v1.Image, root string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	untar(t, rc, root)
}

func untar(t *testing.T, r io.Reader, dir string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(filepath.Separator)) {
			t.Fatalf("entry %q leaves the root", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, os.FileMode(h.Mode)&0o777); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected entry %q of type %c", h.Name, h.Typeflag)
		}
	}
}

// TestImageReproducible: the same binaries and time give the same digest, so an image
// can be rebuilt and compared.
func TestImageReproducible(t *testing.T) {
	self, err := os.Executable() // a test binary: built without cgo only if CGO_ENABLED=0
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prog := filepath.Join(dir, "static")
	if err := os.WriteFile(prog, staticELF(t, self), 0o755); err != nil {
		t.Fatal(err)
	}
	o := options{halod: prog, haloctl: prog, version: "v1", arch: "amd64", format: FormatOCI, repo: "halo"}
	var digests []string
	for range 2 {
		img, err := buildImage(o)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds, two digests: %v", digests)
	}
}

// TestImageRefusesDynamic: a binary built with cgo would not start on the empty base.
func TestImageRefusesDynamic(t *testing.T) {
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		data, _ := os.ReadFile(p)
		err := checkStatic(p, data)
		if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("%s (dynamic on Debian) accepted: %v", p, err)
		}
		return
	}
	t.Skip("no /bin/true to test with")
}

// staticELF returns the bytes of a static ELF program: the test binary itself when it
// is one, else a minimal valid ELF header with no program headers.
func staticELF(t *testing.T, self string) []byte {
	t.Helper()
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if checkStatic(self, data) == nil {
		return data
	}
	// A 64-byte ELF64 header, little-endian, ET_EXEC, no program or section headers.
	h := make([]byte, 64)
	copy(h, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	h[16], h[18], h[20] = 2, 0x3e, 1 // e_type EXEC, e_machine x86-64, e_version 1
	h[52] = 64                       // e_ehsize
	return h
}
