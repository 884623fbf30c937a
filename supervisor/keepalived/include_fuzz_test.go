package keepalived

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseInclude parses a main file that includes a second one, both written into a
// temporary directory, through the real file functions (reads and globs kept inside that
// directory, so that a fuzzed "include /dev/zero" or "/proc/*" cannot leave it).
// Properties: no panic, no hang (inputs bounded; include loops end at the depth and file
// limits), and every error is a *ParseError naming one of the two files and a line that
// file has.
func FuzzParseInclude(f *testing.F) {
	main, _ := os.ReadFile("testdata/golden/three-node.conf")
	extra, _ := os.ReadFile("testdata/golden/conf.d/extra.conf")
	f.Add("global_defs {\n  router_id lb1\n}\n", string(main), "")
	f.Add("", "", string(extra))
	f.Add("vrrp_instance VI_1 {\n", "}\n", "  state MASTER\n  interface eth0\n  virtual_router_id 51\n  priority 101\n  virtual_ipaddress {\n    192.0.2.100/24\n  }\n")
	f.Add("$IF=eth0\n", "", "vrrp_instance VI_1 {\n interface $IF\n virtual_router_id 51\n}\n")
	f.Add("", "", "include keepalived.conf\n") // a loop
	f.Add("", "", "include *\n")               // a branching loop
	f.Add("vrrp_instance A {", "", "}\n}\n")   // a block closed in the included file, then one too many
	f.Add("", "", "vrrp_instance \"A {\n")     // unterminated quote in the included file
	f.Add("@lb1 priority 1\n", "", "@lb2 priority 2\n")
	f.Fuzz(func(t *testing.T, pre, post, inc string) {
		if len(pre)+len(post)+len(inc) > 16<<10 {
			return
		}
		dir := t.TempDir()
		mainPath, incPath := filepath.Join(dir, "keepalived.conf"), filepath.Join(dir, "inc.conf")
		mainText := pre + "\ninclude inc.conf\n" + post
		if err := os.WriteFile(mainPath, []byte(mainText), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(incPath, []byte(inc), 0o644); err != nil {
			t.Fatal(err)
		}
		inside := func(p string) bool {
			rel, err := filepath.Rel(dir, filepath.Clean(p))
			return err == nil && !strings.HasPrefix(rel, "..")
		}
		p := &parser{
			readFile: func(p string) ([]byte, error) {
				if !inside(p) {
					return nil, errors.New("outside the fuzzer's directory")
				}
				return os.ReadFile(p)
			},
			glob: func(pat string) ([]string, error) {
				if !inside(pat) {
					return nil, nil
				}
				return filepath.Glob(pat)
			},
			base: dir,
		}
		lines := map[string]int{
			"keepalived.conf": strings.Count(mainText, "\n") + 1,
			"inc.conf":        strings.Count(inc, "\n") + 1,
		}
		nodes, warns, err := p.run(mainPath, nil)
		for _, w := range warns {
			if n, ok := lines[w.Pos.File]; !ok || w.Pos.Line < 1 || w.Pos.Line > n {
				t.Fatalf("warning at %s, not a line of the two files: %s", w.Pos, w.Msg)
			}
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is no *ParseError: %v", err)
			}
			if n, ok := lines[pe.Pos.File]; !ok || pe.Pos.Line < 1 || pe.Pos.Line > n {
				t.Fatalf("error at %s, not a line of the two files: %v", pe.Pos, err)
			}
			return
		}
		c := &converter{mainName: "keepalived.conf", baseDir: t.TempDir(), files: map[string]int{}}
		c.opts.HAProxyMode = "external"
		res, err := c.finish("keepalived.conf", nodes)
		if err == nil && res.Config == nil {
			t.Fatal("usable result without a config")
		}
	})
}
