package pii

import (
	"strings"
	"testing"
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

// One op is one record's path. The floor sub-benchmark is the least any
// masker must do, reading every byte of the path once; the figures to
// compare are ns/op against it and allocs/op.
func BenchmarkPath(b *testing.B) {
	for _, bc := range []struct {
		name  string
		paths []string
	}{{"clean", benchClean}, {"pii", benchPII}, {"mix", benchMix}} {
		b.Run(bc.name, func(b *testing.B) {
			var c Counts
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				Path(bc.paths[i%len(bc.paths)], &c)
				i++
			}
		})
		b.Run(bc.name+"/floor", func(b *testing.B) {
			b.ReportAllocs()
			i, n := 0, 0
			for b.Loop() {
				n += strings.Count(bc.paths[i%len(bc.paths)], "/")
				i++
			}
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
// and its user agent, with realistic traffic.
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
