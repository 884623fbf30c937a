package supervisor

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// capSysResource is CAP_SYS_RESOURCE's bit (linux/capability.h): with it a process may
// raise its hard RLIMIT_NOFILE, up to fs.nr_open.
const capSysResource = 24

// ReadHost reads what Warnings compares halo.yaml with on this machine. The file
// descriptor limit is this process's: a HAProxy that halod starts inherits it (Go hands
// children the soft limit it found, and HAProxy raises its soft limit to the hard one),
// so `halod -t` run by hand speaks of the shell's limit, and the unit's LimitNOFILE= is
// what counts for the daemon.
func ReadHost() Host {
	h := Host{
		LinkExists: func(name string) bool { _, err := net.InterfaceByName(name); return err == nil },
		LocalAddr:  localAddr,
		CPUs:       runtime.NumCPU(),
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		h.NoFile, h.NoFileFrom = lim.Max, "the hard RLIMIT_NOFILE of this process, which a managed HAProxy inherits"
	}
	if hasCapability(capSysResource) {
		if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n > h.NoFile {
				h.NoFile, h.NoFileFrom = n, "fs.nr_open: this process has CAP_SYS_RESOURCE, which a managed HAProxy inherits"
			}
		}
	}
	if h.NoFile == ^uint64(0) { // RLIM_INFINITY: no limit to compare with
		h.NoFile = 0
	}
	return h
}

func localAddr(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // cannot tell: no warning
	}
	for _, ad := range addrs {
		if p, err := netip.ParsePrefix(ad.String()); err == nil && p.Addr().Unmap() == a.Unmap() {
			return true
		}
	}
	return false
}

// hasCapability reads the effective set from /proc/self/status.
func hasCapability(bit uint) bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<bit) != 0
		}
	}
	return false
}
