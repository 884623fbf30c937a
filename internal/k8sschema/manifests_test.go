package k8sschema

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/halo-lb/halo/haproxy"
	"github.com/halo-lb/halo/internal/tier"
	"github.com/halo-lb/halo/supervisor"
)

const manifestDir = "../../configs/kubernetes"

// nodeIP stands for status.hostIP, which the init container puts in place of @NODE_IP@.
const nodeIP = "192.0.2.11"

func readManifests(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests in %s: %v", manifestDir, err)
	}
	files := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = data
	}
	return files
}

// TestManifests decodes every manifest strictly and checks that they fit together and
// that the ConfigMap's halo.yaml and haproxy.cfg pass halo's own readers.
func TestManifests(t *testing.T) {
	if err := check(t, readManifests(t)); err != nil {
		t.Error(err)
	}
}

// TestManifestHAProxyCheck runs HAProxy's own check (`haproxy -c`, tier 2; Debian's 2.6,
// the oldest halo supports, for the image's 2.8) on the ConfigMap's haproxy.cfg.
func TestManifestHAProxyCheck(t *testing.T) {
	bin := tier.HAProxy(t)
	objs, err := Decode("configmap.yaml", readManifests(t)["configmap.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(p, []byte(objs[0].(*ConfigMap).Data["haproxy.cfg"]), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", p).CombinedOutput(); err != nil {
		t.Errorf("haproxy -c: %v\n%s", err, out)
	}
}

// TestManifestTypos proves the check catches what kubectl apply would take silently or
// what would only fail on a node: each mutated copy must be refused, for the reason
// named.
func TestManifestTypos(t *testing.T) {
	for _, tc := range []struct{ file, old, new, want string }{
		{"daemonset.yaml", "hostNetwork: true", "hostNetwrok: true", `field hostNetwrok not found`},
		{"daemonset.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", `field readOnlyRootFileSystem not found`},
		{"daemonset.yaml", "capabilities:\n              drop: [ALL]\n              add: [NET_ADMIN", "capabilites:\n              drop: [ALL]\n              add: [NET_ADMIN", `field capabilites not found`},
		{"daemonset.yaml", "periodSeconds: 10", "periodSeconds: ten", `cannot unmarshal !!str`},
		{"daemonset.yaml", "memory: 32Mi", "memory: 32 MiB", `"32 MiB" is not a quantity`},
		{"daemonset.yaml", "apiVersion: apps/v1", "apiVersion: apps/v1beta2", `apiVersion "apps/v1beta2" kind "DaemonSet": not in this schema`},
		{"daemonset.yaml", "hostNetwork: true", "hostNetwork: false", "hostNetwork"},
		{"daemonset.yaml", "add: [NET_ADMIN, NET_RAW]", "add: [NET_ADMIN, NET_RAW, SYS_ADMIN]", "halod: capabilities"},
		{"daemonset.yaml", "            - {name: sockets, mountPath: /run/haproxy}\n            - {name: halo-run", "            - {name: halo-run", "halod does not mount"},
		{"daemonset.yaml", "name: halo-vi-1\n        - name: halo-etc", "name: halo-vi1\n        - name: halo-etc", `ConfigMap "halo-vi1"`},
		{"daemonset.yaml", "/run/haproxy/master.sock,mode,600", "/run/haproxy/master2.sock,mode,600", "master socket"},
		{"daemonset.yaml", "image: haproxy:2.8\n          imagePullPolicy", "image: haproxy\n          imagePullPolicy", "pinned"},
		{"configmap.yaml", "      interface: eth0", "      interfce: eth0", `unknown key "interfce"`},
		{"configmap.yaml", "vrid: 51", "vrid: 510", "vrid: 510 not in 1..255"},
		{"configmap.yaml", "stats socket /run/haproxy/admin.sock", "stats socket /run/haproxy/admin2.sock", "stats socket"},
		{"configmap.yaml", "metrics: {listen: \"@NODE_IP@:9110\"", "metrics: {listen: \":9110\"", "metrics.listen"},
		{"configmap.yaml", "  halo.yaml: |", "  halo.yml: |", "no halo.yaml"},
	} {
		t.Run(tc.file+": "+tc.want, func(t *testing.T) {
			files := readManifests(t)
			orig := string(files[tc.file])
			if !strings.Contains(orig, tc.old) {
				t.Fatalf("%s no longer contains %q: update this test", tc.file, tc.old)
			}
			files[tc.file] = []byte(strings.Replace(orig, tc.old, tc.new, 1))
			err := check(t, files)
			if err == nil {
				t.Fatalf("the mutated copy passed")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("refused, but not for %q:\n%v", tc.want, err)
			}
		})
	}
}

// check decodes the manifests and returns every problem found.
func check(t *testing.T, files map[string][]byte) error {
	t.Helper()
	var errs []error
	var ds []*DaemonSet
	cms := map[string]*ConfigMap{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		objs, err := Decode(name, files[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, o := range objs {
			switch o := o.(type) {
			case *DaemonSet:
				ds = append(ds, o)
			case *ConfigMap:
				cms[o.Metadata.Namespace+"/"+o.Metadata.Name] = o
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(ds) == 0 {
		return errors.New("no DaemonSet")
	}
	for _, d := range ds {
		errs = append(errs, checkDaemonSet(t, d, cms)...)
	}
	return errors.Join(errs...)
}

func checkDaemonSet(t *testing.T, d *DaemonSet, cms map[string]*ConfigMap) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("DaemonSet %s: "+format, append([]any{d.Metadata.Name}, args...)...))
	}
	pod := d.Spec.Template.Spec
	if !pod.HostNetwork {
		bad("hostNetwork must be true: VRRP and the VIPs live on the node's network")
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Metadata.Labels[k] != v {
			bad("selector %s=%s does not match the pod template's labels", k, v)
		}
	}
	volumes := map[string]Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	var cm *ConfigMap
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil {
			cm = cms[d.Metadata.Namespace+"/"+v.ConfigMap.Name]
			if cm == nil {
				bad("volume %s: ConfigMap %q is in no manifest of namespace %s", v.Name, v.ConfigMap.Name, d.Metadata.Namespace)
			}
		}
	}
	containers := map[string]Container{}
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		containers[c.Name] = c
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				bad("%s mounts volume %q, which the pod does not have", c.Name, m.Name)
			}
		}
		sc := c.SecurityContext
		if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
			bad("%s: capabilities must drop ALL", c.Name)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || (sc.Privileged != nil && *sc.Privileged) {
			bad("%s: allowPrivilegeEscalation must be false, and privileged unset", c.Name)
		}
		if name, tag, ok := strings.Cut(c.Image, ":"); !ok || tag == "" || tag == "latest" || strings.Contains(tag, "/") {
			bad("%s: image %q is not pinned to a tag", c.Name, c.Image)
		} else if name == "" {
			bad("%s: image %q has no name", c.Name, c.Image)
		}
	}
	halod, okH := containers["halod"]
	hap, okP := containers["haproxy"]
	if !okH || !okP {
		return append(errs, fmt.Errorf("DaemonSet %s: want containers halod and haproxy", d.Metadata.Name))
	}
	if caps := halod.SecurityContext.Capabilities; caps != nil {
		if add := slices.Sorted(slices.Values(caps.Add)); !slices.Equal(add, []string{"NET_ADMIN", "NET_RAW"}) {
			bad("halod: capabilities add %v, want exactly NET_ADMIN and NET_RAW", caps.Add)
		}
	}
	if cm == nil {
		return errs
	}
	cfg, hcfg, err := loadConfigMap(t, cm)
	if err != nil {
		return append(errs, err)
	}
	if cfg.HAProxy.Mode != haproxy.External {
		bad("halo.yaml: haproxy.mode %q: HAProxy is the pod's other container, want external", cfg.HAProxy.Mode)
	}
	// The sockets halod uses must be where HAProxy creates them, on a volume both mount.
	master := ""
	for i, a := range hap.Command {
		if a == "-S" && i+1 < len(hap.Command) {
			master, _, _ = strings.Cut(hap.Command[i+1], ",")
		}
	}
	if master != cfg.HAProxy.MasterSocket {
		bad("haproxy's master socket (-S) %q is not halo.yaml's haproxy.master_socket %q", master, cfg.HAProxy.MasterSocket)
	}
	var stats []string
	for _, s := range hcfg.StatsSockets {
		stats = append(stats, s.Path)
	}
	if !slices.Contains(stats, cfg.HAProxy.StatsSocket) {
		bad("haproxy.cfg's stats sockets %v do not include halo.yaml's haproxy.stats_socket %q", stats, cfg.HAProxy.StatsSocket)
	}
	for _, sock := range []string{cfg.HAProxy.MasterSocket, cfg.HAProxy.StatsSocket} {
		mh, mp := mountOf(halod, sock), mountOf(hap, sock)
		switch {
		case mh == nil:
			bad("halod does not mount the directory of %s", sock)
		case mp == nil:
			bad("haproxy does not mount the directory of %s", sock)
		case mh.Name != mp.Name || volumes[mh.Name].EmptyDir == nil:
			bad("%s: halod and haproxy do not share one emptyDir for it (%s, %s)", sock, mh.Name, mp.Name)
		}
	}
	if mountOf(halod, cfg.Control.Socket) == nil {
		bad("halod's control socket %s is on its read-only root", cfg.Control.Socket)
	}
	return errs
}

