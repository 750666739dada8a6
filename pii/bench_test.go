package pii

import (
	"strings"
	"testing"
	"time"
)

// benchClean are paths as a shop mesh serves them: API calls with numeric
// ids and UUIDs, assets with content hashes, gRPC methods, slugs, health
// checks and an encoded search term.
var benchClean = []string{
	"/api/v1/pins", "/api/v1/users/42", "/static/app.3f9a2b1c9d0e.js", "/login",
	"/orders/550e8400-e29b-41d4-a716-446655440000/items", "/shop.Catalog/GetProduct",
	"/products/nike-air-max-270-react-black-white-2023", "/v1/orders/123456789012/invoice",
	"/search/caf%C3%A9", "/grpc.health.v1.Health/Check", "/healthz",
	"/static/js/main.3f9a2b1c9d0e4f5a6b7c8d9e0f1a2b3c.chunk.js",
}

// benchPII are paths of SPEC §2's kinds, one or two units each.
var benchPII = []string{
	"/users/jane.doe@example.com/orders", "/users/jane.doe%40example.com/orders",
	"/cards/4111111111111111/verify", "/reset/" + testJWT,
	"/invite/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c",
	"/u/jane@example.com/cards/4111-1111-1111-1111",
}

// benchMix is realistic traffic: one path in 50 carries personal data.
var benchMix = func() []string {
	var mix []string
	for i := range 50 * len(benchPII) {
		if i%50 == 0 {
			mix = append(mix, benchPII[i/50])
		} else {
			mix = append(mix, benchClean[i%len(benchClean)])
		}
	}
	return mix
}()

var benchUAs = []string{
	"Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0", "curl/8.5.0", "grpc-go/1.70.0",
	"okhttp/4.12.0", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
}

// One op masks every path of a set once; ns/path is the figure per
// record. The floor is the least any masker must do, reading every byte
// of the path once (strings.Count); the two are timed in alternation so
// that load from elsewhere on the machine affects both alike, and
// x_floor is their ratio.
func BenchmarkPath(b *testing.B) {
	for _, bc := range []struct {
		name  string
		paths []string
	}{{"clean", benchClean}, {"pii", benchPII}, {"mix", benchMix}} {
		b.Run(bc.name, func(b *testing.B) {
			var c Counts
			var masked, floor time.Duration
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				for _, p := range bc.paths {
					n += strings.Count(p, "/")
				}
				t1 := time.Now()
				for _, p := range bc.paths {
					Path(p, &c)
				}
				masked += time.Since(t1)
				floor += t1.Sub(t0)
			}
			per := float64(b.N * len(bc.paths))
			b.ReportMetric(float64(masked.Nanoseconds())/per, "ns/path")
			b.ReportMetric(float64(floor.Nanoseconds())/per, "floor-ns/path")
			b.ReportMetric(float64(masked)/float64(floor), "x_floor")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/op")
		})
	}
}

func BenchmarkUserAgent(b *testing.B) {
	for _, bc := range []struct {
		name string
		uas  []string
	}{{"clean", benchUAs}, {"pii", []string{"Mozilla/5.0 (compatible; FooBot/1.0; +mailto:ops@example.com)"}}} {
		b.Run(bc.name, func(b *testing.B) {
			var c Counts
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				UserAgent(bc.uas[i%len(bc.uas)], &c)
				i++
			}
		})
	}
}

// BenchmarkRecord is the whole cost a receiver adds per record: its path
// and its user agent, with realistic traffic (benchMix).
func BenchmarkRecord(b *testing.B) {
	var c Counts
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		Path(benchMix[i%len(benchMix)], &c)
		UserAgent(benchUAs[i%len(benchUAs)], &c)
		i++
	}
}
