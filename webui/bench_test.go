package webui

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkPages renders each page of the demo mesh with six hours of
// traffic: what one browser tab costs alsd per auto-refresh.
func BenchmarkPages(b *testing.B) {
	f := newFixture(b, true)
	h := f.ui.Handler()
	for _, path := range []string{"/", "/slo/my_website", "/cookies", "/pipeline"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}

// BenchmarkSample is Run's work every SampleInterval.
func BenchmarkSample(b *testing.B) {
	f := newFixture(b, true)
	b.ReportAllocs()
	for b.Loop() {
		f.ui.Sample()
	}
}
