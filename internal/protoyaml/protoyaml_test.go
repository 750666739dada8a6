package protoyaml

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestPlainAndEncode(t *testing.T) {
	msg, err := structpb.NewStruct(map[string]any{"port": 18000, "ratio": 0.5, "name": "alsd", "list": []any{"b", "a"}})
	if err != nil {
		t.Fatal(err)
	}
	var first []byte
	// protojson varies its output between runs on purpose; ours must not.
	for i := range 20 {
		v, err := Plain(msg, protojson.MarshalOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := Encode("# header\n", v)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = out
			continue
		}
		if !bytes.Equal(out, first) {
			t.Fatalf("run %d differs:\n%s\n---\n%s", i, out, first)
		}
	}
	want := "# header\nlist:\n  - b\n  - a\nname: alsd\nport: 18000\nratio: 0.5\n"
	if string(first) != want {
		t.Errorf("got\n%s\nwant\n%s", first, want)
	}
}

// A message whose JSON form is a bare number (a wrapper) stays an integer.
func TestPlainScalar(t *testing.T) {
	v, err := Plain(wrapperspb.UInt32(7), protojson.MarshalOptions{UseProtoNames: true})
	if err != nil {
		t.Fatal(err)
	}
	if v != int64(7) {
		t.Errorf("got %#v, want int64 7", v)
	}
}
