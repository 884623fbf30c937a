package k8sschema

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// kinds are the objects known here, by apiVersion and kind.
var kinds = map[TypeMeta]func() any{
	{APIVersion: "v1", Kind: "Namespace"}:      func() any { return new(Namespace) },
	{APIVersion: "v1", Kind: "ConfigMap"}:      func() any { return new(ConfigMap) },
	{APIVersion: "apps/v1", Kind: "DaemonSet"}: func() any { return new(DaemonSet) },
}

// Decode reads every document of a manifest file: each one's apiVersion and kind must be
// known, and every field it writes must be in the schema with the right type. The
// objects come back in file order as *Namespace, *ConfigMap or *DaemonSet; errors name
// the file and the line.
func Decode(file string, data []byte) ([]any, error) {
	// First pass: what each document is. Second pass, over the same bytes so that lines
	// stay the file's: each document into its type, unknown fields refused.
	var metas []TypeMeta
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		var tm TypeMeta
		if err := n.Decode(&tm); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n.Line, err)
		}
		if _, ok := kinds[tm]; !ok {
			return nil, fmt.Errorf("%s:%d: apiVersion %q kind %q: not in this schema", file, n.Line, tm.APIVersion, tm.Kind)
		}
		metas = append(metas, tm)
	}
	if len(metas) == 0 {
		return nil, fmt.Errorf("%s: no object", file)
	}
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	out := make([]any, 0, len(metas))
	for _, tm := range metas {
		v := kinds[tm]()
		if err := strict.Decode(v); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", file, tm.Kind, err)
		}
		out = append(out, v)
	}
	return out, nil
}
