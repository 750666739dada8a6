package cookies

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/meshtel/meshtel/cookies/httpcookie"
)

// entryTime is the time every benchmark entry was logged.
var entryTime = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

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

func benchObservations(b *testing.B) ([]httpcookie.Observation, []httpcookie.Malformed) {
	obs, bad := httpcookie.ParseRequest(benchRequest, nil, nil)
	obs, bad = httpcookie.ParseResponse(benchResponse, entryTime, obs, bad)
	if len(obs) != 13 {
		b.Fatalf("parsed %d cookies", len(obs))
	}
	return obs, bad
}

// BenchmarkObserve is the inventory's per-record cost for the record of
// BenchmarkParseRecord, steady state (all cookies known).
func BenchmarkObserve(b *testing.B) {
	obs, bad := benchObservations(b)
	inv, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			inv.Observe("my_website", "www.example.com", entryTime, obs, bad)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				inv.Observe("my_website", "www.example.com", entryTime, obs, bad)
			}
		})
	})
}

// BenchmarkParseAndObserve is the whole cookie cost of one access-log
// record: both parsers and the inventory (issue 5 target: < 2 µs).
func BenchmarkParseAndObserve(b *testing.B) {
	inv, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	var dst []httpcookie.Observation
	var bad []httpcookie.Malformed
	b.ReportAllocs()
	for b.Loop() {
		dst, bad = httpcookie.ParseRequest(benchRequest, dst[:0], bad[:0])
		dst, bad = httpcookie.ParseResponse(benchResponse, entryTime, dst, bad)
		inv.Observe("my_website", "www.example.com", entryTime, dst, bad)
	}
}

// BenchmarkInventoryMemory builds an inventory of 100k distinct (service,
// cookie) keys, each set once and sent back once, and reports the heap held
// per key (issue 5 target: < 1 KiB). The build happens once, whatever the
// -benchtime; the timed loop is then Observe against that full inventory.
func BenchmarkInventoryMemory(b *testing.B) {
	const services, names = 100, 1000
	svcNames := make([]string, services)
	for i := range svcNames {
		svcNames[i] = fmt.Sprintf("service-%03d", i)
	}
	req := make([][]httpcookie.Observation, names)
	resp := make([][]httpcookie.Observation, names)
	for n := range names {
		name := fmt.Sprintf("cookie_%04d", n)
		req[n], _ = httpcookie.ParseRequest(name+"=a1b2c3d4e5f6a7b8", nil, nil)
		resp[n], _ = httpcookie.ParseResponse(name+"=a1b2c3d4e5f6a7b8; Path=/; Secure; HttpOnly; Max-Age=3600", entryTime, nil, nil)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	inv, err := New(Config{MaxNamesPerService: names, MaxServices: services})
	if err != nil {
		b.Fatal(err)
	}
	for _, svc := range svcNames {
		for n := range names {
			inv.Observe(svc, "www.example.com", entryTime, resp[n], nil)
			inv.Observe(svc, "www.example.com", entryTime, req[n], nil)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perKey := float64(after.HeapAlloc-before.HeapAlloc) / (services * names)

	b.ReportAllocs()
	i := 0
	for b.Loop() {
		inv.Observe(svcNames[i%services], "www.example.com", entryTime, req[i%names], nil)
		i++
	}
	b.ReportMetric(perKey, "B/key")
}
