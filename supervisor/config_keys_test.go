package supervisor

import (
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// configKey is one key of halo.yaml, found by walking the Config type.
type configKey struct {
	// path is the full key, list elements written [] ("vrrp.instances[].priority").
	path string
	typ  reflect.Type
	// index leads from Config to the field (through the first element of each list).
	index []fieldStep
}

type fieldStep struct {
	field int
	elem  bool // the field is a list: step into its first element
}

// configKeys lists every leaf key of halo.yaml: scalars, lists of scalars, maps, and
// types that decode themselves (a VIP).
func configKeys() []configKey {
	var out []configKey
	var walk func(t reflect.Type, prefix string, steps []fieldStep)
	walk = func(t reflect.Type, prefix string, steps []fieldStep) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			path := prefix + name
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			st := append(append([]fieldStep(nil), steps...), fieldStep{field: i})
			decodesItself := reflect.PointerTo(ft).Implements(reflect.TypeFor[yaml.Unmarshaler]())
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() && !decodesItself:
				walk(ft, path+".", st)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct &&
				!reflect.PointerTo(ft.Elem()).Implements(reflect.TypeFor[yaml.Unmarshaler]()):
				st[len(st)-1].elem = true
				walk(ft.Elem(), path+"[].", st)
			default:
				out = append(out, configKey{path: path, typ: f.Type, index: st})
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// valueAt returns the value of key in c, or false when a list on the way is empty or a
// pointer nil.
func (k configKey) valueAt(c *Config) (reflect.Value, bool) {
	v := reflect.ValueOf(c).Elem()
	for _, s := range k.index {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return v, false
			}
			v = v.Elem()
		}
		v = v.Field(s.field)
		if s.elem {
			for v.Kind() == reflect.Pointer {
				if v.IsNil() {
					return v, false
				}
				v = v.Elem()
			}
			if v.Len() == 0 {
				return v, false
			}
			v = v.Index(0)
		}
	}
	return v, true
}

func isDuration(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t == reflect.TypeFor[time.Duration]()
}

func isNumber(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return isIntKind(t.Kind()) || t.Kind() == reflect.Float64
}
