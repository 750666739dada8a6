package record

import (
	"bytes"
	"testing"
)

// encodable returns r as AppendJSON can express it: fields that are not
// encoded (DownstreamLocalPort, MalformedCookies, value hashes) and cookie
// attributes only written for Set-Cookie are cleared, the time is cut to
// microseconds in UTC, and empty slices are nil.

// printableASCII is held to its byte-wise definition at every position of
// the eight-byte words and of the tail.
func TestPrintableASCII(t *testing.T) {
	for n := range 20 {
		for pos := range n {
			for b := range 256 {
				s := bytes.Repeat([]byte{'a'}, n)
				s[pos] = byte(b)
				if got, want := printableASCII(s), b >= 0x20 && b < 0x80; got != want {
					t.Fatalf("printableASCII(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}
