package metrics

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The process metrics of client_golang's process collector, read from /proc/self as it
// did (procfs): the same names, HELP and units, so process_resident_memory_bytes on the
// dashboard means what it meant. A value that cannot be read is left out of the scrape,
// as client_golang left it out.

// userHZ is the unit of /proc's CPU times: fixed at 100 on every architecture Go runs
// Linux on (procfs assumes the same).
const userHZ = 100

func processFamilies() []family {
	var out []family
	add := func(name, typ, help string, v float64) {
		f := family{name: name, typ: typ, help: help}
		f.add(v)
		out = append(out, f)
	}
	if st, err := readStat(); err == nil {
		add("process_cpu_seconds_total", typeCounter, "Total user and system CPU time spent in seconds.", float64(st.utime+st.stime)/userHZ)
		add("process_virtual_memory_bytes", typeGauge, "Virtual memory size in bytes.", float64(st.vsize))
		add("process_resident_memory_bytes", typeGauge, "Resident memory size in bytes.", float64(st.rss*uint64(os.Getpagesize())))
		if boot, err := bootTime(); err == nil {
			add("process_start_time_seconds", typeGauge, "Start time of the process since unix epoch in seconds.", float64(boot)+float64(st.starttime)/userHZ)
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		add("process_open_fds", typeGauge, "Number of open file descriptors.", float64(len(fds)))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		add("process_max_fds", typeGauge, "Maximum number of open file descriptors.", float64(lim.Cur))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		add("process_virtual_memory_max_bytes", typeGauge, "Maximum amount of virtual memory available in bytes.", float64(lim.Cur))
	}
	if in, out2, err := netOctets(); err == nil {
		add("process_network_receive_bytes_total", typeCounter, "Number of bytes received by the process over the network.", float64(in))
		add("process_network_transmit_bytes_total", typeCounter, "Number of bytes sent by the process over the network.", float64(out2))
	}
	return out
}

type procStat struct{ utime, stime, starttime, vsize, rss uint64 }

// readStat reads /proc/self/stat (proc(5)); the command name, in parentheses, may hold
// spaces and parentheses, so fields are counted from the last ')'.
func readStat() (procStat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/self/stat: no ')' in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	const utime, stime, starttime, vsize, rss = 14 - 3, 15 - 3, 22 - 3, 23 - 3, 24 - 3
	if len(f) <= rss {
		return procStat{}, fmt.Errorf("/proc/self/stat: %d fields after the name, want at least %d", len(f), rss+1)
	}
	var st procStat
	for _, p := range []struct {
		dst *uint64
		idx int
	}{{&st.utime, utime}, {&st.stime, stime}, {&st.starttime, starttime}, {&st.vsize, vsize}, {&st.rss, rss}} {
		v, err := strconv.ParseUint(f[p.idx], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("/proc/self/stat field %d: %w", p.idx+3, err)
		}
		*p.dst = v
	}
	return st, nil
}

// bootTime is the btime line of /proc/stat: the boot's Unix time, which start times in
// clock ticks are counted from.
func bootTime() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/stat: no btime")
}

// netOctets reads IpExt's InOctets and OutOctets from /proc/self/net/netstat, as
// client_golang did: the counters of the process's network namespace.
func netOctets() (in, out uint64, err error) {
	b, err := os.ReadFile("/proc/self/net/netstat")
	if err != nil {
		return 0, 0, err
	}
	return parseNetstat(b)
}

func parseNetstat(b []byte) (in, out uint64, err error) {
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, ok := strings.CutPrefix(lines[i], "IpExt:")
		if !ok {
			continue
		}
		values, ok := strings.CutPrefix(lines[i+1], "IpExt:")
		if !ok {
			break
		}
		n, v := strings.Fields(names), strings.Fields(values)
		if len(n) != len(v) {
			return 0, 0, fmt.Errorf("/proc/self/net/netstat: IpExt has %d names and %d values", len(n), len(v))
		}
		found := 0
		for j, name := range n {
			var dst *uint64
			switch name {
			case "InOctets":
				dst = &in
			case "OutOctets":
				dst = &out
			default:
				continue
			}
			if *dst, err = strconv.ParseUint(v[j], 10, 64); err != nil {
				return 0, 0, fmt.Errorf("/proc/self/net/netstat: IpExt %s: %w", name, err)
			}
			found++
		}
		if found == 2 {
			return in, out, nil
		}
		break
	}
	return 0, 0, fmt.Errorf("/proc/self/net/netstat: no IpExt InOctets and OutOctets")
}
