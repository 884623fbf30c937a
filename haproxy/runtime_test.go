package haproxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Captured from HAProxy 2.6.12 (trimmed: show info keeps the fields halo reads).
const (
	infoOK = `Name: HAProxy
Version: 2.6.12-1+deb12u4
Release_date: 2026/10/17
Nbthread: 2
Pid: 6628
Uptime_sec: 607
Maxconn: 9979
CurrConns: 0
node: vm
Stopping: 0
Jobs: 4
Listeners: 3
`
	statHeader = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,\n"
	statApp    = statHeader +
		"app,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,608,608,,1,3,1,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,3,0,,,,127.0.0.1:18081,,http,,\n" +
		"app,s2,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,608,,,1,3,2,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18082,,http,,\n" +
		"app,BACKEND,0,0,0,0,998,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,608,0,,1,3,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,http,roundrobin,\n"
	statMain = statHeader +
		"main,FRONTEND,,,0,0,9979,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,0,0,0,0,0,0,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,http,,\n"
	procOut = `#<PID>          <type>          <reloads>       <uptime>        <version>
6625            master          2 [failed: 1]   0d00h10m16s     2.6.12-1+deb12u4
# workers
24228           worker          1               0d00h00m01s     2.6.12-1+deb12u4
# old workers
6628            worker          2               0d00h10m15s     2.6.12-1+deb12u4
# programs

`
)

