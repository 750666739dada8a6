package record

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var trickyStrings = []string{
	"",
	"plain ascii",
	`quo"te and back\slash`,
	"\n\r\t\b\f",
	"\x00\x01\x1f\x7f",
	"<script>&amp;</script>",
	"line\u2028para\u2029end",
	"\xff",
	"a\xffb\xfe",
	"\xed\xa0\x80",     // a UTF-16 surrogate in UTF-8
	"\xef\xbf\xbd",     // a real U+FFFD
	"\xc0\xaf",         // overlong '/'
	"\xe2\x82",         // truncated
	"\xf4\x90\x80\x80", // beyond U+10FFFF
	"日本語 ✓ 😀 \U0010FFFF",
	"\u00e9\u0301", // combining accent
	strings.Repeat("\\\"", 100),
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range trickyStrings {
		checkJSONString(t, s)
	}
}

// checkJSONString holds appendJSONString to encoding/json: the same string
// comes back, invalid UTF-8 as U+FFFD; U+2028/U+2029 and controls are
// escaped, so JavaScript consumers and line-oriented tools read it too.
func checkJSONString(t *testing.T, s string) {
	t.Helper()
	b := appendJSONString([]byte("x"), s)
	if b[0] != 'x' {
		t.Fatalf("appendJSONString(%q) did not append", s)
	}
	b = b[1:]
	if !json.Valid(b) {
		t.Fatalf("appendJSONString(%q) = %s, not valid JSON", s, b)
	}
	var got string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("appendJSONString(%q) = %s: %v", s, b, err)
	}
	ref, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var want string
	if err := json.Unmarshal(ref, &want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("appendJSONString(%q) decodes to %q, encoding/json to %q", s, got, want)
	}
	if !utf8.Valid(b) {
		t.Errorf("appendJSONString(%q) = %q is not UTF-8", s, b)
	}
	for _, bad := range []string{"\u2028", "\u2029", "\n", "\r", "\x00", "\x1f"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("appendJSONString(%q) = %q contains a raw %q", s, b, bad)
		}
	}
}
