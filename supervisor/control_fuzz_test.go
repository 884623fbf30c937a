package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzControlRequest writes fuzzed bytes to a live control socket, as a client would,
// and reads every answer. Properties: the server never panics or hangs; it answers every
// request line once; a line that is not a JSON request gets an error answer and never
// reaches the handler (which records its calls), and a request that is one reaches it
// exactly as decoded (state-changing ones only as root, as the server allows).
func FuzzControlRequest(f *testing.F) {
	var mu sync.Mutex
	var calls []Request
	h := HandlerFunc(func(ctx context.Context, req Request) Response {
		mu.Lock()
		calls = append(calls, req)
		mu.Unlock()
		return Response{OK: true, Message: "recorded"}
	})
	dir, err := os.MkdirTemp("", "halo-fuzz-control")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "halo.sock")
	srv, err := NewControlServer(ControlConfig{Socket: sock, Mode: "0600"}, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	f.Cleanup(func() {
		cancel()
		<-done
	})
	root := os.Geteuid() == 0

	f.Add([]byte(`{"cmd":"status"}` + "\n"))
	f.Add([]byte(`{"cmd":"maintenance","args":["on"]}` + "\n" + `{"cmd":"resign","args":["VI_1"]}` + "\n"))
	f.Add([]byte("not json\n{\"cmd\":\"reload\"}\r\n"))
	f.Add([]byte(`{"cmd":"reload"`))
	f.Add([]byte(`{"cmd":["reload"]}` + "\n" + `{"args":"x"}` + "\n\n"))
	f.Add([]byte("null\n[]\n\"reload\"\n{\"cmd\":\"reload\"} {}\n"))
	f.Add([]byte(`{"CMD":"reload","cmd":"status","extra":1}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 8<<10 { // well under maxRequest: the over-long line has its own test
			return
		}
		var want []Request
		nlines := 0
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			nlines++
			var req Request
			if json.Unmarshal(sc.Bytes(), &req) == nil && (root || readOnly[req.Cmd]) {
				want = append(want, req)
			}
		}
		mu.Lock()
		calls = nil
		mu.Unlock()

		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			_, _ = c.Write(data)
			_ = c.(*net.UnixConn).CloseWrite()
		}()
		var answers []Response
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				var resp Response
				if err := json.Unmarshal(line, &resp); err != nil {
					t.Fatalf("answer is no JSON response: %q", line)
				}
				answers = append(answers, resp)
			}
			if err != nil {
				if err != io.EOF {
					t.Fatalf("reading answers: %v", err)
				}
				break
			}
		}
		if len(answers) != nlines {
			t.Fatalf("%d request lines, %d answers", nlines, len(answers))
		}
		sc = bufio.NewScanner(bytes.NewReader(data))
		for i := 0; sc.Scan(); i++ {
			var req Request
			if json.Unmarshal(sc.Bytes(), &req) != nil {
				if a := answers[i]; a.OK || !strings.HasPrefix(a.Error, "malformed request") {
					t.Fatalf("line %d %q is malformed, answered %+v", i+1, sc.Bytes(), a)
				}
			}
		}
		mu.Lock()
		got := calls
		mu.Unlock()
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("handler called with %+v, want %+v", got, want)
		}
	})
}
