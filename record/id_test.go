package record

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	for _, tt := range []struct {
		in       string
		ingester string
		seq      uint64
		bad      bool
	}{
		{in: "a1b2c3:1", ingester: "a1b2c3", seq: 1},
		{in: "ing.est_er-7:18446744073709551615", ingester: "ing.est_er-7", seq: 1<<64 - 1},
		{in: "x:42", ingester: "x", seq: 42},
		{in: "", bad: true},
		{in: "noseq", bad: true},
		{in: ":1", bad: true},
		{in: "a:", bad: true},
		{in: "a:0", bad: true},                    // sequences start at 1
		{in: "a:007", bad: true},                  // one spelling per sequence
		{in: "a:-1", bad: true},                   // no sign
		{in: "a:1x", bad: true},                   // digits only
		{in: "a:b:1", bad: true},                  // a colon in the ingester
		{in: "a b:1", bad: true},                  // a space in the ingester
		{in: "a:18446744073709551616", bad: true}, // overflows
		{in: strings.Repeat("a", MaxIngesterLen+1) + ":1", bad: true},
	} {
		ing, seq, err := ParseID([]byte(tt.in))
		if tt.bad {
			if err == nil || !errors.Is(err, ErrBadID) {
				t.Errorf("ParseID(%q) = %q, %d, %v; want an ErrBadID", tt.in, ing, seq, err)
			}
			continue
		}
		if err != nil || string(ing) != tt.ingester || seq != tt.seq {
			t.Errorf("ParseID(%q) = %q, %d, %v; want %q, %d", tt.in, ing, seq, err, tt.ingester, tt.seq)
		}
		if got := (ID{Ingester: tt.ingester, Seq: tt.seq}).String(); got != tt.in {
			t.Errorf("ID.String() = %q, want %q", got, tt.in)
		}
	}
}

func TestCheckIngester(t *testing.T) {
	for _, ok := range []string{"a", "0f3e9a7c21d84b5e", "ingester-1.eu_west", strings.Repeat("z", MaxIngesterLen)} {
		if err := CheckIngester(ok); err != nil {
			t.Errorf("CheckIngester(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a:b", "a b", "é", strings.Repeat("z", MaxIngesterLen+1)} {
		if err := CheckIngester(bad); err == nil {
			t.Errorf("CheckIngester(%q) accepted it", bad)
		}
	}
}

// FuzzParseID holds ParseID to the grammar, checked independently: what it
// accepts prints back byte for byte, and strconv agrees on the sequence.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"a:1", "abc:18446744073709551615", "a:0", ":", "a:b:1", "a:01", "a:99999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		ing, seq, err := ParseID(v)
		colon := strings.LastIndexByte(string(v), ':')
		if err != nil {
			if colon > 0 && CheckIngester(string(v[:colon])) == nil {
				if n, perr := strconv.ParseUint(string(v[colon+1:]), 10, 64); perr == nil && n > 0 && strconv.FormatUint(n, 10) == string(v[colon+1:]) {
					t.Fatalf("ParseID(%q) rejected a valid id: %v", v, err)
				}
			}
			return
		}
		if CheckIngester(string(ing)) != nil {
			t.Fatalf("ParseID(%q) accepted ingester %q", v, ing)
		}
		if got := (ID{Ingester: string(ing), Seq: seq}).String(); got != string(v) {
			t.Fatalf("ParseID(%q) = %q, %d, which prints as %q", v, ing, seq, got)
		}
	})
}
