package haproxy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// splitBlocks splits the answer to several semicolon-separated stats-socket commands:
// HAProxy ends the output of each command with an empty line.
func splitBlocks(answer string) []string {
	answer = strings.TrimRight(answer, "\n")
	if answer == "" {
		return nil
	}
	return strings.Split(answer, "\n\n")
}

// procInfo is what a check reads of `show info`.
type procInfo struct {
	pid      int
	stopping bool
	version  string
}

// parseInfo reads `show info` (the "Name: value" form).
func parseInfo(block string) (procInfo, error) {
	var info procInfo
	var name, pid, stopping bool
	for line := range strings.Lines(block) {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Name":
			name = true
		case "Version":
			info.version = v
		case "Pid":
			n, err := strconv.Atoi(v)
			info.pid, pid = n, err == nil
		case "Stopping":
			n, err := strconv.Atoi(v)
			info.stopping, stopping = n != 0, err == nil
		}
	}
	if !name || !pid || !stopping {
		return procInfo{}, fmt.Errorf("show info: unexpected answer %q", clip(block, 80))
	}
	return info, nil
}

// proxyStat is what a check reads of one proxy's `show stat` rows.
type proxyStat struct {
	frontend, backend  bool   // the FRONTEND and BACKEND rows are there
	frontendStatus     string // of the FRONTEND row
	serversUp, servers int
}

// `show stat` type column (HAProxy's management guide, 9.1, field 32).
const (
	statFrontend = "0"
	statBackend  = "1"
	statServer   = "2"
)

// parseStat reads the rows of proxy px in one `show stat` CSV block. It runs every
// check, so it walks the text in place and keeps only the four columns halo reads.
func parseStat(block, px string) (proxyStat, error) {
	var st proxyStat
	if !strings.HasPrefix(block, "# ") {
		return st, errors.New(clip(strings.TrimSpace(block), 120))
	}
	sc := csvScanner{s: block[2:]}
	cols := [3]int{-1, -1, -1}
	names := [3]string{"pxname", "status", "type"}
	for i := 0; ; i++ {
		f, last := sc.field()
		if j := slices.Index(names[:], f); j >= 0 && cols[j] < 0 {
			cols[j] = i
		}
		if last {
			break
		}
	}
	for j, c := range cols {
		if c < 0 {
			return st, fmt.Errorf("show stat: no %q column", names[j])
		}
	}
	for !sc.done() {
		var row [3]string
		n := 0
		for i := 0; ; i++ {
			f, last := sc.field()
			for j, c := range cols {
				if c == i {
					row[j] = f
					n++
				}
			}
			if last {
				break
			}
		}
		if n < len(cols) || row[0] != px {
			continue // a blank line, a short row, another proxy
		}
		switch row[2] {
		case statFrontend:
			st.frontend, st.frontendStatus = true, row[1]
		case statBackend:
			st.backend = true
		case statServer:
			st.servers++
			if serverUp(row[1]) {
				st.serversUp++
			}
		}
	}
	return st, nil
}

// csvScanner walks HAProxy's CSV, which quotes a field (RFC 4180) only when it holds a
// comma, a quote or a line break: unquoted fields are returned without a copy.
type csvScanner struct {
	s   string
	pos int
}

func (c *csvScanner) done() bool { return c.pos >= len(c.s) }

// field returns the next field and whether it ends its record. A quote left open takes
// the rest of the text, as encoding/csv's LazyQuotes would.
func (c *csvScanner) field() (string, bool) {
	s := c.s[c.pos:]
	if !strings.HasPrefix(s, `"`) {
		i := fieldEnd(s)
		if i < 0 {
			c.pos = len(c.s)
			return strings.TrimSuffix(s, "\r"), true
		}
		c.pos += i + 1
		return strings.TrimSuffix(s[:i], "\r"), s[i] == '\n'
	}
	var b strings.Builder
	i := 1
	for {
		j := strings.IndexByte(s[i:], '"')
		if j < 0 {
			b.WriteString(s[i:])
			c.pos = len(c.s)
			return b.String(), true
		}
		b.WriteString(s[i : i+j])
		i += j + 1
		if i < len(s) && s[i] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		break
	}
	k := fieldEnd(s[i:])
	if k < 0 {
		c.pos = len(c.s)
		return b.String(), true
	}
	c.pos += i + k + 1
	return b.String(), s[i+k] == '\n'
}

// fieldEnd returns the index of the first comma or line break in s, or -1. A field is
// a few bytes: a plain loop beats strings.IndexAny, which builds its set on every call.
func fieldEnd(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' || s[i] == '\n' {
			return i
		}
	}
	return -1
}

// Proc is the master CLI's `show proc`.
type Proc struct {
	// MasterPID is the master process.
	MasterPID int
	// Reloads counts the master's reloads, successful or not.
	Reloads int
	// Failed counts the reloads that failed (-1 when this HAProxy does not report it).
	Failed int
	// Workers are the current workers; OldWorkers those still finishing their
	// connections after a reload.
	Workers, OldWorkers []ProcWorker
	// Version is the master's version string.
	Version string
}

// ProcWorker is one worker row of `show proc`.
type ProcWorker struct {
	PID int
	// Reloads is how many reloads this worker has been through.
	Reloads int
	Version string
}

// parseProc reads `show proc` from HAProxy 2.6 on:
//
//	#<PID>          <type>          <reloads>       <uptime>        <version>
//	6625            master          1 [failed: 0]   0d00h10m15s     2.6.12-1+deb12u4
//	# workers
//	24228           worker          0               0d00h00m00s     2.6.12-1+deb12u4
//	# old workers
//	6628            worker          1               0d00h10m15s     2.6.12-1+deb12u4
//	# programs
func parseProc(out string) (Proc, error) {
	p := Proc{Failed: -1}
	section := ""
	sawMaster := false
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			section = strings.TrimSpace(strings.TrimPrefix(line, "#"))
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		reloads, _ := strconv.Atoi(f[2])
		switch {
		case f[1] == "master":
			sawMaster = true
			p.MasterPID, p.Reloads = pid, reloads
			rest := f[3:]
			if len(rest) >= 2 && rest[0] == "[failed:" {
				if n, err := strconv.Atoi(strings.TrimSuffix(rest[1], "]")); err == nil {
					p.Failed = n
				}
				rest = rest[2:]
			}
			if len(rest) >= 2 {
				p.Version = rest[1]
			}
		case f[1] == "worker":
			w := ProcWorker{PID: pid, Reloads: reloads}
			if len(f) >= 5 {
				w.Version = f[4]
			}
			if section == "old workers" {
				p.OldWorkers = append(p.OldWorkers, w)
			} else {
				p.Workers = append(p.Workers, w)
			}
		}
	}
	if !sawMaster {
		return p, fmt.Errorf("show proc: no master row in %q", clip(out, 80))
	}
	return p, nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
