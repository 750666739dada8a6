package catalog

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// meshOf generates a catalog of n services in the shape of examples/mesh.yaml.
func meshOf(n int) []byte {
	var b strings.Builder
	b.WriteString("defaults:\n  team: platform\n  slos:\n    availability: {objective: 99.9}\n    latency: {objective: 99, threshold: 500ms}\n")
	b.WriteString("teams:\n")
	for t := range 20 {
		fmt.Fprintf(&b, "  team%d: {receiver: team%d-oncall, slack: \"#team%d\"}\n", t, t, t)
	}
	b.WriteString("  platform: {receiver: platform-oncall}\nservices:\n")
	for i := range n {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "  - http_service: svc%d\n    port: %d\n    healthcheck: /healthz\n    team: team%d\n", i, 10000+i, i%20)
			fmt.Fprintf(&b, "    aliases: [svc%d.ns%d]\n    cookies: [sid, csrf]\n    domains: [svc%d.example.com]\n", i, i%7, i)
			fmt.Fprintf(&b, "    spiffe: [spiffe://cluster.local/ns/ns%d/sa/svc%d]\n", i%7, i)
			if i > 0 {
				fmt.Fprintf(&b, "    upstreams: [svc%d, svc%d]\n", i-1, i/2)
			}
			b.WriteString("    slos:\n      availability: {objective: 99.95}\n      latency: {threshold: 250ms}\n")
		case 1:
			fmt.Fprintf(&b, "  - cluster: svc%d\n    port: %d\n", i, 10000+i)
		case 2:
			fmt.Fprintf(&b, "  - tcp_service: svc%d\n    port: %d\n    team: team%d\n", i, 10000+i, i%20)
		}
	}
	return []byte(b.String())
}

// BenchmarkParse parses a 2000-service catalog. The yaml-only case decodes
// the same bytes into a yaml.Node and nothing else: the ceiling Parse's
// own checks add to.
func BenchmarkParse(b *testing.B) {
	data := meshOf(2000)
	if _, err := Parse("bench.yaml", data); err != nil {
		b.Fatal(err)
	}
	b.Run("catalog", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse("bench.yaml", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("yaml-only", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var n yaml.Node
			if err := yaml.Unmarshal(data, &n); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	c, err := Parse("bench.yaml", meshOf(2000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if c.Lookup("svc1998.ns3") == nil || c.ByPort(11999) == nil {
			b.Fatal("lookup missed")
		}
	}
}
