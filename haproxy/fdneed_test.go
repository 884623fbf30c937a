package haproxy

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFDNeed(t *testing.T) {
	const global = "global\n    stats socket /run/a.sock level admin\n"
	const proxies = "frontend f\n    bind 127.0.0.1:80,127.0.0.1:81\n    bind :8000-8009\n    default_backend b\n" +
		"backend b\n    server s1 192.0.2.1:80 check\n    server s2 192.0.2.2:80 check\n"
	for _, tc := range []struct {
		name, cfg string
		cpus      int
		want      int
		wantOK    bool
		wantLine  int
	}{
		// 2*1000 + (1 stats + 2 + 10 binds) + 2 servers + 3*2 threads + 20.
		{"maxconn, cpus", global + "    maxconn 1000\n" + proxies, 2, 2000 + 13 + 2 + 6 + 20, true, 3},
		{"nbthread wins over cpus", global + "    maxconn 1000\n    nbthread 4\n" + proxies, 2, 2000 + 13 + 2 + 12 + 20, true, 3},
		{"threads capped at 64", global + "    maxconn 10\n" + proxies, 256, 20 + 13 + 2 + 192 + 20, true, 3},
		{"no maxconn: HAProxy fits it to the limit", global + proxies, 2, 0, false, 0},
		// The example, 2*25000 + 31: HAProxy 2.6.12's `show info` says Maxsock 2031 for the
		// same file at maxconn 1000 on two threads (loopback binds, no log line).
		{"the example", "", 2, 2*25000 + 3 + 2 + 6 + 20, true, 36},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "../configs/haproxy.cfg"
			if tc.cfg != "" {
				path = filepath.Join(t.TempDir(), "haproxy.cfg")
				if err := os.WriteFile(path, []byte(tc.cfg), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			files, err := ReadConfigFiles(path)
			if err != nil {
				t.Fatal(err)
			}
			need, mc, ok := FDNeed(files, tc.cpus)
			if need != tc.want || ok != tc.wantOK || mc.Line != tc.wantLine {
				t.Errorf("FDNeed = %d, line %d, %v; want %d, line %d, %v", need, mc.Line, ok, tc.want, tc.wantLine, tc.wantOK)
			}
		})
	}
}
