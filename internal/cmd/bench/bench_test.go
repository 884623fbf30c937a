package main

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	// The nanosecond count moves with the work done, well under a 10 ms tick.
	before, _, err := cpuNanos(pid)
	if err != nil || before <= 0 {
		t.Fatalf("cpuNanos(self) = %d, %v", before, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for {
		for i := range 100_000 {
			x += i
		}
		now, _, err := cpuNanos(pid)
		if err != nil {
			t.Fatal(err)
		}
		if now-before >= int64(time.Millisecond) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cpuNanos(self) moved %d ns in 5 s of busy work (%d)", now-before, x)
		}
	}
	if rss, err := rssKB(pid); err != nil || rss <= 0 {
		t.Errorf("rssKB(self) = %d, %v", rss, err)
	}
	if uss, err := ussKB(pid); err != nil || uss <= 0 {
		t.Errorf("ussKB(self) = %d, %v", uss, err)
	}
	if !alive(pid) || alive(1<<30) {
		t.Errorf("alive: self %v, no such pid %v", alive(pid), alive(1<<30))
	}
	if c := comm(pid); !strings.HasPrefix("bench.test", c) {
		t.Errorf("comm(self) = %q", c)
	}
}

// TestFiftySidesMatch checks that halod's 50 instances and keepalived's are the same:
// names, VRIDs, VIPs, interface, priority, version, advert interval, and HAProxy tracked
// with a FAULT on failure.
func TestFiftySidesMatch(t *testing.T) {
	yamlRE := regexp.MustCompile(`- \{name: (VI_\d+), interface: eth0, vrid: (\d+), version: 3, priority: 101, advert_interval: 100ms, vips: \[([0-9.]+)/24\], track_haproxy: \{fault: true\}\}`)
	y, err := fiftyVRRP(101)
	if err != nil {
		t.Fatal(err)
	}
	var halo []string
	for _, m := range yamlRE.FindAllStringSubmatch(y, -1) {
		halo = append(halo, m[1]+" "+m[2]+" "+m[3])
	}
	conf, err := cluster.KeepalivedConfig("lb1", fiftyClassic(), true, 101)
	if err != nil {
		t.Fatal(err)
	}
	confRE := regexp.MustCompile(`vrrp_instance (VI_\d+) \{\n\tstate MASTER\n\tinterface eth0\n\tvirtual_router_id (\d+)\n\tpriority 101\n\tadvert_int 0.1\n\tvirtual_ipaddress \{\n\t\t([0-9.]+)/24\n\t\}\n\ttrack_script \{\n\t\tchk_haproxy\n\t\}\n\}`)
	var kad []string
	for _, m := range confRE.FindAllStringSubmatch(conf, -1) {
		kad = append(kad, m[1]+" "+m[2]+" "+m[3])
	}
	if len(halo) != 50 || len(kad) != 50 {
		t.Fatalf("%d halod instances, %d keepalived instances, want 50 each:\n%s\n%s", len(halo), len(kad), y, conf)
	}
	if diff := cmp.Diff(halo, kad); diff != "" {
		t.Errorf("instances (halod -, keepalived +):\n%s", diff)
	}
	for _, w := range []string{"vrrp_version 3", `script "killall -0 haproxy"`, "interval 1\n", "fall 1\n", "rise 1\n"} {
		if !strings.Contains(conf, w) {
			t.Errorf("keepalived.conf lacks %q", w)
		}
	}
	if strings.Contains(conf, "weight") {
		t.Error("keepalived's check is weighted: a failure would not mean FAULT as halod's {fault: true} does")
	}
}

func TestAllIn(t *testing.T) {
	ins, err := cluster.Instances(3)
	if err != nil {
		t.Fatal(err)
	}
	if err := allIn("lb1", map[string]string{"VI_1": "MASTER", "VI_2": "MASTER", "VI_3": "MASTER"}, ins, "MASTER"); err != nil {
		t.Errorf("all MASTER: %v", err)
	}
	err = allIn("lb2", map[string]string{"VI_1": "BACKUP", "VI_3": "FAULT"}, ins, "BACKUP")
	if err == nil || err.Error() != "lb2: 2 of 3 instances not BACKUP (VI_2 —, VI_3 FAULT)" {
		t.Errorf("allIn = %v", err)
	}
}

