package supervisor

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// nonIntegers finds numbers with a fraction or an exponent written for integer fields.
// yaml.v3 truncates a float into an int without a word (priority: 0.5 becomes 0, which
// then reads as "unset, use the default"), so the node tree is walked against the Go
// types before decoding and every such value is refused, located.
func nonIntegers(file string, root *yaml.Node) error {
	var errs []error
	walkInts(root, reflect.TypeFor[Config](), "", func(n *yaml.Node, path string) {
		errs = append(errs, &ConfigError{File: file, Line: n.Line, Field: path, Msg: fmt.Sprintf("%s is not an integer", n.Value)})
	})
	return errors.Join(errs...)
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

func walkInts(n *yaml.Node, t reflect.Type, path string, bad func(*yaml.Node, string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// A type that decodes itself (a VIP) checks its own values.
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walkInts(c, t, path, bad)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			switch t.Kind() {
			case reflect.Struct:
				if f, ok := yamlField(t, k.Value); ok {
					walkInts(v, f.Type, p, bad)
				}
			case reflect.Map:
				walkInts(v, t.Elem(), p, bad)
			}
		}
	case yaml.SequenceNode:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, c := range n.Content {
				walkInts(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), bad)
			}
		}
	case yaml.ScalarNode:
		// Durations are already strict: yaml.v3 refuses a bare number for them.
		if isIntKind(t.Kind()) && t != durationType && n.ShortTag() == "!!float" {
			bad(n, path)
		}
	case yaml.AliasNode:
		// Not followed (an alias may point at its own ancestor); what it points at was
		// walked where the anchor is.
	}
}

// yamlField finds the field of struct t that key decodes into.
func yamlField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func isIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// maxNameLen bounds instance and sync group names, which go into interface-sized log
// columns, metric labels and hook arguments.
const maxNameLen = 64

// badName says what is wrong with an instance or sync group name, or "" when nothing is.
// Names reach notify hooks' argv, logs and the status table: a newline or NUL there
// breaks hooks and forges output. An empty name is vrrp's to report.
func badName(name string) string {
	if !utf8.ValidString(name) {
		return fmt.Sprintf("%q is not valid UTF-8", name)
	}
	if n := utf8.RuneCountInString(name); n > maxNameLen {
		return fmt.Sprintf("%d characters: at most %d", n, maxNameLen)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Sprintf("%q: only printable characters, no spaces or control characters (%U)", name, r)
		}
	}
	return ""
}

// checkNames applies badName to every instance and sync group name.
func (c *Config) checkNames(bad func(path, format string, args ...any)) {
	for i, ic := range c.VRRP.Instances {
		if msg := badName(ic.Name); msg != "" {
			bad(fmt.Sprintf("vrrp.instances[%d].name", i), "%s", msg)
		}
	}
	for i, gc := range c.VRRP.SyncGroups {
		if msg := badName(gc.Name); msg != "" {
			bad(fmt.Sprintf("vrrp.sync_groups[%d].name", i), "%s", msg)
		}
	}
}
