package pii

import (
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestRandomSecrets measures how many random secrets of the usual encodings
// and sizes the token rule catches. SPEC's rule asks for letters and
// digits, so a secret without a digit escapes by definition; the
// looks-random refinement that keeps slugs must not miss anything more.
func TestRandomSecrets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range []struct {
		name   string
		bytes  int
		encode func([]byte) string
	}{
		{"hex 16 bytes", 16, hex.EncodeToString},
		{"hex 20 bytes", 20, hex.EncodeToString},
		{"hex 32 bytes", 32, hex.EncodeToString},
		{"base64url 24 bytes", 24, base64.RawURLEncoding.EncodeToString},
		{"base64url 32 bytes", 32, base64.RawURLEncoding.EncodeToString},
		{"base64url 64 bytes", 64, base64.RawURLEncoding.EncodeToString},
	} {
		const n = 20000
		masked, noDigit := 0, 0
		b := make([]byte, f.bytes)
		for range n {
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			s := f.encode(b)
			var c Counts
			Path("/t/"+s, &c)
			if c[Token] == 1 {
				masked++
			} else if classesOf(s)&cDigit == 0 {
				noDigit++
			}
		}
		t.Logf("%s: %v masked; of the rest, %d have no digit", f.name, rate{masked, n}, noDigit)
		if missed := n - masked; missed != noDigit {
			t.Errorf("%s: %d secrets with a digit not masked", f.name, missed-noDigit)
		}
	}
}
