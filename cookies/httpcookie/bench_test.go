package httpcookie

import (
	"net/http"
	"testing"
)

// benchRequest is a browser's Cookie header with 10 cookies (issue 5's
// per-record benchmark): session, CSRF, analytics, consent and preferences.

// benchRequest is a browser's Cookie header with 10 cookies (issue 5's
// per-record benchmark): session, CSRF, analytics, consent and preferences.
const benchRequest = "sid=31d4d96e407aad42b7c1e0f9a8d7c6b5; csrftoken=YWJjZGVmZ2hpamtsbW5vcHFy; " +
	"_ga=GA1.2.1234567890.1732527600; _gid=GA1.2.987654321.1732527600; " +
	"consent=necessary%2Canalytics; lang=en-US; theme=dark; " +
	"cart=550e8400-e29b-41d4-a716-446655440000; ab=variant-b; visits=17"

// benchResponse is three Set-Cookie headers as Envoy folds them.
const benchResponse = "sid=31d4d96e407aad42b7c1e0f9a8d7c6b5; Path=/; Secure; HttpOnly; SameSite=Lax, " +
	"_ga=GA1.2.1234567890.1732527600; Domain=.example.com; Path=/; Expires=Fri, 26 Nov 2027 10:00:00 GMT, " +
	"consent=necessary%2Canalytics; Path=/; Max-Age=31536000; SameSite=None; Secure"

// The net_http sub-benchmarks are the comparison the parsers must beat: the
// same headers through net/http alone, without splitting, classification or
// hashing, and with its allocations.
func BenchmarkParseRequest(b *testing.B) {
	b.Run("cookies", func(b *testing.B) {
		var dst []Observation
		var bad []Malformed
		b.ReportAllocs()
		for b.Loop() {
			dst, bad = ParseRequest(benchRequest, dst[:0], bad[:0])
		}
	})
	b.Run("net_http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = http.ParseCookie(benchRequest)
		}
	})
}

func BenchmarkParseResponse(b *testing.B) {
	b.Run("cookies", func(b *testing.B) {
		var dst []Observation
		var bad []Malformed
		b.ReportAllocs()
		for b.Loop() {
			dst, bad = ParseResponse(benchResponse, entryTime, dst[:0], bad[:0])
		}
	})
	b.Run("net_http", func(b *testing.B) {
		lines := SplitSetCookie(benchResponse)
		b.ReportAllocs()
		for b.Loop() {
			for _, l := range lines {
				_, _ = http.ParseSetCookie(l)
			}
		}
	})
}

// BenchmarkParseRecord is the per-record parsing cost of issue 5: a request
// with 10 cookies and 3 Set-Cookie headers (target < 2 µs).
func BenchmarkParseRecord(b *testing.B) {
	var dst []Observation
	var bad []Malformed
	b.ReportAllocs()
	for b.Loop() {
		dst, bad = ParseRequest(benchRequest, dst[:0], bad[:0])
		dst, bad = ParseResponse(benchResponse, entryTime, dst, bad)
	}
}

// BenchmarkParseRequestMalformed measures the slow path: one bad piece makes
// the whole header go piece by piece.
func BenchmarkParseRequestMalformed(b *testing.B) {
	header := benchRequest + "; broken"
	var dst []Observation
	var bad []Malformed
	b.ReportAllocs()
	for b.Loop() {
		dst, bad = ParseRequest(header, dst[:0], bad[:0])
	}
}
