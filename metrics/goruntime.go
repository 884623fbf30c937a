package metrics

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The Go runtime's metrics under the names, HELP and semantics of client_golang's Go
// collector (its default set), so that the dashboards and alerts operators already have
// for Go programs keep working. The go_memstats_ values come from runtime/metrics, as
// client_golang computed them, without ReadMemStats' stop-the-world.

// memstat is one go_memstats_ gauge or counter: the sum of some runtime/metrics values.
type memstat struct {
	name, typ, help string
	from            []string
}

func memstats() []memstat {
	return []memstat{
		{"alloc_bytes", typeGauge, "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", []string{"/memory/classes/heap/objects:bytes"}},
		{"alloc_bytes_total", typeCounter, "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", []string{"/gc/heap/allocs:bytes"}},
		{"buck_hash_sys_bytes", typeGauge, "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", []string{"/memory/classes/profiling/buckets:bytes"}},
		{"frees_total", typeCounter, "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", []string{"/gc/heap/frees:objects", "/gc/heap/tiny/allocs:objects"}},
		{"gc_sys_bytes", typeGauge, "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", []string{"/memory/classes/metadata/other:bytes"}},
		{"heap_alloc_bytes", typeGauge, "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", []string{"/memory/classes/heap/objects:bytes"}},
		{"heap_idle_bytes", typeGauge, "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", []string{"/memory/classes/heap/released:bytes", "/memory/classes/heap/free:bytes"}},
		{"heap_inuse_bytes", typeGauge, "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}},
		{"heap_objects", typeGauge, "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", []string{"/gc/heap/objects:objects"}},
		{"heap_released_bytes", typeGauge, "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", []string{"/memory/classes/heap/released:bytes"}},
		{"heap_sys_bytes", typeGauge, "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes", "/memory/classes/heap/released:bytes", "/memory/classes/heap/free:bytes"}},
		{"mallocs_total", typeCounter, "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", []string{"/gc/heap/allocs:objects", "/gc/heap/tiny/allocs:objects"}},
		{"mcache_inuse_bytes", typeGauge, "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", []string{"/memory/classes/metadata/mcache/inuse:bytes"}},
		{"mcache_sys_bytes", typeGauge, "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", []string{"/memory/classes/metadata/mcache/inuse:bytes", "/memory/classes/metadata/mcache/free:bytes"}},
		{"mspan_inuse_bytes", typeGauge, "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", []string{"/memory/classes/metadata/mspan/inuse:bytes"}},
		{"mspan_sys_bytes", typeGauge, "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", []string{"/memory/classes/metadata/mspan/inuse:bytes", "/memory/classes/metadata/mspan/free:bytes"}},
		{"next_gc_bytes", typeGauge, "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", []string{"/gc/heap/goal:bytes"}},
		{"other_sys_bytes", typeGauge, "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", []string{"/memory/classes/other:bytes"}},
		{"stack_inuse_bytes", typeGauge, "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", []string{"/memory/classes/heap/stacks:bytes"}},
		{"stack_sys_bytes", typeGauge, "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", []string{"/memory/classes/heap/stacks:bytes", "/memory/classes/os-stacks:bytes"}},
		{"sys_bytes", typeGauge, "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", []string{"/memory/classes/total:bytes"}},
	}
}

// goSettings are the runtime settings client_golang exported beside the memstats.
func goSettings() []memstat {
	return []memstat{
		{"go_gc_gogc_percent", typeGauge, "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.", []string{"/gc/gogc:percent"}},
		{"go_gc_gomemlimit_bytes", typeGauge, "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.", []string{"/gc/gomemlimit:bytes"}},
		{"go_sched_gomaxprocs_threads", typeGauge, "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.", []string{"/sched/gomaxprocs:threads"}},
	}
}

// goFamilies reads the Go runtime's metrics now.
func goFamilies() []family {
	ms, settings := memstats(), goSettings()
	index := map[string]int{}
	var samples []metrics.Sample
	for _, m := range append(ms, settings...) {
		for _, name := range m.from {
			if _, ok := index[name]; !ok {
				index[name] = len(samples)
				samples = append(samples, metrics.Sample{Name: name})
			}
		}
	}
	metrics.Read(samples)
	sum := func(m memstat) float64 {
		var v uint64
		for _, name := range m.from {
			if s := samples[index[name]].Value; s.Kind() == metrics.KindUint64 {
				v += s.Uint64()
			}
		}
		return float64(v)
	}

	var out []family
	add := func(name, typ, help string, v float64, nameValue ...string) {
		f := family{name: name, typ: typ, help: help}
		f.add(v, nameValue...)
		out = append(out, f)
	}
	for _, m := range ms {
		add("go_memstats_"+m.name, m.typ, m.help, sum(m))
	}
	for _, m := range settings {
		add(m.name, m.typ, m.help, sum(m))
	}

	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	pauses := series{count: uint64(gc.NumGC), sum: gc.PauseTotal.Seconds()}
	for i, q := range gc.PauseQuantiles {
		pauses.quantiles = append(pauses.quantiles, quantile{q: float64(i) / float64(len(gc.PauseQuantiles)-1), v: q.Seconds()})
	}
	out = append(out, family{name: "go_gc_duration_seconds", typ: typeSummary,
		help:   "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.",
		series: []series{pauses}})
	add("go_memstats_last_gc_time_seconds", typeGauge, "Number of seconds since 1970 of last garbage collection.", float64(gc.LastGC.UnixNano())/1e9)

	threads, _ := runtime.ThreadCreateProfile(nil)
	add("go_goroutines", typeGauge, "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	add("go_threads", typeGauge, "Number of OS threads created.", float64(threads))
	add("go_info", typeGauge, "Information about the Go environment.", 1, "version", runtime.Version())
	return out
}