func TestFootprintGoals(t *testing.T) {
	group := func(procs ...procUsage) *idleResult {
		return &idleResult{window: 10 * time.Second, procs: procs}
	}
	halod := group(procUsage{node: "lb1", label: "halod", rssKB: 15 * 1024, ussKB: 15 * 1024, cpuSec: 0.02})
	kad := group(procUsage{node: "lb1", label: "keepalived (parent)", rssKB: 9 * 1024, ussKB: 5 * 1024},
		procUsage{node: "lb1", label: "keepalived (VRRP child)", rssKB: 5 * 1024, ussKB: 2 * 1024, cpuSec: 0.03, childSec: 0.02})
	fat := group(procUsage{node: "lb1", label: "halod", rssKB: 16*1024 + 1, cpuSec: 0.06})
	h50 := group(procUsage{node: "lb1", cpuSec: 0.5}, procUsage{node: "lb2", cpuSec: 0.2})
	k50 := group(procUsage{node: "lb1", cpuSec: 0.4}, procUsage{node: "lb1", cpuSec: 0.2}, procUsage{node: "lb2", cpuSec: 0.1},
		procUsage{node: "lb2", cpuSec: 0.15})
	k50slow := group(procUsage{node: "lb1", cpuSec: 0.6}, procUsage{node: "lb2", cpuSec: 0.1})
	small := binaryInfo{size: 12 * mib, strip: true}
	big := binaryInfo{size: 12*mib + 1, strip: true}
	results := func(vs []verdict) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.result)
		}
		return out
	}
	const met, missed, none = "**met**", "**missed**", "**not measured**"
	for _, tc := range []struct {
		name                    string
		halod, kad, h50, k50    *idleResult
		bin                     binaryInfo
		want                    []string // CPU vs keepalived, CPU 0.5 %, RSS 16 MiB, binary, 50 instances
		wantMeasured0, wantRSS1 string
	}{
		{"all met", halod, kad, h50, k50, small, []string{met, met, met, met, met},
			"halod 0.200 % vs keepalived 0.300 % (0.020 vs 0.030 CPU-s, 0.02 of it check scripts)",
			"15.0 MiB; keepalived's master node 14.0 MiB (parent 9.0 + VRRP child 5.0): halod +1.0 MiB, 1.07×; counting the pages keepalived's parent and child share once, 11.0 MiB: halod +4.0 MiB, 1.36×"},
		{"all missed", fat, kad, h50, k50slow, big, []string{missed, missed, missed, missed, missed}, "", ""},
		{"unstripped, nothing else measured", nil, nil, nil, k50, binaryInfo{size: 1, strip: false}, []string{none, none, none, none, none}, "", ""},
		{"no binary", halod, nil, h50, nil, binaryInfo{err: "no such file"}, []string{none, met, met, none, none}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := footprintGoals(tc.halod, tc.kad, tc.h50, tc.k50, tc.bin)
			if diff := cmp.Diff(tc.want, results(vs)); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
			if tc.wantMeasured0 != "" && vs[0].measured != tc.wantMeasured0 {
				t.Errorf("CPU comparison:\n got %s\nwant %s", vs[0].measured, tc.wantMeasured0)
			}
			if tc.wantRSS1 != "" && vs[2].measured != tc.wantRSS1 {
				t.Errorf("RSS comparison:\n got %s\nwant %s", vs[2].measured, tc.wantRSS1)
			}
		})
	}
}

func TestNodeOnce(t *testing.T) {
	r := &idleResult{procs: []procUsage{
		{node: "lb1", rssKB: 9000, ussKB: 200}, {node: "lb1", rssKB: 6000, ussKB: 300},
		{node: "lb2", rssKB: 5000, ussKB: 100}, {node: "lb2", rssKB: 9500, ussKB: 250},
	}}
	for _, tc := range []struct {
		node string
		want int64
	}{{"lb1", 9300}, {"lb2", 9600}, {"", 9500 + 200 + 300 + 100}, {"lb3", 0}} {
		if got := r.nodeOnce(tc.node); got != tc.want {
			t.Errorf("nodeOnce(%q) = %d, want %d", tc.node, got, tc.want)
		}
	}
	if got := (&idleResult{procs: []procUsage{{node: "lb1", rssKB: 20000, ussKB: 8000}}}).nodeOnce("lb1"); got != 20000 {
		t.Errorf("one process: %d, want its RSS", got)
	}
}

