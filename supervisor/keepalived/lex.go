package keepalived

// The lexical layer of the parser: comments, braces, words and quoted commands, as
// keepalived splits its lines.

import (
	"errors"
	"fmt"
	"strings"
)

// decomment strips a comment, which starts at the first '#' or '!' outside double quotes
// (even inside a word, as in keepalived's decomment), unescapes "\#" and "\!", and trims
// the line. An unterminated double quote is an error.
func decomment(line string) (string, error) {
	var b strings.Builder
	quote := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			quote = !quote
		case c == '\\' && i+1 < len(line):
			if !quote && (line[i+1] == '#' || line[i+1] == '!') {
				i++
				b.WriteByte(line[i])
				continue
			}
			b.WriteByte(c)
			i++
			c = line[i]
		case !quote && (c == '#' || c == '!'):
			return strings.TrimSpace(b.String()), nil
		}
		b.WriteByte(c)
	}
	if quote {
		return "", errors.New(`unterminated '"'`)
	}
	return strings.TrimSpace(b.String()), nil
}

// splitBraces cuts a line at every '{' and '}' outside double quotes, each brace a piece
// of its own, the way keepalived's read_line feeds a line back in parts.
func splitBraces(text string) []string {
	var out []string
	start := 0
	quote := false
	flush := func(end int) {
		if s := strings.TrimSpace(text[start:end]); s != "" {
			out = append(out, s)
		}
	}
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '"':
			quote = !quote
		case !quote && (c == '{' || c == '}'):
			flush(i)
			out = append(out, string(c))
			start = i + 1
		}
	}
	flush(len(text))
	return out
}

// splitWords splits a directive into words as keepalived's alloc_strvec does: at white
// space and at '"', a double-quoted string being one word without its quotes.
func splitWords(s string) []string {
	var out []string
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return out
		}
		if s[i] == '"' {
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 { // decomment rejects this; keep the rest as one word regardless
				out = append(out, s[i+1:])
				return out
			}
			out = append(out, s[i+1:i+1+end])
			i += end + 2
			continue
		}
		j := i
		for j < len(s) && !isSpace(s[j]) && s[j] != '"' {
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == '\r' || c == '\n'
}

// splitCommand splits a command line the way keepalived's alloc_strvec_quoted_escaped
// does for scripts: words at white space, single and double quotes grouping (and
// removed), backslash escapes.
func splitCommand(s string) ([]string, error) {
	var out []string
	var b strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("a '\\' ends the command")
			}
			i++
			b.WriteByte(unescape(s[i]))
			inWord = true
		case quote != 0:
			b.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
			inWord = true
		case isSpace(c):
			if inWord {
				out = append(out, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("missing terminating %c", quote)
	}
	if inWord {
		out = append(out, b.String())
	}
	return out, nil
}

func unescape(c byte) byte {
	switch c {
	case 'a':
		return '\a'
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'v':
		return '\v'
	}
	return c
}
