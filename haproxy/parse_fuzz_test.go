package haproxy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	fuzzInfo = "Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nPid: 24228\nUptime_sec: 615\nNbthread: 2\nMaxconn: 4096\nCurrConns: 3\nnode: lb1\nStopping: 0\nJobs: 5\nListeners: 2\n"
	fuzzStat = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,addr,mode\n" +
		"main,FRONTEND,,,3,10,4096,100,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,5,,,,0,,http\n" +
		"app,s1,0,0,1,3,,50,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,615,0,,1,3,1,,50,,2,0,,4,L4OK,,0,0,192.0.2.21:8080,http\n" +
		"app,s2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN 1/2,1,1,0,1,1,10,10,,1,3,2,,0,,2,0,,0,L4CON,,1,0,192.0.2.22:8080,http\n" +
		"app,BACKEND,0,0,1,3,410,50,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,615,0,,1,3,0,,50,,1,0,,4,,,,0,,http\n"
	fuzzProc = "#<PID>          <type>          <reloads>       <uptime>        <version>\n6625            master          1 [failed: 0]   0d00h10m15s     2.6.12-1+deb12u4\n# workers\n24228           worker          0               0d00h00m00s     2.6.12-1+deb12u4\n# old workers\n6628            worker          1               0d00h10m15s     2.6.12-1+deb12u4\n# programs\n"
)

// FuzzParseInfo: `show info` parsing never panics, and what it accepts came with the
// lines a check relies on (Name, Pid, Stopping).
func FuzzParseInfo(f *testing.F) {
	f.Add(fuzzInfo)
	f.Add("Name: HAProxy\r\nPid: x\r\nStopping: 1\r\n")
	f.Add("Unknown command\n")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 64<<10 {
			return
		}
		if _, err := parseInfo(s); err == nil && (!strings.Contains(s, "Pid:") || !strings.Contains(s, "Stopping:") || !strings.Contains(s, "Name:")) {
			t.Fatalf("accepted a show info without Name, Pid or Stopping: %q", s)
		}
	})
}

// FuzzParseStat: `show stat` CSV parsing never panics, counts no more servers UP than
// servers, and a round trip holds: what it read of a proxy, written back as a `show stat`
// CSV, reads the same.
func FuzzParseStat(f *testing.F) {
	f.Add(fuzzStat, "app")
	f.Add("# pxname,svname,status,type\nmain,FRONTEND,OPEN,0\n\"a,b\",\"x\"\"y\",UP 1/3,2\n", "a,b")
	f.Add("# pxname,svname,status,type\nmain,FRONTEND\nbad\"quote,x,OPEN,1\n", "main")
	f.Add("Unknown command. Please enter one of the following commands only :\n", "main")
	f.Fuzz(func(t *testing.T, s, px string) {
		if len(s) > 64<<10 || len(px) > 256 {
			return
		}
		st, err := parseStat(s, px)
		if err != nil {
			return
		}
		if st.serversUp > st.servers {
			t.Fatalf("%d of %d servers UP", st.serversUp, st.servers)
		}
		q := func(v string) string { return `"` + strings.ReplaceAll(v, `"`, `""`) + `"` }
		var b strings.Builder
		b.WriteString("# pxname,svname,status,type\n")
		if st.frontend {
			fmt.Fprintf(&b, "%s,FRONTEND,%s,0\n", q(px), q(st.frontendStatus))
		}
		if st.backend {
			fmt.Fprintf(&b, "%s,BACKEND,UP,1\n", q(px))
		}
		for i := range st.servers {
			status := "DOWN"
			if i < st.serversUp {
				status = "UP"
			}
			fmt.Fprintf(&b, "%s,s%d,%s,2\n", q(px), i, status)
		}
		again, err := parseStat(b.String(), px)
		if err != nil {
			t.Fatalf("rendered rows refused: %v\n%s", err, b.String())
		}
		if again != st {
			t.Fatalf("read %+v, after a round trip %+v", st, again)
		}
	})
}