func TestStripped(t *testing.T) {
	sec := func(names ...string) []*elf.Section {
		var out []*elf.Section
		for _, n := range names {
			out = append(out, &elf.Section{SectionHeader: elf.SectionHeader{Name: n}})
		}
		return out
	}
	if !stripped(sec(".text", ".rodata", ".go.buildinfo")) {
		t.Error("-s -w binary not seen as stripped")
	}
	for _, s := range [][]*elf.Section{sec(".text", ".symtab"), sec(".text", ".debug_info"), sec(".zdebug_line")} {
		if stripped(s) {
			t.Errorf("%s seen as stripped", s[len(s)-1].Name)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if b := measureBinary(self); b.err != "" || b.size == 0 {
		t.Errorf("measureBinary(test binary) = %+v", b)
	}
}

// TestReapedChildrenCounted is what keepalived's footprint relies on: the CPU of a child
// that ran and exited between two samples shows in its parent's cutime+cstime.
func TestReapedChildrenCounted(t *testing.T) {
	_, before, err := cpuTicksSplit(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A child that burns CPU for a bounded count of iterations and exits (tens of ms).
	if out, err := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done").CombinedOutput(); err != nil {
		t.Fatalf("sh: %v %s", err, out)
	}
	_, after, err := cpuTicksSplit(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("cutime+cstime %d → %d ticks: the reaped child's CPU is not counted", before, after)
	}
}

func TestFiftyVersusTable(t *testing.T) {
	g := func(procs ...procUsage) *idleResult { return &idleResult{window: 10 * time.Second, procs: procs} }
	r := &report{
		idle50: g(procUsage{node: "lb1", rssKB: 30 * 1024, cpuSec: 0.4}, procUsage{node: "lb2", rssKB: 28 * 1024, cpuSec: 0.2}),
		ka50: g(procUsage{node: "lb1", rssKB: 10 * 1024, ussKB: 200, cpuSec: 0.01}, procUsage{node: "lb1", rssKB: 6 * 1024, ussKB: 1024, cpuSec: 0.2, childSec: 0.02},
			procUsage{node: "lb2", rssKB: 10 * 1024, cpuSec: 0}, procUsage{node: "lb2", rssKB: 6 * 1024, ussKB: 512, cpuSec: 0.05}),
	}
	var b strings.Builder
	r.fiftyVersus(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) })
	for _, want := range []string{
		"| lb1, master of all 50 | **4.000** | 30.0 | **2.100** | 16.0 (11.0) |",
		"| lb2, backup of all 50 | **2.000** | 28.0 | **0.500** | 16.0 (10.5) |",
		"killall -0 haproxy",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in:\n%s", want, b.String())
		}
	}
}

// TestInjectionPhaseSpread: faults land at every phase of a 200 ms check (halod's default)
// and of a 2 s vrrp_script (the tutorial's), not at the one phase a round's return to
// steady is paced at; injected at once, every round of a setup measured the same phase.
func TestInjectionPhaseSpread(t *testing.T) {
	const draws, bins = 400, 4
	for _, period := range []time.Duration{200 * time.Millisecond, 2 * time.Second} {
		var hit [bins]int
		for range draws {
			d := injectDelay()
			if d < 0 || d >= injectSpread {
				t.Fatalf("delay %v outside [0, %v)", d, injectSpread)
			}
			hit[int(d%period*bins/period)]++
		}
		for i, n := range hit {
			// Uniform gives 100 a bin; below 40 happens with a probability far under 1e-9.
			if n < draws/bins*2/5 {
				t.Errorf("period %v: phase bin %d/%d got %d of %d draws: %v", period, i, bins, n, draws, hit)
			}
		}
	}
}

// TestSpeedup: an outage the client saw as 0 ms is counted as its poll interval, a lower
// bound, never divided by (the full bench of 64fb690 printed "6650.6×" over halo's 0 ms).
func TestSpeedup(t *testing.T) {
	for _, c := range []struct {
		slow, fast time.Duration
		want, met  string
	}{
		{6650 * time.Millisecond, 0, "classic 6650 ms / halo 0 ms (under the client's 10 ms resolution) > 665×", "**met**"},
		{40 * time.Millisecond, 0, "classic 40 ms / halo 0 ms (under the client's 10 ms resolution) > 4×", "**missed**"},
		{5869 * time.Millisecond, 121 * time.Millisecond, "classic 5869 ms / halo 121 ms = 48.5×", "**met**"},
		{500 * time.Millisecond, 121 * time.Millisecond, "classic 500 ms / halo 121 ms = 4.1×", "**missed**"},
	} {
		got, met := speedup(c.slow, c.fast, 5)
		if got != c.want || met != c.met {
			t.Errorf("speedup(%v, %v) = %q, %s; want %q, %s", c.slow, c.fast, got, met, c.want, c.met)
		}
	}
}
