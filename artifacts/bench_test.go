package artifacts

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshtel/meshtel/catalog"
)

// bigCatalog is a catalog of n services: HTTP services with both SLOs,
// every fifth one TCP, spread over ten teams.
func bigCatalog(tb testing.TB, n int) *catalog.Catalog {
	tb.Helper()
	var b strings.Builder
	b.WriteString("defaults:\n  team: team0\n  slos:\n    availability: {objective: 99.9}\n    latency: {objective: 99, threshold: 500ms}\nteams:\n")
	for i := range 10 {
		fmt.Fprintf(&b, "  team%d: {receiver: team%d-oncall, runbook_base: https://runbooks.example.com/team%d/}\n", i, i, i)
	}
	b.WriteString("services:\n")
	for i := range n {
		kind := "http_service"
		if i%5 == 4 {
			kind = "tcp_service"
		}
		fmt.Fprintf(&b, "  - %s: service_%04d\n    port: %d\n    team: team%d\n", kind, i, 10000+i, i%10)
		if i%3 == 0 && kind == "http_service" {
			b.WriteString("    slos:\n      availability: {objective: 99.95}\n")
		}
	}
	cat, err := catalog.Parse("big.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return cat
}

// BenchmarkGenerate1000 is `dashgen generate` for a 1,000-service catalog:
// "build" renders every file in memory, "write" also writes them to a
// fresh directory. Target: < 3 s and < 300 MiB per run.
func BenchmarkGenerate1000(b *testing.B) {
	cat := bigCatalog(b, 1000)
	b.Run("build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Build(cat, Config{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write", func(b *testing.B) {
		dir := b.TempDir()
		run := 0
		b.ReportAllocs()
		for b.Loop() {
			run++
			files, err := Build(cat, Config{})
			if err != nil {
				b.Fatal(err)
			}
			// A fresh directory each time: Write skips files already current.
			if err := Write(fmt.Sprintf("%s/%d", dir, run), files); err != nil {
				b.Fatal(err)
			}
		}
	})
}
