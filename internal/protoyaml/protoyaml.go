// Package protoyaml renders protobuf messages as YAML that is the same
// bytes on every run: protojson's output is deliberately unstable, so
// messages go through their canonical JSON form into plain maps, slices
// and scalars, and the YAML encoder sorts the keys. Integers stay
// integers (a port prints as 18000, not 1.8e+04).
//
// It serves the generators (Envoy and Istio config); it never parses
// YAML back into messages.
package protoyaml

import (
	"bytes"
	"encoding/json"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Plain returns m as maps, slices and scalars, marshalled with opts:
// UseProtoNames for Envoy's snake_case YAML, the zero value for the
// camelCase JSON names Kubernetes resources (Istio's) use.
func Plain(m proto.Message, opts protojson.MarshalOptions) (any, error) {
	j, err := opts.Marshal(m)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = numbers(x)
		}
	case []any:
		for i, x := range t {
			t[i] = numbers(x)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

// Encode renders header (comment lines, each ending in a newline) then v
// as YAML with two-space indentation.
func Encode(header string, v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
