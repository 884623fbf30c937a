package keepalived

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Pos locates a directive: the file as the importer names it and the 1-based line.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Node is one keepalived directive: a keyword, its words and, when a '{' followed it, the
// directives of its block. Value blocks such as virtual_ipaddress hold one child per line
// (or per piece of a line between braces) whose Name is the first word of that line.
type Node struct {
	Pos  Pos
	Name string
	// Args are the words after the keyword, split as keepalived splits them: at white
	// space, a double-quoted string being one word without its quotes.
	Args []string
	// Raw is the directive's text after comment removal, keyword included. keepalived
	// splits script and notify commands again from it with shell-like quoting
	// (alloc_strvec_quoted_escaped), which Args cannot reproduce.
	Raw string
	// HasBlock reports a '{' after the directive; Block holds what was inside.
	HasBlock bool
	Block    []*Node
	// Skipped are the conditional lines of the block that were skipped because no config
	// id was given (ParseFor).
	Skipped []Conditional
}

// Words returns the keyword followed by its arguments: for the lines of a value block the
// whole line.
func (n *Node) Words() []string { return append([]string{n.Name}, n.Args...) }

// ParseError is a problem that stops the parse, located at its file and line.
type ParseError struct {
	Pos Pos
	Msg string
}

func (e *ParseError) Error() string { return e.Pos.String() + ": " + e.Msg }

// Limits that keep a hostile or looping configuration from exhausting the importer;
// keepalived has fixed buffers of the same order (MAXBUF, include recursion by fd limit).
const (
	maxIncludeDepth = 16
	maxFiles        = 1024
	maxLineLen      = 64 * 1024
)

// parser reads one configuration and the files it includes. File access goes through
// functions so that the fuzz target parses without touching the disk.
type parser struct {
	readFile func(string) ([]byte, error)
	glob     func(string) ([]string, error)
	// base is the directory file names are shown relative to.
	base  string
	files int
	warn  func(Pos, Kind, string)
	defs  map[string]string
	// stack holds the open blocks; stack[0] is the root.
	stack []*Node
	// last is the directive a '{' would open: the newest one at the current level, not
	// yet given a block, with nothing but line breaks after it.
	last *Node
	// configID is keepalived's config id (-i, by default the host name's first label),
	// which "@ID" lines are matched against; haveID is false when it is unknown, and
	// then every conditional line is skipped and recorded in its block's Skipped.
	configID string
	haveID   bool
	// applied and other count the conditional lines applied and skipped with a config id.
	applied, other int
	firstCond      Pos
}

// Conditional is a line that applies to some nodes only ("@ID text" or "@^ID text") and was
// skipped because the config id was not given.
type Conditional struct {
	Pos Pos
	// ID is the config id, Not whether the line is for every node but that one ("@^").
	ID  string
	Not bool
	// Words are the line's words after the condition.
	Words []string
}

// Parse reads the keepalived configuration at path, with its includes, into a list of
// top-level directives. Problems that keepalived itself would only log (an include that
// matches nothing, a line for another node's config id) come back as warnings; a
// malformed structure (unbalanced braces, an unterminated quote, an unreadable file) is a
// *ParseError.
func Parse(path string) ([]*Node, []Warning, error) {
	return ParseFor(path, "", false)
}

// ParseFor is Parse for the node whose keepalived config id is id (keepalived -i, by
// default the first label of its host name): a line "@id ..." applies, "@other ..." does
// not, "@^id ..." applies everywhere but on id, as keepalived's read_line decides. When
// haveID is false no conditional line applies: each is warned about and recorded in the
// Skipped of its block.
func ParseFor(path, id string, haveID bool) ([]*Node, []Warning, error) {
	p := &parser{readFile: os.ReadFile, glob: filepath.Glob, base: filepath.Dir(path), configID: id, haveID: haveID}
	return p.run(path, nil)
}

