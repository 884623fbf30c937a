package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/halo-lb/halo/supervisor"
)

// TestJSONDurationsInSeconds: JSON logs carry durations as seconds, at any depth; text
// logs keep Go's readable form.
func TestJSONDurationsInSeconds(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(newHandler(supervisor.LogConfig{Level: "info", Format: "json"}, &b, false))
	log.With("after", 80*time.Millisecond).Info("retrying", "retry_in", 1500*time.Millisecond, slog.Group("check", "took", 2*time.Microsecond), "count", 3)
	var got struct {
		After   float64 `json:"after"`
		RetryIn float64 `json:"retry_in"`
		Check   struct {
			Took float64 `json:"took"`
		} `json:"check"`
		Count int    `json:"count"`
		Time  string `json:"time"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	if got.After != 0.08 || got.RetryIn != 1.5 || got.Check.Took != 2e-6 || got.Count != 3 || got.Time == "" {
		t.Errorf("got %+v from %s; want after 0.08, retry_in 1.5, check.took 2e-06 (seconds), count 3, a time", got, b.String())
	}
	b.Reset()
	slog.New(newHandler(supervisor.LogConfig{Level: "info", Format: "text"}, &b, false)).Info("retrying", "retry_in", 1500*time.Millisecond)
	if !strings.Contains(b.String(), "retry_in=1.5s") {
		t.Errorf("text log %q, want retry_in=1.5s", b.String())
	}
}

// readEntry reads one native-protocol datagram into its fields.
func readEntry(t *testing.T, c *net.UnixConn) map[string]string {
	t.Helper()
	buf := make([]byte, 1<<16)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	b := buf[:n]
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			t.Fatalf("entry without a final newline: %q", buf[:n])
		}
		line := string(b[:nl])
		if k, v, ok := strings.Cut(line, "="); ok {
			fields[k] = v
			b = b[nl+1:]
			continue
		}
		// KEY\n, 64-bit little-endian length, value, \n
		size := binary.LittleEndian.Uint64(b[nl+1 : nl+9])
		fields[line] = string(b[nl+9 : nl+9+int(size)])
		if b[nl+9+int(size)] != '\n' {
			t.Fatalf("binary field %s not ended by a newline", line)
		}
		b = b[nl+10+int(size):]
	}
	return fields
}

// TestJournal: to a (fake) journal socket, each line is one entry with halod's
// SYSLOG_IDENTIFIER and the level's PRIORITY; when the journal is gone, stderr.
func TestJournal(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "journal.sock")
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var fallback bytes.Buffer
	j, err := newJournalWriter(sock, &fallback)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(newJournalHandler(supervisor.LogConfig{Level: "debug", Format: "text"}, j)).With("instance", "VI_1")
	for _, tc := range []struct {
		level    slog.Level
		msg      string
		priority string
		message  string
	}{
		{slog.LevelDebug, "debug", "7", `level=DEBUG msg=debug instance=VI_1 after=1s`},
		{slog.LevelInfo, "VRRP_Instance(VI_1) Entering MASTER STATE", "6", `level=INFO msg="VRRP_Instance(VI_1) Entering MASTER STATE" instance=VI_1 after=1s`},
		{slog.LevelWarn, "handover ended", "4", `level=WARN msg="handover ended" instance=VI_1 after=1s`},
		{slog.LevelError, "two\nlines", "3", `level=ERROR msg="two\nlines" instance=VI_1 after=1s`},
	} {
		log.Log(t.Context(), tc.level, tc.msg, "after", time.Second)
		e := readEntry(t, srv)
		if e["SYSLOG_IDENTIFIER"] != "halod" || e["PRIORITY"] != tc.priority {
			t.Errorf("%s: identifier %q priority %q, want halod %s", tc.level, e["SYSLOG_IDENTIFIER"], e["PRIORITY"], tc.priority)
		}
		if e["MESSAGE"] != tc.message {
			t.Errorf("MESSAGE %q, want %q (no time: the journal has its own)", e["MESSAGE"], tc.message)
		}
	}
	if fallback.Len() != 0 {
		t.Errorf("fallback written while the journal took every line: %q", fallback.String())
	}
	// JSON lines go as they are, durations in seconds.
	jl := slog.New(newJournalHandler(supervisor.LogConfig{Level: "info", Format: "json"}, j))
	jl.Info("reload", "took", 250*time.Millisecond)
	if e := readEntry(t, srv); !strings.Contains(e["MESSAGE"], `"took":0.25`) || strings.Contains(e["MESSAGE"], `"time"`) {
		t.Errorf("JSON MESSAGE %q", e["MESSAGE"])
	}
	// journald gone (restarting): the line is not lost.
	srv.Close()
	os.Remove(sock)
	log.Error("journal gone")
	if !strings.Contains(fallback.String(), "msg=\"journal gone\"") {
		t.Errorf("fallback %q, want the line", fallback.String())
	}
}

// TestStderrIsJournal: only the stream JOURNAL_STREAM names is taken for the journal's.
func TestStderrIsJournal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if !stderrIsJournal(f, fmt.Sprintf("%d:%d", st.Dev, st.Ino)) {
		t.Error("the named stream not recognised")
	}
	for _, other := range []string{"", "garbage", fmt.Sprintf("%d:%d", st.Dev, st.Ino+1), fmt.Sprintf("%d:%d", st.Dev+1, st.Ino)} {
		if stderrIsJournal(f, other) {
			t.Errorf("JOURNAL_STREAM=%q taken for this stream", other)
		}
	}
}