// mountOf is the container's mount that holds path, or nil.
func mountOf(c Container, path string) *VolumeMount {
	for i, m := range c.VolumeMounts {
		if strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// loadConfigMap runs the ConfigMap's halo.yaml through halo's config loader (as the
// init container renders it) and its haproxy.cfg through halo's haproxy.cfg reader, and
// checks halo.yaml gives no warning on a node that has its interface and address.
func loadConfigMap(t *testing.T, cm *ConfigMap) (*supervisor.Config, *haproxy.ConfigFile, error) {
	name := "ConfigMap " + cm.Metadata.Name
	y, ok := cm.Data["halo.yaml"]
	if !ok {
		return nil, nil, fmt.Errorf("%s: no halo.yaml", name)
	}
	hc, ok := cm.Data["haproxy.cfg"]
	if !ok {
		return nil, nil, fmt.Errorf("%s: no haproxy.cfg", name)
	}
	cfg, err := supervisor.ParseConfig(name+": halo.yaml", []byte(strings.ReplaceAll(y, "@NODE_IP@", nodeIP)))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	node := supervisor.Host{
		LinkExists: func(string) bool { return true },
		LocalAddr:  func(a netip.Addr) bool { return a == netip.MustParseAddr(nodeIP) },
	}
	if w := cfg.Warnings(node); len(w) > 0 {
		return nil, nil, fmt.Errorf("%s: halo.yaml warns: %v", name, w)
	}
	p := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(p, []byte(hc), 0o644); err != nil {
		return nil, nil, err
	}
	read, err := haproxy.ReadConfigFiles(p)
	if err != nil {
		return nil, nil, err
	}
	f := read[0]
	if f.ParseErr != nil {
		return nil, nil, fmt.Errorf("%s: haproxy.cfg: %w", name, f.ParseErr)
	}
	var proxies []string
	for _, px := range f.Proxies {
		proxies = append(proxies, px.Name)
	}
	var missing []string
	for _, fe := range cfg.HAProxy.Check.Frontends {
		if !slices.Contains(proxies, fe) {
			missing = append(missing, fe)
		}
	}
	for be := range cfg.HAProxy.Check.Backends {
		if !slices.Contains(proxies, be) {
			missing = append(missing, be)
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("%s: halo.yaml checks %v, which haproxy.cfg does not define", name, missing)
	}
	if f.Global.User == nil || f.Global.Chroot == nil {
		return nil, nil, fmt.Errorf("%s: haproxy.cfg: workers must run as a user in a chroot", name)
	}
	return cfg, f, nil
}