// run parses the file at path, or data as if read from path when data is not nil.
func (p *parser) run(path string, data []byte) ([]*Node, []Warning, error) {
	var warns []Warning
	p.warn = func(pos Pos, k Kind, msg string) { warns = append(warns, Warning{Pos: pos, Kind: k, Msg: msg}) }
	p.defs = map[string]string{}
	root := &Node{HasBlock: true}
	p.stack = []*Node{root}
	var err error
	if data == nil {
		err = p.file(path, 0, Pos{})
	} else {
		err = p.text(path, data, 0)
	}
	if err != nil {
		return nil, warns, err
	}
	if p.haveID && p.applied+p.other > 0 {
		p.warn(p.firstCond, Note, fmt.Sprintf("config id %q (-host): first conditional line here; %d conditional line(s) applied, %d for other config ids skipped, as keepalived -i %s does", p.configID, p.applied, p.other, p.configID))
	}
	if len(p.stack) > 1 {
		n := p.stack[len(p.stack)-1]
		return nil, warns, &ParseError{Pos: n.Pos, Msg: fmt.Sprintf("block %q opened here is never closed: a '}' is missing", n.Name)}
	}
	return root.Block, warns, nil
}

// show names a file the way comments and messages print it: relative to the main file's
// directory when it lies below it, as given otherwise.
func (p *parser) show(path string) string {
	if p.base == "" {
		return path
	}
	if rel, err := filepath.Rel(p.base, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

func (p *parser) file(path string, depth int, from Pos) error {
	p.files++
	if p.files > maxFiles {
		return &ParseError{Pos: from, Msg: fmt.Sprintf("more than %d configuration files: is an include looping?", maxFiles)}
	}
	data, err := p.readFile(path)
	if err != nil {
		if from.File == "" {
			return fmt.Errorf("keepalived: %w", err)
		}
		return &ParseError{Pos: from, Msg: fmt.Sprintf("include: %v", err)}
	}
	return p.text(path, data, depth)
}

func (p *parser) text(path string, data []byte, depth int) error {
	name := p.show(path)
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		pos := Pos{File: name, Line: i + 1}
		if len(line) > maxLineLen {
			return &ParseError{Pos: pos, Msg: fmt.Sprintf("line longer than %d bytes", maxLineLen)}
		}
		line = strings.TrimRight(line, "\r")
		text, err := decomment(line)
		if err != nil {
			return &ParseError{Pos: pos, Msg: err.Error()}
		}
		if text == "" {
			continue
		}
		if text, err = p.expand(text, pos); err != nil {
			return err
		}
		if text == "" {
			continue
		}
		if w := splitWords(text); len(w) == 2 && w[0] == "include" {
			if err := p.include(path, w[1], depth, pos); err != nil {
				return err
			}
			continue
		}
		for _, piece := range splitBraces(text) {
			if err := p.piece(piece, pos); err != nil {
				return err
			}
		}
	}
	return nil
}

// expand handles the line-level features of keepalived's read_line: "@id" lines, which
// apply only to the node whose config id matches, and $NAME=value definitions.
func (p *parser) expand(text string, pos Pos) (string, error) {
	for strings.HasPrefix(text, "@") {
		var apply bool
		if text, apply = p.conditional(text, pos); !apply {
			return "", nil
		}
	}
	if strings.HasPrefix(text, "~SEQ") {
		return "", &ParseError{Pos: pos, Msg: "~SEQ sequences are not supported by the importer: expand them by hand (keepalived -d dumps the expanded configuration)"}
	}
	if name, value, ok := definition(text); ok {
		if strings.HasSuffix(value, `\`) {
			return "", &ParseError{Pos: pos, Msg: fmt.Sprintf("multi-line definition $%s is not supported by the importer: expand it by hand", name)}
		}
		p.defs[name] = value
		return "", nil
	}
	if len(p.defs) == 0 || !strings.Contains(text, "$") {
		return text, nil
	}
	// One pass, as the definitions users write are plain words; a definition used inside
	// another is expanded when it was itself defined after substitution.
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if text[i] != '$' {
			b.WriteByte(text[i])
			continue
		}
		rest := text[i+1:]
		braced := strings.HasPrefix(rest, "{")
		if braced {
			rest = rest[1:]
		}
		n := 0
		for n < len(rest) && (isAlnum(rest[n]) || rest[n] == '_') {
			n++
		}
		v, ok := p.defs[rest[:n]]
		if n == 0 || !ok || (braced && (n >= len(rest) || rest[n] != '}')) {
			b.WriteByte('$')
			continue
		}
		b.WriteString(v)
		i += n
		if braced {
			i += 2
		}
	}
	return b.String(), nil
}

// definition recognises "$NAME=value" (keepalived's check_definition).
func definition(text string) (name, value string, ok bool) {
	if len(text) < 2 || text[0] != '$' || !(isAlpha(text[1]) || text[1] == '_') {
		return "", "", false
	}
	i := 2
	for i < len(text) && (isAlnum(text[i]) || text[i] == '_') {
		i++
	}
	name = text[1:i]
	rest := strings.TrimLeft(text[i:], " \t")
	if !strings.HasPrefix(rest, "=") {
		return "", "", false
	}
	return name, strings.TrimSpace(rest[1:]), true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isAlpha(c) || c >= '0' && c <= '9' }

// include parses every file matching pattern, relative to the including file's directory
// (keepalived changes into it while reading), in glob order, directories skipped.
func (p *parser) include(from, pattern string, depth int, pos Pos) error {
	if depth >= maxIncludeDepth {
		return &ParseError{Pos: pos, Msg: fmt.Sprintf("includes nested deeper than %d: is an include looping?", maxIncludeDepth)}
	}
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(from), pattern)
	}
	matches, err := p.glob(pattern)
	if err != nil {
		return &ParseError{Pos: pos, Msg: fmt.Sprintf("include %s: %v", pattern, err)}
	}
	if len(matches) == 0 {
		p.warn(pos, Warn, fmt.Sprintf("include %s matches no file (keepalived skips it too)", pattern))
		return nil
	}
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			continue
		}
		if err := p.file(m, depth+1, pos); err != nil {
			return err
		}
	}
	return nil
}

// piece adds one piece of a line: "{", "}" or a directive.
func (p *parser) piece(text string, pos Pos) error {
	cur := p.stack[len(p.stack)-1]
	switch text {
	case "{":
		if p.last == nil {
			return &ParseError{Pos: pos, Msg: "'{' does not follow a keyword"}
		}
		p.last.HasBlock = true
		p.stack = append(p.stack, p.last)
		p.last = nil
	case "}":
		if len(p.stack) == 1 {
			return &ParseError{Pos: pos, Msg: "'}' closes no block"}
		}
		p.stack = p.stack[:len(p.stack)-1]
		p.last = nil
	default:
		w := splitWords(text)
		if len(w) == 0 {
			return nil
		}
		n := &Node{Pos: pos, Name: w[0], Args: w[1:], Raw: text}
		cur.Block = append(cur.Block, n)
		p.last = n
	}
	return nil
}

// conditional decides an "@ID rest" or "@^ID rest" line (keepalived's read_line): it
// returns rest and whether it applies. A condition with nothing after it is dropped, as
// keepalived drops it.
func (p *parser) conditional(text string, pos Pos) (string, bool) {
	not := strings.HasPrefix(text, "@^")
	id := strings.TrimPrefix(strings.TrimPrefix(text, "@"), "^")
	end := strings.IndexAny(id, " \t")
	if end < 0 {
		p.warn(pos, Warn, fmt.Sprintf("%s: a condition with no line after it: ignored, as by keepalived", text))
		return "", false
	}
	rest := strings.TrimLeft(id[end:], " \t")
	id = id[:end]
	if p.firstCond.Line == 0 {
		p.firstCond = pos
	}
	if p.haveID {
		if (id == p.configID) != not {
			p.applied++
			return rest, true
		}
		p.other++
		return "", false
	}
	cur := p.stack[len(p.stack)-1]
	cur.Skipped = append(cur.Skipped, Conditional{Pos: pos, ID: id, Not: not, Words: splitWords(rest)})
	cond, who := "@"+id, fmt.Sprintf("config id %q only", id)
	if not {
		cond, who = "@^"+id, fmt.Sprintf("every config id but %q", id)
	}
	p.warn(pos, Warn, fmt.Sprintf("%s line skipped: it applies on %s, and no -host was given (keepalived matches it against its -i config id, by default the first label of the host name): import with -host NAME for node NAME's configuration", cond, who))
	return "", false
}
