package keepalived

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/halo-lb/halo/supervisor"
)

var update = flag.Bool("update", false, "rewrite the golden .yaml files under testdata/golden")

// TestGolden converts every testdata/golden/*.conf (with NAME.haproxy.cfg when present,
// -host from NAME.host when present, scripts looked up under testdata/golden/root) and compares with NAME.yaml. Every
// output must load with supervisor.ParseConfig, as `halod -t` would.
func TestGolden(t *testing.T) {
	confs, err := filepath.Glob("testdata/golden/*.conf")
	if err != nil || len(confs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, conf := range confs {
		name := strings.TrimSuffix(filepath.Base(conf), ".conf")
		t.Run(name, func(t *testing.T) {
			opts := Options{Root: "testdata/golden/root"}
			if hc := strings.TrimSuffix(conf, ".conf") + ".haproxy.cfg"; fileExists(hc) {
				opts.HAProxyConfig = hc
			}
			if host, err := os.ReadFile(strings.TrimSuffix(conf, ".conf") + ".host"); err == nil {
				opts.Host = strings.TrimSpace(string(host))
			}
			res, err := Import(conf, opts)
			if err != nil {
				for _, w := range res.Warnings {
					t.Log(w)
				}
				t.Fatalf("Import: %v", err)
			}
			// Every message about keepalived's configuration names its line; only
			// haproxy.cfg-wide ones (no stats socket, a relative -haproxy-config) do not.
			for _, w := range res.Warnings {
				if w.Pos.Line == 0 && !strings.HasSuffix(w.Pos.File, ".haproxy.cfg") {
					t.Errorf("message without a line: %s", w)
				}
			}
			if _, err := supervisor.ParseConfig(name+".yaml", res.YAML); err != nil {
				t.Fatalf("ParseConfig rejects the output: %v\n%s", err, res.YAML)
			}
			golden := strings.TrimSuffix(conf, ".conf") + ".yaml"
			if *update {
				if err := os.WriteFile(golden, res.YAML, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(res.YAML)); diff != "" {
				t.Errorf("%s mismatch (-want +got), run go test -update if intended:\n%s", golden, diff)
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
