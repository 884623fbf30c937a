package main

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/halo-lb/halo/supervisor"
)

// yamlKeys lists the dotted key paths of a config type, e.g. "haproxy.check.interval",
// "vrrp.instances.garp.delay"; slices, maps and pointers are looked through; a duration or a
// type that is not a struct ends a path.
func yamlKeys(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Duration(0)) {
		*out = append(*out, prefix)
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		yamlKeys(f.Type, p, out)
	}
}

var rowKey = regexp.MustCompile("`([a-z_.\\[\\]]+)`")

// TestConfigReferenceCoversEveryKey: halo.yaml(5) is configs/README.md, so every key the
// config types accept must have a row there: its own (`check.interval`, by any dotted
// suffix of its path), or its parent's row naming it (`track_haproxy` explains `weight`).
func TestConfigReferenceCoversEveryKey(t *testing.T) {
	b, err := os.ReadFile("../../../configs/README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // key → the whole row
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "| `") {
			continue
		}
		first := cells(l)[0]
		var last string
		for _, m := range rowKey.FindAllStringSubmatch(first, -1) {
			k := strings.ReplaceAll(m[1], "[]", "")      // `neighbors[].port`: the key path has no brackets
			if strings.HasPrefix(k, ".") && last != "" { // `notify.master`, `.backup`
				k = last[:strings.LastIndex(last, ".")] + k
			}
			rows[k], last = l, k
		}
	}
	var keys []string
	yamlKeys(reflect.TypeOf(supervisor.Config{}), "", &keys)
	if len(keys) < 30 {
		t.Fatalf("only %d keys found in supervisor.Config: %v", len(keys), keys)
	}
	documented := func(path string) bool {
		parts := strings.Split(path, ".")
		for i := range parts {
			if _, ok := rows[strings.Join(parts[i:], ".")]; ok {
				return true
			}
		}
		return false
	}
	for _, k := range keys {
		if documented(k) {
			continue
		}
		parts := strings.Split(k, ".")
		ok := false
		for n := len(parts) - 1; n > 0 && !ok; n-- {
			for i := range n {
				if row, found := rows[strings.Join(parts[i:n], ".")]; found && strings.Contains(row, parts[len(parts)-1]) {
					ok = true
				}
			}
		}
		if !ok {
			t.Errorf("halo.yaml key %s has no row in configs/README.md (nor a mention in its parent's)", k)
		}
	}
}
