package haproxy

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
)

// lineIndex finds the line of a directive, since the parser keeps none.
type lineIndex []indexedLine

type indexedLine struct {
	section, name string // the enclosing section, e.g. "frontend", "main"
	header        bool   // the section's own line
	words         []string
}

var sectionKeywords = []string{"global", "defaults", "frontend", "backend", "listen", "peers", "resolvers",
	"userlist", "mailers", "program", "http-errors", "ring", "cache", "log-forward", "fcgi-app", "crt-store", "traces"}

func indexLines(data []byte) lineIndex {
	var idx lineIndex
	sec, name := "", ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		w := strings.Fields(line)
		if len(w) > 0 && slices.Contains(sectionKeywords, w[0]) {
			sec, name = w[0], ""
			if len(w) > 1 && w[1] != "from" {
				name = w[1]
			}
			idx = append(idx, indexedLine{section: sec, name: name, header: true})
			continue
		}
		idx = append(idx, indexedLine{section: sec, name: name, words: w})
	}
	return idx
}

// find returns the 1-based line of the first directive in section sec/name that starts
// with words, or the section's own line, or 0.
func (idx lineIndex) find(sec, name string, words ...string) int {
	if all := idx.findAll(sec, name, words...); len(all) > 0 {
		return all[0]
	}
	return idx.section(sec, name)
}

// findAll returns the 1-based lines of every directive in section sec/name that starts
// with words.
func (idx lineIndex) findAll(sec, name string, words ...string) []int {
	var out []int
	for i, l := range idx {
		if l.section == sec && !l.header && (name == "" || l.name == name) && len(l.words) >= len(words) && slices.Equal(l.words[:len(words)], words) {
			out = append(out, i+1)
		}
	}
	return out
}

// section returns the 1-based line of a section header, or 0.
func (idx lineIndex) section(sec, name string) int {
	for i, l := range idx {
		if l.section == sec && l.header && (name == "" || l.name == name) {
			return i + 1
		}
	}
	return 0
}
