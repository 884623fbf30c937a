package keepalived

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree renders parsed nodes compactly: name[args]{children}@line.
func tree(ns []*Node) string {
	var parts []string
	for _, n := range ns {
		s := n.Name
		if len(n.Args) > 0 {
			s += "[" + strings.Join(n.Args, "|") + "]"
		}
		if n.HasBlock {
			s += "{" + tree(n.Block) + "}"
		}
		parts = append(parts, s+"@"+strconv.Itoa(n.Pos.Line))
	}
	return strings.Join(parts, " ")
}

func parseString(t *testing.T, src string) ([]*Node, []Warning, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return Parse(path)
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"brace same line", "vrrp_instance VI_1 {\n state MASTER\n}\n", "vrrp_instance[VI_1]{state[MASTER]@2}@1"},
		{"brace next line", "vrrp_instance VI_1\n{\n state MASTER\n}\n", "vrrp_instance[VI_1]{state[MASTER]@3}@1"},
		{"one line", "vrrp_script chk { script \"killall -0 haproxy\" interval 2 }", "vrrp_script[chk]{script[killall -0 haproxy|interval|2]@1}@1"},
		{"blocks on one line", "a { b } c { d { e } }", "a{b@1}@1 c{d{e@1}@1}@1"},
		{"hash comment", "priority 100 # a comment\n", "priority[100]@1"},
		{"bang comment", "priority 100 ! a comment\n! whole line\n", "priority[100]@1"},
		{"comment glued to a word", "priority 100#x\n", "priority[100]@1"},
		{"escaped hash", `notify_master /bin/x\#1`, "notify_master[/bin/x#1]@1"},
		{"comment char in quotes", `script "echo # ! {}"`, "script[echo # ! {}]@1"},
		{"quoted split", `a "b c"d`, "a[b c|d]@1"},
		{"crlf", "a {\r\n b\r\n}\r\n", "a{b@2}@1"},
		{"definition", "$IF=eth1\ninterface $IF ${IF}x\n", "interface[eth1|eth1x]@2"},
		{"unknown definition kept", "interface $NOPE\n", "interface[$NOPE]@1"},
		{"value block lines", "virtual_ipaddress {\n 192.0.2.1/24 dev eth0\n 192.0.2.2\n}", "virtual_ipaddress{192.0.2.1/24[dev|eth0]@2 192.0.2.2@3}@1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes, _, err := parseString(t, tc.src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, tree(nodes)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unclosed block", "global_defs {\n router_id x\n\nvrrp_instance A {\n}\n", `keepalived.conf:1: block "global_defs" opened here is never closed`},
		{"extra brace", "a {\n}\n}\n", "keepalived.conf:3: '}' closes no block"},
		{"brace without keyword", "{\n", "keepalived.conf:1: '{' does not follow a keyword"},
		{"brace after block", "a { b }\n{\n", "keepalived.conf:2: '{' does not follow a keyword"},
		{"unterminated quote", "a {\n script \"killall -0 haproxy\n}\n", "keepalived.conf:2: unterminated '\"'"},
		{"multi-line definition", "$X=a \\\n b\n", "keepalived.conf:1: multi-line definition $X"},
		{"seq", "~SEQ(i,1,3) a $i\n", "keepalived.conf:1: ~SEQ sequences are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseString(t, tc.src)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestInclude(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("keepalived.conf", "a\ninclude conf.d/*.conf\ninclude none/*.conf\nvrrp_instance X {\n include inner.inc\n}\n")
	write("conf.d/1.conf", "b\ninclude ../sub/c.inc\n")
	write("conf.d/2.conf", "d {\n}\n")
	write("sub/c.inc", "c\n")
	write("inner.inc", "priority 7\n")
	if err := os.MkdirAll(filepath.Join(dir, "conf.d", "dir.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	nodes, warns, err := Parse(filepath.Join(dir, "keepalived.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("a@1 b@1 c@1 d{}@1 vrrp_instance[X]{priority[7]@1}@4", tree(nodes)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := nodes[2].Pos.File; got != filepath.Join("sub", "c.inc") {
		t.Errorf("included file shown as %q, want it relative to the main file", got)
	}
	if len(warns) != 1 || warns[0].Pos.Line != 3 || !strings.Contains(warns[0].Msg, "matches no file") {
		t.Errorf("warnings = %v, want one for the include matching nothing at line 3", warns)
	}
}

func TestIncludeLoop(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(p, []byte("include keepalived.conf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Parse(p)
	var pe *ParseError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "looping") {
		t.Fatalf("err = %v, want a loop error", err)
	}
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`notify_master "/etc/keepalived/notify.sh MASTER"`, []string{"notify_master", "/etc/keepalived/notify.sh MASTER"}},
		{`/bin/x 'a b' "c d" e\ f`, []string{"/bin/x", "a b", "c d", "e f"}},
		{`a"b c"d`, []string{"ab cd"}},
		{`x \t`, []string{"x", "\t"}},
	} {
		got, err := splitCommand(tc.in)
		if err != nil {
			t.Errorf("splitCommand(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("splitCommand(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	if _, err := splitCommand(`"open`); err == nil {
		t.Error("an unterminated quote must fail")
	}
}

// TestConditionalLines follows keepalived's read_line: "@ID" applies on ID only, "@^ID"
// everywhere but ID, a tab may separate the condition; without a config id every
// conditional line is skipped and recorded in its block.
func TestConditionalLines(t *testing.T) {
	// keepalived strips leading white space before it looks for '@' (decomment).
	src := "@high a 1\n@low a 2\n@^high b 1\n@^low b 2\nx {\n    @high\tpriority 170\n\t@low priority 85\n}\n@high\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id   string
		want string
	}{
		{"high", "a[1]@1 b[2]@4 x{priority[170]@6}@5"},
		{"low", "a[2]@2 b[1]@3 x{priority[85]@7}@5"},
		{"other", "b[1]@3 b[2]@4 x{}@5"},
	} {
		nodes, _, err := ParseFor(path, tc.id, true)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, tree(nodes)); diff != "" {
			t.Errorf("-i %s (-want +got):\n%s", tc.id, diff)
		}
	}
	nodes, warns, err := Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("x{}@5", tree(nodes)); diff != "" {
		t.Errorf("no id (-want +got):\n%s", diff)
	}
	x := nodes[0]
	if len(x.Skipped) != 2 || x.Skipped[0].ID != "high" || x.Skipped[1].Pos.Line != 7 || strings.Join(x.Skipped[0].Words, " ") != "priority 170" {
		t.Errorf("skipped in x: %+v", x.Skipped)
	}
	if len(warns) != 7 || warns[6].Pos.Line != 9 || !strings.Contains(warns[2].Msg, `every config id but "high"`) {
		for _, w := range warns {
			t.Log(w)
		}
		t.Errorf("%d warnings, want 7 (six lines skipped, one empty condition at line 9)", len(warns))
	}
}