// FuzzJudge: a whole check answer (show info and one show stat block per proxy) never
// panics the check, and its verdict is a known kind, with a reason unless it is OK.
func FuzzJudge(f *testing.F) {
	statMain := strings.Replace(fuzzStat, "app,", "x,", -1)
	f.Add(fuzzInfo + "\n" + fuzzStat + "\n" + statMain + "\n")
	f.Add(fuzzInfo + "\n" + fuzzStat + "\n")
	f.Add(strings.Replace(fuzzInfo, "Stopping: 0", "Stopping: 1", 1) + "\n\n\n")
	plan := newCheckPlan(CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"app": 2}}, false)
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 64<<10 {
			return
		}
		r := plan.judge(s)
		if !slices.Contains(CheckKinds(), r.Kind) {
			t.Fatalf("verdict kind %q is not one of CheckKinds", r.Kind)
		}
		if r.Kind != KindOK && r.Reason == "" {
			t.Fatalf("verdict %q without a reason", r.Kind)
		}
	})
}

// FuzzParseProc: `show proc` parsing never panics; an accepted answer has a master.
func FuzzParseProc(f *testing.F) {
	f.Add(fuzzProc)
	f.Add("#<PID> <type> <reloads> <uptime> <version>\n1 master 0 0d 3.0.5\n2 worker\n")
	f.Add("1 master 0 [failed:\n")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 64<<10 {
			return
		}
		p, err := parseProc(s)
		if err == nil && !strings.Contains(s, "master") {
			t.Fatalf("accepted a show proc without a master row: %+v", p)
		}
	})
}

// FuzzParseReloadAnswer: the 2.7+ reload answer never panics, an answer not starting
// with Success= is unknown (2.6), and a known success reads Success=1.
func FuzzParseReloadAnswer(f *testing.F) {
	f.Add("Success=1\n--\n[NOTICE]   (6625) : Reloading HAProxy\n")
	f.Add("Success=0\n--\n[ALERT]    (6625) : config : parsing [/etc/haproxy/haproxy.cfg:12] : unknown keyword 'bogus'\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 64<<10 {
			return
		}
		ok, _, known := parseReloadAnswer(s)
		if !known && ok {
			t.Fatal("ok for an unknown answer")
		}
		if known != strings.HasPrefix(strings.TrimSpace(s), "Success=") {
			t.Fatalf("known = %v for %q", known, s)
		}
	})
}

// FuzzReadConfigFiles writes fuzzed bytes to a haproxy.cfg in a temp dir and reads it
// back. Properties: no panic; every item it reports (global settings, logs, stats
// sockets, proxies, binds, the line turning idle-close off) names the file and a line
// within the file's line count.
func FuzzReadConfigFiles(f *testing.F) {
	for _, s := range []string{"../configs/haproxy.cfg", "../configs/two-node/haproxy.cfg"} {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("global\n  stats socket /run/a.sock level admin expose-fd listeners\n  log /dev/log local0\ndefaults d\n  mode http\n  option idle-close-on-response\nfrontend f from d\n  bind :80,[::]:443 ssl crt x.pem\n  no option idle-close-on-response\n  default_backend b\nbackend b\n  server s 192.0.2.1:80\n"))
	f.Add([]byte("frontend a\r\n bind *:80\r\nlisten l\n bind 1.2.3.4:5 # c\n server x y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		path := filepath.Join(t.TempDir(), "haproxy.cfg")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		files, err := ReadConfigFiles(path)
		if err != nil {
			t.Fatalf("readable file refused: %v", err)
		}
		lines := strings.Count(string(data), "\n")
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		in := func(what string, l Loc, optional bool) {
			if l.File != path {
				t.Fatalf("%s names file %q", what, l.File)
			}
			if l.Line < 0 || l.Line > lines || (!optional && l.Line == 0) {
				t.Fatalf("%s at line %d of a %d-line file", what, l.Line, lines)
			}
		}
		for _, cf := range files {
			if cf.ParseErr != nil {
				continue
			}
			g := cf.Global
			in("global", g.Loc, true)
			for _, s := range []*Setting{g.Daemon, g.Maxconn, g.User, g.Group, g.Chroot, g.Nbthread} {
				if s != nil {
					in("global setting", s.Loc, true)
				}
			}
			for _, s := range g.Logs {
				in("log", s.Loc, false)
			}
			for _, s := range cf.StatsSockets {
				in("stats socket", s.Loc, true)
			}
			for _, px := range cf.Proxies {
				in(px.Section+" "+px.Name, px.Loc, true)
				in("idle-close off", Loc{path, px.IdleCloseOff}, true)
				for _, b := range px.Binds {
					in("bind", b.Loc, true)
					_ = b.Addrs()
				}
			}
		}
	})
}
