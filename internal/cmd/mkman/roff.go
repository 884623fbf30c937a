package main

import (
	"fmt"
	"regexp"
	"strings"
)

// The Markdown the man sources and configs/README.md use, and nothing more: headings,
// paragraphs, "- " lists, fenced code, tables, `code`, **bold** and [links](...).

var (
	codeSpan = regexp.MustCompile("`([^`]*)`")
	bold     = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	link     = regexp.MustCompile(`\[([^\]]+)\]\(([^)]+)\)`)
)

// escape makes plain text safe for roff: backslashes and hyphens (a "-" in roff may print as
// a hyphen, which breaks copying options and paths).
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// inline converts one line of Markdown text to roff.
func inline(s string) string {
	s = strings.ReplaceAll(s, `\|`, "|")
	s = link.ReplaceAllStringFunc(s, func(m string) string {
		sub := link.FindStringSubmatch(m)
		if strings.HasPrefix(sub[2], "http") {
			return sub[1] + " <" + sub[2] + ">"
		}
		return sub[1]
	})
	// Split around code spans so that their content is escaped but not formatted further.
	var b strings.Builder
	for {
		loc := codeSpan.FindStringSubmatchIndex(s)
		if loc == nil {
			b.WriteString(plain(s))
			break
		}
		b.WriteString(plain(s[:loc[0]]))
		b.WriteString(`\fB` + escape(s[loc[2]:loc[3]]) + `\fR`)
		s = s[loc[1]:]
	}
	return b.String()
}

func plain(s string) string {
	s = escape(s)
	return bold.ReplaceAllString(s, `\fB$1\fR`)
}

// line guards a roff text line against being read as a request.
func line(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		return `\&` + s
	}
	return s
}

// cells splits a table row on the "|" that are not escaped.
func cells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(strings.TrimSuffix(row, "|"), "|")
	var out []string
	var cur strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case row[i] == '|':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(row[i])
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}

// toRoff renders Markdown as the body of a man page. A table becomes a tagged list: its
// first column the tag, the middle ones "Header: value.", the last one the text.
func toRoff(md string) string {
	var out []string
	var header []string // the current table's header cells
	para := false       // a paragraph is open: text lines join it
	code := false
	for _, l := range strings.Split(md, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "```"):
			if code {
				out = append(out, ".fi", ".RE")
			} else {
				out = append(out, ".PP", ".RS 4", ".nf")
			}
			code, para = !code, false
		case code:
			out = append(out, line(escape(l)))
		case t == "":
			para, header = false, nil
		case strings.HasPrefix(t, "# "):
			out = append(out, ".SH "+strings.ToUpper(inline(t[2:])))
			para = true // the section's first paragraph needs no .PP
		case strings.HasPrefix(t, "## "):
			out = append(out, ".SS "+inline(t[3:]))
			para = true
		case strings.HasPrefix(t, "|"):
			c := cells(t)
			switch {
			case header == nil:
				header = c
			case strings.Trim(strings.Join(c, ""), "-: ") == "":
				// the separator row
			default:
				out = append(out, ".TP", line(`\fB`+strings.TrimSuffix(strings.TrimPrefix(inline(c[0]), `\fB`), `\fR`)+`\fR`))
				var body []string
				for i := 1; i < len(c)-1 && i < len(header); i++ {
					body = append(body, fmt.Sprintf("%s: %s.", inline(header[i]), inline(c[i])))
				}
				body = append(body, inline(c[len(c)-1]))
				out = append(out, line(strings.Join(body, " ")))
			}
		case strings.HasPrefix(t, "- "):
			out = append(out, `.IP \(bu 2`, line(inline(t[2:])))
			para = true
		default:
			if !para {
				out = append(out, ".PP")
				para = true
			}
			out = append(out, line(inline(t)))
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// optionList renders flags as a tagged list.
func optionList(flags []Flag) string {
	var b strings.Builder
	for _, f := range flags {
		b.WriteString(".TP\n")
		if f.Arg == "" {
			fmt.Fprintf(&b, `\fB\-%s\fR`+"\n", escape(f.Name))
		} else {
			fmt.Fprintf(&b, `\fB\-%s\fR \fI%s\fR`+"\n", escape(f.Name), escape(f.Arg))
		}
		b.WriteString(line(escape(f.Usage)) + "\n")
	}
	return b.String()
}

// commandList renders a "commands:" block as a tagged list.
func commandList(cmds []Command) string {
	var b strings.Builder
	for _, c := range cmds {
		b.WriteString(".TP\n" + line(`\fB`+escape(c.Synopsis)+`\fR`) + "\n" + line(escape(c.Usage)) + "\n")
	}
	return b.String()
}
