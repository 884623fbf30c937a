package haproxy

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/haproxytech/client-native/v6/models"
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

// parseInfo reads `show info` (the "Name: value" form) into client-native's typed model.
// Only the fields halo uses are filled.
func parseInfo(block string) (*models.ProcessInfoItem, error) {
	info := &models.ProcessInfoItem{}
	seen := false
	for line := range strings.Lines(block) {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		num := func() *int64 {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil
			}
			return &n
		}
		switch k {
		case "Name":
			seen = true
		case "Version":
			info.Version = v
		case "Pid":
			info.Pid = num()
		case "Uptime_sec":
			info.Uptime = num()
		case "Nbthread":
			info.Nbthread = num()
		case "Maxconn":
			info.MaxConn = num()
		case "CurrConns":
			info.CurrConns = num()
		case "node":
			info.Node = v
		case "Stopping":
			info.Stopping = num()
		case "Jobs":
			info.Jobs = num()
		case "Listeners":
			info.Listeners = num()
		}
	}
	if !seen || info.Pid == nil || info.Stopping == nil {
		return nil, fmt.Errorf("show info: unexpected answer %q", clip(block, 80))
	}
	return info, nil
}

// parseStat reads one `show stat` CSV block into client-native's typed model (listener
// rows are skipped, as client-native does). Only the fields halo uses are filled, without
// the reflection-based decoder client-native uses: a check reads this every interval.
func parseStat(block string) ([]*models.NativeStat, error) {
	if !strings.HasPrefix(block, "# ") {
		return nil, errors.New(clip(strings.TrimSpace(block), 120))
	}
	r := csv.NewReader(strings.NewReader(block[2:]))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("show stat: header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"pxname", "svname", "status", "type"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("show stat: no %q column", need)
		}
	}
	var out []*models.NativeStat
	for n := 0; ; n++ {
		rec, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("show stat: line %d: %w", n+2, err)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return rec[i]
			}
			return ""
		}
		num := func(name string) *int64 {
			v, err := strconv.ParseInt(get(name), 10, 64)
			if err != nil {
				return nil
			}
			return &v
		}
		st := &models.NativeStat{Stats: &models.NativeStatStats{
			Status:      get("status"),
			Act:         num("act"),
			Bck:         num("bck"),
			Weight:      num("weight"),
			Scur:        num("scur"),
			Slim:        num("slim"),
			Iid:         num("iid"),
			Sid:         num("sid"),
			Pid:         num("pid"),
			Lastchg:     num("lastchg"),
			CheckStatus: get("check_status"),
			CheckDesc:   get("check_desc"),
			Addr:        get("addr"),
			Mode:        get("mode"),
		}}
		switch get("type") {
		case "0":
			st.Name, st.Type = get("pxname"), models.NativeStatTypeFrontend
		case "1":
			st.Name, st.Type = get("pxname"), models.NativeStatTypeBackend
		case "2":
			st.Name, st.Type, st.BackendName = get("svname"), models.NativeStatTypeServer, get("pxname")
		default: // 3: listener
			continue
		}
		out = append(out, st)
	}
	return out, nil
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
