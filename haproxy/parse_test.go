package haproxy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStatQuoting(t *testing.T) {
	// HAProxy quotes a field that holds a comma, a quote or a line break; a quoted
	// check_desc must not shift the columns after it.
	block := "# pxname,svname,status,check_desc,type\n" +
		`app,s1,DOWN,"Layer7 wrong status, code: 503, info: ""Service Unavailable""",2` + "\n" +
		"app,s2,UP,\"two\nlines\",2\n" +
		"app,s3,no check,,2\r\n" +
		"other,s1,UP,,2\n" +
		"app,BACKEND,UP,,1\n" +
		"\n" +
		"app,s4,UP" // a short row counts for nothing
	got, err := parseStat(block, "app")
	if err != nil {
		t.Fatal(err)
	}
	want := proxyStat{backend: true, serversUp: 2, servers: 3}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(proxyStat{})); d != "" {
		t.Errorf("parseStat (-want +got):\n%s", d)
	}
}

func TestCSVScanner(t *testing.T) {
	sc := csvScanner{s: "a,\"b,\"\"c\"\"\",,\"open\nd"}
	var got []string
	var ends []bool
	for !sc.done() {
		f, last := sc.field()
		got, ends = append(got, f), append(ends, last)
	}
	if d := cmp.Diff([]string{"a", `b,"c"`, "", "open\nd"}, got); d != "" {
		t.Errorf("fields (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]bool{false, false, false, true}, ends); d != "" {
		t.Errorf("record ends (-want +got):\n%s", d)
	}
}

func TestParseStatErrors(t *testing.T) {
	for _, tc := range []struct{ block, err string }{
		{"No such proxy.\n", "No such proxy."},
		{"# pxname,svname,type\napp,BACKEND,1\n", `show stat: no "status" column`},
	} {
		if _, err := parseStat(tc.block, "app"); err == nil || err.Error() != tc.err {
			t.Errorf("parseStat(%q) err = %v, want %q", tc.block, err, tc.err)
		}
	}
}

// BenchmarkJudge is the parse path of one check at the default settings (one frontend,
// one backend): go test -run '^$' -bench Judge -benchmem ./haproxy/
func BenchmarkJudge(b *testing.B) {
	plan := newCheckPlan(CheckConfig{Frontends: []string{"main"}, Backends: map[string]int{"app": 1}}, false)
	answer := infoOK + "\n" + statApp + "\n" + statMain + "\n"
	b.ReportAllocs()
	for b.Loop() {
		if r := plan.judge(answer); !r.OK() {
			b.Fatal(r.Reason)
		}
	}
}