func TestParseProc(t *testing.T) {
	got, err := parseProc(procOut)
	if err != nil {
		t.Fatal(err)
	}
	want := Proc{MasterPID: 6625, Reloads: 2, Failed: 1, Version: "2.6.12-1+deb12u4",
		Workers:    []ProcWorker{{PID: 24228, Reloads: 1, Version: "2.6.12-1+deb12u4"}},
		OldWorkers: []ProcWorker{{PID: 6628, Reloads: 2, Version: "2.6.12-1+deb12u4"}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("parseProc (-want +got):\n%s", d)
	}
	if _, err := parseProc("Unknown command.\n"); err == nil {
		t.Error("parseProc accepted an answer without a master row")
	}
}

func TestParseReloadAnswer(t *testing.T) {
	for _, tc := range []struct {
		in              string
		ok, known       bool
		logsContain     string
		logsMustBeEmpty bool
	}{
		{in: "", known: false},
		{in: "Success=1\n--\n[NOTICE]   (1) : Loading success.\n", ok: true, known: true},
		{in: "Success=0\n--\n[NOTICE]   (1) : haproxy version\n[ALERT]    (1) : config : parsing [h.cfg:15] : unknown keyword 'garbage'\n", known: true, logsContain: "parsing [h.cfg:15] : unknown keyword 'garbage'"},
	} {
		ok, logs, known := parseReloadAnswer(tc.in)
		if ok != tc.ok || known != tc.known || !strings.Contains(logs, tc.logsContain) {
			t.Errorf("parseReloadAnswer(%q) = %v, %q, %v", tc.in, ok, logs, known)
		}
	}
}

func TestJudge(t *testing.T) {
	ck := CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"app": 1}}
	for _, tc := range []struct {
		name   string
		ck     CheckConfig
		answer string
		kind   CheckKind
		reason string
	}{
		{"healthy", ck, infoOK + "\n" + statApp + "\n" + statMain + "\n", KindOK, ""},
		{"need two UP", CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"app": 2}},
			infoOK + "\n" + statApp + "\n" + statMain + "\n", KindBackend, "backend app: 1/2 servers UP, need 2"},
		{"all down", ck, infoOK + "\n" + strings.ReplaceAll(statApp, "no check", "MAINT") + "\n" + statMain + "\n",
			KindBackend, "backend app: 0/2 servers UP"},
		{"frontend stopped", ck, infoOK + "\n" + statApp + "\n" + strings.Replace(statMain, "OPEN", "STOP", 1) + "\n",
			KindFrontend, "frontend main: STOP, not OPEN"},
		{"unknown proxy", CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"nope": 1}},
			infoOK + "\n" + statMain + "\nNo such proxy.\n\n", KindBackend, "backend nope: not found (No such proxy)"},
		{"stopping", ck, strings.Replace(infoOK, "Stopping: 0", "Stopping: 1", 1) + "\n" + statApp + "\n" + statMain + "\n",
			KindStopping, "haproxy is stopping (pid 6628)"},
		{"short", ck, infoOK + "\n", KindProtocol, "stats socket: 1 answers to 3 commands"},
		{"garbage", ck, "Unknown command\n\nx\n\ny\n\n", KindProtocol, `stats socket: show info: unexpected answer "Unknown command"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newCheckPlan(tc.ck, false).judge(tc.answer)
			if r.Kind != tc.kind || r.Reason != tc.reason {
				t.Errorf("judge = %s %q, want %s %q", r.Kind, r.Reason, tc.kind, tc.reason)
			}
		})
	}
}

func TestCheckPlanCommand(t *testing.T) {
	ck := CheckConfig{Frontends: []string{"main", "stats"}, Backends: map[string]int{"app": 1, "stats": 0}}
	if got, want := newCheckPlan(ck, false).cmd, "show info;show stat app -1 -1;show stat main -1 -1;show stat stats -1 -1"; got != want {
		t.Errorf("cmd = %q, want %q", got, want)
	}
	if got, want := newCheckPlan(ck, true).cmd, "@1 show info;@1 show stat app -1 -1;@1 show stat main -1 -1;@1 show stat stats -1 -1;quit"; got != want {
		t.Errorf("master cmd = %q, want %q", got, want)
	}
}

func TestHysteresis(t *testing.T) {
	// Each step: the check result, then the verdict expected after it.
	for _, tc := range []struct {
		name       string
		rise, fall int
		results    string // + pass, - fail
		verdicts   string // H healthy, U unhealthy
	}{
		{"starts unhealthy, rise 2", 2, 3, "++", "UH"},
		{"fall 3", 2, 3, "++---", "UHHHU"},
		{"flap is absorbed", 2, 3, "++--+--+", "UHHHHHHH"},
		{"rise interrupted", 2, 3, "+-+-++", "UUUUUH"},
		{"rise 1 fall 1", 1, 1, "+-+-", "HUHU"},
		{"recovery needs rise", 2, 2, "++--+-++", "UHHUUUUH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hysteresis{rise: tc.rise, fall: tc.fall}
			var got strings.Builder
			for _, c := range tc.results {
				h.observe(c == '+')
				if h.healthy {
					got.WriteByte('H')
				} else {
					got.WriteByte('U')
				}
			}
			if got.String() != tc.verdicts {
				t.Errorf("verdicts %s, want %s", got.String(), tc.verdicts)
			}
		})
	}
	h := hysteresis{rise: 1, fall: 3}
	h.observe(true)
	if !h.down() || h.healthy || h.down() {
		t.Error("down did not make the verdict unhealthy exactly once")
	}
}

// fakeSocket is an HAProxy stats socket in memory: it answers each command line with
// answer(line), or never answers when answer is nil.
type fakeSocket struct {
	path string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	got  []string
}

func newFakeSocket(t *testing.T, answer func(cmd string) string) *fakeSocket {
	t.Helper()
	f := &fakeSocket{path: filepath.Join(t.TempDir(), "s.sock")}
	ln, err := net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	stop := make(chan struct{})
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Go(func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				f.mu.Lock()
				f.got = append(f.got, strings.TrimSpace(line))
				f.mu.Unlock()
				if answer == nil {
					<-stop // accept, read, never answer: a SIGSTOPped HAProxy
					return
				}
				_, _ = c.Write([]byte(answer(strings.TrimSpace(line))))
			})
		}
	})
	t.Cleanup(func() {
		close(stop)
		ln.Close()
		f.wg.Wait()
	})
	return f
}

func TestProbeFakeSocket(t *testing.T) {
	ck := CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"app": 1}}
	plan := newCheckPlan(ck, false)
	f := newFakeSocket(t, func(cmd string) string {
		if cmd != plan.cmd {
			return "Unknown command.\n\n"
		}
		return infoOK + "\n" + statApp + "\n" + statMain + "\n"
	})
	r := plan.probe(t.Context(), time.Second, "stats socket", f.path)
	if !r.OK() || r.WorkerPID != 6628 || r.Version != "2.6.12-1+deb12u4" {
		t.Fatalf("probe = %+v", r)
	}
}

func TestProbeTimesOutAtDeadline(t *testing.T) {
	f := newFakeSocket(t, nil)
	plan := newCheckPlan(CheckConfig{Frontends: []string{"main"}}, false)
	const timeout = 100 * time.Millisecond
	r := plan.probe(t.Context(), timeout, "stats socket", f.path)
	if r.Kind != KindTimeout || r.Reason != "stats socket: timeout after 100ms" {
		t.Errorf("probe = %s %q, want timeout", r.Kind, r.Reason)
	}
	if r.Duration < timeout || r.Duration > timeout+50*time.Millisecond {
		t.Errorf("probe took %s, want the deadline of %s", r.Duration, timeout)
	}
}

func TestProbeConnectErrors(t *testing.T) {
	plan := newCheckPlan(CheckConfig{}, false)
	ctx := t.Context()
	r := plan.probe(ctx, 100*time.Millisecond, "stats socket", filepath.Join(t.TempDir(), "absent.sock"))
	if r.Kind != KindConnect || !strings.HasPrefix(r.Reason, "stats socket: ") {
		t.Errorf("probe = %s %q, want connect", r.Kind, r.Reason)
	}
	var se *SocketError
	_, err := exchange(ctx, 100*time.Millisecond, "stats socket", filepath.Join(t.TempDir(), "absent.sock"), "show info")
	if !errors.As(err, &se) || se.Kind != KindConnect {
		t.Errorf("exchange err = %v", err)
	}
}

// TestCheckLoopOneInFlight runs the Manager's loop against a socket that never answers:
// checks must not pile up, each must end at its deadline and count as a timeout.
func TestCheckLoopOneInFlight(t *testing.T) {
	f := newFakeSocket(t, nil)
	cfg := Config{Mode: External, StatsSocket: f.path, MasterSocket: "",
		Check: CheckConfig{Interval: 30 * time.Millisecond, Timeout: 20 * time.Millisecond, Frontends: []string{"main"}}}
	m, err := New(cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	c := m.Counters()
	n := c.Checks[KindTimeout]
	// 300ms at one check per 20-30ms: at most 15 could run one at a time.
	if n < 5 || n > 16 || c.Checks[KindOK] != 0 {
		t.Errorf("checks = %v", c.Checks)
	}
	f.mu.Lock()
	conns := len(f.got)
	f.mu.Unlock()
	if uint64(conns) > n+1 {
		t.Errorf("%d connections for %d checks: probes overlapped", conns, n)
	}
	s := m.Snapshot()
	if s.Healthy || s.Reason != "stats socket: timeout after 20ms" {
		t.Errorf("snapshot = %v %q", s.Healthy, s.Reason)
	}
}
