package haproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/halo-lb/halo/internal/poll"
	"github.com/halo-lb/halo/internal/tier"
)

// lab is a real HAProxy on 127.0.0.1 in t.TempDir(), in front of Go backends.
type lab struct {
	t        testing.TB
	dir      string
	cfgPath  string
	frontend string // 127.0.0.1:port
	servers  []string
	backends []*httptest.Server
	cfg      Config
	// vars fill the haproxy.cfg template.
	vars labVars
}

type labVars struct {
	Dir, Frontend string
	Servers       []string
	IdleClose     bool
	NoExposeFD    bool   // the stats socket without "expose-fd listeners"
	Extra         string // appended to the backend section
	Broken        bool
	Generated     string // more sections (the big-config benchmark)
	FrontendName  string // default "main"
}

const labTemplate = `global
    stats socket {{.Dir}}/s.sock mode 600 level admin{{if not .NoExposeFD}} expose-fd listeners{{end}}
    stats timeout 10s
    hard-stop-after 10s

defaults
    mode http
{{- if .IdleClose}}
    option idle-close-on-response
{{- end}}
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout http-keep-alive 10s

frontend {{or .FrontendName "main"}}
    bind {{.Frontend}}
    default_backend app

backend app
    default-server check inter 100ms fall 1 rise 1
{{- range $i, $s := .Servers}}
    server s{{$i}} {{$s}}
{{- end}}
{{- if .Extra}}
{{.Extra}}
{{- end}}
{{- if .Broken}}
    this-is-not-a-keyword at all
{{- end}}
{{.Generated}}
`

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newLab writes haproxy.cfg for a frontend "main" and a backend "app" of two Go servers,
// and a Config with short check intervals.
func newLab(t testing.TB) *lab {
	t.Helper()
	bin := tier.HAProxy(t)
	// Unix socket paths must stay under 108 bytes: t.TempDir() names can be long.
	dir, err := os.MkdirTemp("", "halo-hap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := &lab{t: t, dir: dir, cfgPath: filepath.Join(dir, "haproxy.cfg")}
	for i := range 2 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "backend %d\n", i)
		}))
		t.Cleanup(srv.Close)
		l.backends = append(l.backends, srv)
		l.servers = append(l.servers, strings.TrimPrefix(srv.URL, "http://"))
	}
	l.frontend = freePort(t) // after the backends, which hold their ports
	l.vars = labVars{Dir: dir, Frontend: l.frontend, Servers: l.servers, IdleClose: true}
	l.writeConfig()
	l.cfg = Config{
		Mode:         Managed,
		Binary:       bin,
		Config:       []string{l.cfgPath},
		MasterSocket: filepath.Join(dir, "m.sock"),
		StatsSocket:  filepath.Join(dir, "s.sock"),
		Check: CheckConfig{Interval: 200 * time.Millisecond, Timeout: 100 * time.Millisecond, Rise: 2, Fall: 3,
			Frontends: []string{"main"}, Backends: map[string]int{"app": 1}},
		ReloadTimeout: 10 * time.Second,
		StopTimeout:   5 * time.Second,
		Restart:       RestartConfig{Initial: 50 * time.Millisecond, Max: time.Second, Stable: 5 * time.Second},
	}
	return l
}

func (l *lab) writeConfig() {
	l.t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("cfg").Parse(labTemplate)).Execute(&b, l.vars); err != nil {
		l.t.Fatal(err)
	}
	// Write then rename, as an operator's editor or config management would.
	tmp := l.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := os.Rename(tmp, l.cfgPath); err != nil {
		l.t.Fatal(err)
	}
}

// running is a Manager under Run, with every event kept.
type running struct {
	m      *Manager
	log    *recorder
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	events []Event
}

// start runs a Manager for cfg until the test ends (then stops it and waits).
func start(t testing.TB, cfg Config) *running {
	t.Helper()
	log, rec := testLogger(t)
	if _, ok := t.(*testing.B); ok {
		log = slog.New(rec)
	}
	m, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{m: m, log: rec, cancel: cancel, done: make(chan error, 1)}
	m.OnEvent(func(e Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	})
	go func() { r.done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("Run did not return 20s after its context ended")
		}
	})
	return r
}

func (r *running) eventsOf(match func(Event) bool) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

// get does one GET on a new connection.
func get(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: halo\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// load is a bounded client loop: each client sends GETs one after the other until ctx
// ends or max requests were sent, either on one keep-alive connection (reopened only when
// the server says close) or one connection per request. A client never retries: every
// request that does not get a 200 counts as failed.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
}

func (l *load) fail(err error) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, err.Error())
	}
	l.mu.Unlock()
}

func (l *load) run(ctx context.Context, addr string, keepAlive bool, max int) {
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	req := "GET / HTTP/1.1\r\nHost: halo\r\n\r\n"
	if !keepAlive {
		req = "GET / HTTP/1.1\r\nHost: halo\r\nConnection: close\r\n\r\n"
	}
	for i := 0; i < max && ctx.Err() == nil; i++ {
		if conn == nil {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				l.fail(fmt.Errorf("dial: %w", err))
				continue
			}
			conn, br = c, bufio.NewReader(c)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		err := func() error {
			if _, err := io.WriteString(conn, req); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				return fmt.Errorf("body: %w", err)
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %s", resp.Status)
			}
			if resp.Close || !keepAlive {
				conn.Close()
				conn = nil
			}
			return nil
		}()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.fail(err)
			conn.Close()
			conn = nil
			continue
		}
		l.ok.Add(1)
	}
}

// otherHAProxy runs a second HAProxy, without SO_REUSEPORT, holding a port of its own
// until the test ends; it returns the address.
func (l *lab) otherHAProxy(t *testing.T) string {
	t.Helper()
	addr := freePort(t)
	cfg := filepath.Join(l.dir, "other.cfg")
	text := "global\n    noreuseport\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n" +
		"frontend busy\n    bind " + addr + "\n"
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(l.cfg.Binary, "-db", "-f", cfg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	poll.Until(t, 5*time.Second, "the other HAProxy listening on "+addr, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	return addr
}

// startExternal runs an HAProxy of l's configuration that no Manager started (external
// mode), killed by its PID at the end of the test, and returns that PID.
func startExternal(t *testing.T, l *lab) int {
	t.Helper()
	cmd := exec.Command(l.cfg.Binary, l.cfg.args()...)
	cmd.Env = childEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL) // the PID this test started
		<-waited
	})
	return cmd.Process.Pid
}
