package keepalived

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary text to the parser and the converter: neither may panic or
// loop, every error must be located, and whatever the converter calls usable must be a
// halo.yaml that supervisor.ParseConfig accepts (finish checks that itself).
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/golden/*.conf")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(string(data))
		}
	}
	f.Add("a { b { c } } d\n{\n}\n")
	f.Add("$X=1\n@node1 priority 1\nvrrp_instance \"A\" { interface $X\n")
	f.Fuzz(func(t *testing.T, src string) {
		p := &parser{
			readFile: func(string) ([]byte, error) { return nil, errors.New("no files in the fuzzer") },
			glob:     func(string) ([]string, error) { return nil, nil },
			// Half the inputs as node "node1" (-host), so that applied conditional lines
			// are fuzzed too.
			configID: "node1", haveID: len(src)%2 == 1,
		}
		nodes, _, err := p.run("keepalived.conf", []byte(src))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Pos.Line < 1 {
				t.Fatalf("unlocated error %v", err)
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
