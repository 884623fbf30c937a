package haproxy

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// listener is a TCP socket listening in this network namespace.
type listener struct {
	addr netip.AddrPort // the unspecified address for a wildcard
	// pid and comm name the process that holds it (0, "" when it cannot be told).
	pid  int
	comm string
}

// lintBindsInUse: a bind on an address and port that a process other than HAProxy
// listens on passes `haproxy -c`, but the reload fails, and HAProxy 2.6 pauses the
// running frontends for the seconds it retries the bind: clients are refused although
// nothing failed over. The reload is refused instead, before it reaches HAProxy. A port
// held by HAProxy itself is what a reload hands over, so it is fine.
func (v validator) lintBindsInUse(files []*ConfigFile) []Finding {
	if v.env.listeners == nil {
		return nil
	}
	ls, err := v.env.listeners()
	if err != nil || len(ls) == 0 {
		return nil // nothing known to be in the way; HAProxy will say the rest
	}
	var fs []Finding
	for _, f := range files {
		for _, px := range f.Proxies {
			for _, b := range px.Binds {
				for _, a := range b.Addrs() {
					for _, l := range ls {
						if l.comm == "haproxy" || !conflicts(a, l.addr) {
							continue
						}
						who := "another process"
						if l.pid > 0 {
							who = fmt.Sprintf("pid %d (%s)", l.pid, l.comm)
						}
						fs = append(fs, Finding{File: b.File, Line: b.Line, Severity: SeverityError,
							Msg: fmt.Sprintf("%s %s: %s is in use by %s, not by HAProxy: the reload would fail, and HAProxy would pause the running frontends while it retried",
								px.Name, strings.TrimSpace(a.Raw), l.addr, who)})
						break
					}
				}
			}
		}
	}
	return fs
}

// conflicts reports whether binding a would collide with the listener on l.
func conflicts(a BindAddr, l netip.AddrPort) bool {
	if a.Port == 0 || int(l.Port()) < a.Port || int(l.Port()) > a.PortEnd {
		return false
	}
	la := l.Addr().Unmap()
	switch {
	case la.IsUnspecified():
		// A wildcard listener takes its family. Whether "::" takes the IPv4 addresses too
		// (IPV6_V6ONLY) /proc does not say: not counted, so a reload is never refused
		// wrongly.
		if la.Is4() {
			return a.Any4 || a.Addr.Is4()
		}
		return a.Any6 || a.Addr.Is6()
	case a.Any4 && la.Is4(), a.Any6 && la.Is6():
		return true
	default:
		return a.Addr == la
	}
}

// hostListeners reads the listening TCP sockets of this network namespace from
// /proc/net/tcp and tcp6, and finds their processes through /proc/*/fd.
func hostListeners() ([]listener, error) {
	var ls []listener
	inodes := map[string]int{} // inode → index in ls
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue // no IPv6 in this kernel, say
		}
		got, err := parseProcNetTCP(bufio.NewScanner(f))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, g := range got {
			inodes[g.inode] = len(ls)
			ls = append(ls, listener{addr: g.addr})
		}
	}
	if len(ls) == 0 {
		return nil, nil
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		target, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue
		}
		i, ok := inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")]
		// halod holds copies of HAProxy's listening sockets (restart_in_place): a socket
		// any HAProxy holds is HAProxy's, whoever else holds it too.
		if !ok || ls[i].comm == "haproxy" {
			continue
		}
		pidDir := filepath.Dir(filepath.Dir(fd))
		ls[i].pid, _ = strconv.Atoi(filepath.Base(pidDir))
		comm, _ := os.ReadFile(filepath.Join(pidDir, "comm"))
		ls[i].comm = strings.TrimSpace(string(comm))
	}
	return ls, nil
}

type procSocket struct {
	addr  netip.AddrPort
	inode string
}

// parseProcNetTCP reads the LISTEN rows (state 0A) of /proc/net/tcp or tcp6: the local
// address is hex, each 32-bit word in host byte order (little endian here), the port
// big endian.
func parseProcNetTCP(sc *bufio.Scanner) ([]procSocket, error) {
	var out []procSocket
	for first := true; sc.Scan(); first = false {
		if first {
			continue // the header
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		raw, err := hex.DecodeString(hexAddr)
		if err != nil || (len(raw) != 4 && len(raw) != 16) {
			continue
		}
		for w := 0; w < len(raw); w += 4 { // each word back to network order
			raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
		}
		port, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			continue
		}
		addr, _ := netip.AddrFromSlice(raw)
		out = append(out, procSocket{addr: netip.AddrPortFrom(addr.Unmap(), uint16(port)), inode: fields[9]})
	}
	return out, sc.Err()
}
