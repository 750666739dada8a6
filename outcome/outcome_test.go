package outcome

import "testing"

func TestRoundTrip(t *testing.T) {
	for _, o := range All() {
		got, ok := Parse(o.String())
		if !ok || got != o {
			t.Errorf("Parse(%q) = %v, %v; want %v, true", o.String(), got, ok, o)
		}
		if got, ok := ParseBytes([]byte(o.String())); !ok || got != o {
			t.Errorf("ParseBytes(%q) = %v, %v; want %v, true", o.String(), got, ok, o)
		}
	}
	for _, s := range []string{"", "Good", "unknown", "excluded "} {
		if o, ok := Parse(s); ok {
			t.Errorf("Parse(%q) = %v, true; want false", s, o)
		}
		if o, ok := ParseBytes([]byte(s)); ok {
			t.Errorf("ParseBytes(%q) = %v, true; want false", s, o)
		}
	}
	if Unknown.String() != "" || Outcome(200).String() != "" {
		t.Errorf("Unknown and out-of-range outcomes must print as empty")
	}
	want := []string{"good", "bad", "excluded"}
	for i, o := range All() {
		if o.String() != want[i] {
			t.Errorf("All()[%d] = %q, want %q", i, o, want[i])
		}
	}
}

func TestParseBytesDoesNotAllocate(t *testing.T) {
	b := []byte("excluded")
	if n := testing.AllocsPerRun(100, func() { ParseBytes(b) }); n != 0 {
		t.Errorf("ParseBytes allocates %v times", n)
	}
}
