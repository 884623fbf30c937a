package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/halo-lb/halo/internal/cluster"
)

func TestDarkTime(t *testing.T) {
	t0 := time.Unix(100, 0)
	at := func(ms int) int64 { return t0.Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	tests := []struct {
		name string
		evs  []cluster.PollEvent
		end  time.Time
		want time.Duration
	}{
		{"no failure", []cluster.PollEvent{{At: at(-5000), OK: true, LB: "lb1"}, {At: at(300), OK: true, LB: "lb2"}}, t0.Add(2 * time.Second), 0},
		{"one gap", []cluster.PollEvent{
			{At: at(-5000), OK: true, LB: "lb1"},
			{At: at(20), LastOK: at(10), Err: "refused"},
			{At: at(710), OK: true, LB: "lb2"},
		}, t0.Add(2 * time.Second), 700 * time.Millisecond},
		{"two gaps", []cluster.PollEvent{
			{At: at(20), LastOK: at(10), Err: "refused"},
			{At: at(110), OK: true, LB: "lb2"},
			{At: at(500), LastOK: at(490), Err: "timeout"},
			{At: at(800), OK: true, LB: "lb2"},
		}, t0.Add(2 * time.Second), 100*time.Millisecond + 310*time.Millisecond},
		{"still dark at the end", []cluster.PollEvent{
			{At: at(20), LastOK: at(10), Err: "timeout"},
			{At: at(30000), Err: "done"},
		}, t0.Add(5 * time.Second), 4990 * time.Millisecond},
		{"a gap long before the fault is not counted", []cluster.PollEvent{
			{At: at(-9000), LastOK: at(-9010), Err: "refused"},
			{At: at(-8000), OK: true, LB: "lb1"},
		}, t0.Add(time.Second), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := darkTime(tc.evs, t0, tc.end); got != tc.want {
				t.Errorf("darkTime = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{ms(7), 7 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond},
		{ms(4, 1, 3, 2), 2500 * time.Microsecond},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestCell(t *testing.T) {
	r := &report{cfg: config{window: 30 * time.Second}}
	r.setups = []*setupResult{{setup: setup{key: "s"}, faults: map[string]*faultResult{
		"haproxy-kill": {rounds: []roundResult{{ok: true, outage: 700 * time.Millisecond, served: "lb2"},
			{ok: true, outage: 600 * time.Millisecond, served: "lb2"}, {ok: true, outage: 900 * time.Millisecond, served: "lb1"}}},
		"haproxy-stop": {rounds: []roundResult{{}, {}}},
		"link-cut":     {rounds: []roundResult{{ok: true, outage: time.Second, served: "lb2"}, {}}, errs: []string{"round 2: restore: x"}},
	}}}
	for _, tc := range []struct{ fault, want string }{
		{"haproxy-kill", "**700 ms** (600–900, n=3); lb1 itself answered first in 1/3"},
		{"haproxy-stop", "**no failover within 30 s** (n=2)"},
		{"link-cut", "**1000 ms** (1000–1000, n=1); no failover within 30 s in 1/2; 1 problem(s)¹"},
		{"daemon-term", "—"},
	} {
		if got := r.cell("s", tc.fault); got != tc.want {
			t.Errorf("cell(%s) = %q, want %q", tc.fault, got, tc.want)
		}
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/halo-lb/halo/vrrp
BenchmarkMarshal-2   	19857118	        51.31 ns/op	       0 B/op	       0 allocs/op
PASS
pkg: github.com/halo-lb/halo/haproxy
BenchmarkCheck-2   	    2875	    374012 ns/op	         0.2960 check_p50_ms	  129697 B/op	     185 allocs/op
    bench_test.go:64: errors: keep-alive []
ok  	github.com/halo-lb/halo/haproxy	60.1s
`
	rows, problems := parseGoBench(out, false)
	want := []benchRow{
		{pkg: "vrrp", name: "BenchmarkMarshal-2", iters: "19857118", nsOp: "51.31", bOp: "0", allocsPerOp: "0"},
		{pkg: "haproxy", name: "BenchmarkCheck-2", iters: "2875", nsOp: "374012", bOp: "129697", allocsPerOp: "185",
			other: []string{"0.2960 check_p50_ms"}},
	}
	if diff := cmp.Diff(want, rows, cmp.AllowUnexported(benchRow{})); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if len(problems) != 0 {
		t.Errorf("problems of a passing run: %q", problems)
	}
	failing := "# github.com/halo-lb/halo/vrrp\nvrrp/group.go:147:9: in.group undefined\nFAIL\tgithub.com/halo-lb/halo/vrrp [build failed]\n"
	if _, problems := parseGoBench(failing, true); len(problems) != 3 {
		t.Errorf("problems of a failing run: %q", problems)
	}
}

func TestBumpConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte("global\n    daemon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := bumpConfig(path, i); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	if got, want := string(b), "global\n    daemon\n# bench reload 2\n"; got != want {
		t.Errorf("after three bumps:\n%s\nwant:\n%s", got, want)
	}
}

func TestProcReads(t *testing.T) {
	pid := os.Getpid()
	if _, err := cpuTicks(pid); err != nil {
		t.Errorf("cpuTicks(self): %v", err)
	}
	if rss, err := rssKB(pid); err != nil || rss <= 0 {
		t.Errorf("rssKB(self) = %d, %v", rss, err)
	}
	if !alive(pid) || alive(1<<30) {
		t.Errorf("alive: self %v, no such pid %v", alive(pid), alive(1<<30))
	}
	if c := comm(pid); !strings.HasPrefix("bench.test", c) {
		t.Errorf("comm(self) = %q", c)
	}
}
