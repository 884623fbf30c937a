package metrics

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// clientGolangRuntime are the Go and process families client_golang's default Go and
// process collectors exported, with their types: operators' dashboards and alerts read
// them, ours process_resident_memory_bytes.
func clientGolangRuntime() map[string]dto.MetricType {
	g, c, s := dto.MetricType_GAUGE, dto.MetricType_COUNTER, dto.MetricType_SUMMARY
	return map[string]dto.MetricType{
		"go_gc_duration_seconds": s, "go_gc_gogc_percent": g, "go_gc_gomemlimit_bytes": g,
		"go_goroutines": g, "go_info": g, "go_memstats_alloc_bytes": g, "go_memstats_alloc_bytes_total": c,
		"go_memstats_buck_hash_sys_bytes": g, "go_memstats_frees_total": c, "go_memstats_gc_sys_bytes": g,
		"go_memstats_heap_alloc_bytes": g, "go_memstats_heap_idle_bytes": g, "go_memstats_heap_inuse_bytes": g,
		"go_memstats_heap_objects": g, "go_memstats_heap_released_bytes": g, "go_memstats_heap_sys_bytes": g,
		"go_memstats_last_gc_time_seconds": g, "go_memstats_mallocs_total": c, "go_memstats_mcache_inuse_bytes": g,
		"go_memstats_mcache_sys_bytes": g, "go_memstats_mspan_inuse_bytes": g, "go_memstats_mspan_sys_bytes": g,
		"go_memstats_next_gc_bytes": g, "go_memstats_other_sys_bytes": g, "go_memstats_stack_inuse_bytes": g,
		"go_memstats_stack_sys_bytes": g, "go_memstats_sys_bytes": g, "go_sched_gomaxprocs_threads": g, "go_threads": g,
		"process_cpu_seconds_total": c, "process_max_fds": g, "process_network_receive_bytes_total": c,
		"process_network_transmit_bytes_total": c, "process_open_fds": g, "process_resident_memory_bytes": g,
		"process_start_time_seconds": g, "process_virtual_memory_bytes": g, "process_virtual_memory_max_bytes": g,
	}
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil || len(f.GetMetric()) != 1 {
		t.Fatalf("%s: not one series", name)
	}
	m := f.GetMetric()[0]
	switch f.GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_SUMMARY:
		return float64(m.GetSummary().GetSampleCount())
	}
	return m.GetGauge().GetValue()
}

// TestRuntimeMetrics: every Go and process family client_golang exported is there, with
// its type, and the values say what they say there.
func TestRuntimeMetrics(t *testing.T) {
	runtime.GC() // so that the GC families have a cycle to show
	before := time.Now()
	fams := parseText(t, scrapeText(t, sample()))
	for name, typ := range clientGolangRuntime() {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("%s: %v, want a %v", name, f, typ)
		}
	}
	for name := range fams {
		if _, ok := clientGolangRuntime()[name]; !ok && (strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_")) {
			t.Errorf("%s: not one client_golang exported", name)
		}
	}
	if t.Failed() {
		return
	}

	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var rssKB float64
	for line := range strings.SplitSeq(string(status), "\n") {
		if _, err := fmt.Sscanf(line, "VmRSS: %f kB", &rssKB); err == nil {
			break
		}
	}
	if rss := value(t, fams, "process_resident_memory_bytes"); rss < rssKB*1024/2 || rss > rssKB*1024*2 {
		t.Errorf("process_resident_memory_bytes %v, /proc/self/status says %v kB", rss, rssKB)
	}
	if start := value(t, fams, "process_start_time_seconds"); start > float64(before.Unix()+1) || start < float64(before.Add(-time.Hour).Unix()) {
		t.Errorf("process_start_time_seconds %v: not within the last hour (now %v)", start, before.Unix())
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	open, maxFDs := value(t, fams, "process_open_fds"), value(t, fams, "process_max_fds")
	if maxFDs != float64(lim.Cur) || open < 3 || open > maxFDs {
		t.Errorf("process_open_fds %v, process_max_fds %v (RLIMIT_NOFILE %d)", open, maxFDs, lim.Cur)
	}
	if v := value(t, fams, "process_virtual_memory_bytes"); v < value(t, fams, "process_resident_memory_bytes") {
		t.Errorf("process_virtual_memory_bytes %v below the resident size", v)
	}
	if v := value(t, fams, "go_sched_gomaxprocs_threads"); v != float64(runtime.GOMAXPROCS(0)) {
		t.Errorf("go_sched_gomaxprocs_threads %v, GOMAXPROCS %d", v, runtime.GOMAXPROCS(0))
	}
	if v := value(t, fams, "go_goroutines"); v < 1 {
		t.Errorf("go_goroutines %v", v)
	}
	if v := value(t, fams, "go_gc_duration_seconds"); v < 1 {
		t.Errorf("go_gc_duration_seconds counts %v cycles after runtime.GC", v)
	}
	if v := value(t, fams, "go_memstats_last_gc_time_seconds"); v < float64(before.Add(-time.Minute).Unix()) || v > float64(time.Now().Unix()+1) {
		t.Errorf("go_memstats_last_gc_time_seconds %v, the last GC was just now", v)
	}
	alloc, heapSys, sys := value(t, fams, "go_memstats_alloc_bytes"), value(t, fams, "go_memstats_heap_sys_bytes"), value(t, fams, "go_memstats_sys_bytes")
	if alloc <= 0 || alloc > heapSys || heapSys > sys {
		t.Errorf("go_memstats alloc %v, heap_sys %v, sys %v: want 0 < alloc <= heap_sys <= sys", alloc, heapSys, sys)
	}
	if os.Getenv("GOGC") == "" {
		if v := value(t, fams, "go_gc_gogc_percent"); v != 100 {
			t.Errorf("go_gc_gogc_percent %v without GOGC, want 100", v)
		}
	}
	for _, l := range fams["go_info"].GetMetric()[0].GetLabel() {
		if l.GetName() == "version" && l.GetValue() != runtime.Version() {
			t.Errorf("go_info version %q, want %q", l.GetValue(), runtime.Version())
		}
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses; field n after it is n-3 here.
	line := "4242 (a) b (c) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := (procStat{utime: 14, stime: 15, starttime: 22, vsize: 23, rss: 24}); st != want {
		t.Errorf("%+v, want %+v", st, want)
	}
	for _, bad := range []string{"4242 (a S 1 2", "4242 (a) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23", "4242 (a) S 4 5 6 7 8 9 10 11 12 13 x 15 16 17 18 19 20 21 22 23 24 25"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseNetstat(t *testing.T) {
	text := "TcpExt: SyncookiesSent SyncookiesRecv\nTcpExt: 0 0\n" +
		"IpExt: InNoRoutes InOctets OutOctets InMcastOctets\nIpExt: 1 5351122169 4613563448 7\n"
	in, out, err := parseNetstat([]byte(text))
	if err != nil || in != 5351122169 || out != 4613563448 {
		t.Errorf("%d, %d, %v; want 5351122169, 4613563448", in, out, err)
	}
	for _, bad := range []string{"TcpExt: A\nTcpExt: 1\n", "IpExt: InOctets OutOctets\nIpExt: 1\n", "IpExt: InOctets OutOctets\nIpExt: 1 x\n", "IpExt: InOctets\nIpExt: 1\n"} {
		if _, _, err := parseNetstat([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
