package envoysim

import (
	"math/rand/v2"
	"strings"
	"testing"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"

	"github.com/meshtel/meshtel/catalog"
)

func testCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Parse("sim.yaml", []byte(`
services:
  - http_service: web
    port: 8080
  - http_service: catalog_grpc
    port: 50051
  - tcp_service: db
    port: 5432
`))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// counted says whether an entry counts for the service's own SLI: final,
// inbound, not a health check (SPEC §3), and whether it failed.
func counted(c *datav3.AccessLogCommon) bool {
	return !c.IntermediateLogEntry && c.AccessLogType != datav3.AccessLogType_UpstreamEnd &&
		strings.HasPrefix(c.UpstreamCluster, "inbound|")
}

func httpFailed(e *datav3.HTTPAccessLogEntry) bool {
	return e.Response.GetResponseCode().GetValue() >= 500 || e.Response.ResponseTrailers["grpc-status"] == "14"
}

func TestBadRatios(t *testing.T) {
	for _, ratio := range []float64{0, 1} {
		sim, err := New(Config{Target: "127.0.0.1:1", Catalog: testCatalog(t), Seed: 7,
			BadRatios: map[string]float64{"web": ratio, "catalog_grpc": ratio, "db": ratio}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range sim.services {
			svc := &sim.services[i]
			g := &entryGen{svc: svc, services: sim.services, rng: rand.New(rand.NewPCG(7, uint64(i))), ip: "10.0.0.1"}
			seen, failed := 0, 0
			for range 500 {
				if svc.tcp {
					e := g.tcp()
					if counted(e.CommonProperties) {
						seen++
						if e.CommonProperties.ResponseFlags.GetUpstreamConnectionFailure() {
							failed++
						}
					}
					continue
				}
				e := g.http()
				if counted(e.CommonProperties) && e.Request.UserAgent != "kube-probe/1.31" {
					seen++
					if httpFailed(e) {
						failed++
					}
				}
			}
			if want := int(ratio) * seen; seen == 0 || failed != want {
				t.Errorf("%s at bad ratio %v: %d of %d counted requests failed, want %d", svc.name, ratio, failed, seen, want)
			}
		}
	}
}

func TestBadRatiosRejected(t *testing.T) {
	for name, ratios := range map[string]map[string]float64{
		"unknown service": {"nope": 1},
		"above 1":         {"web": 1.5},
		"negative":        {"web": -0.1},
	} {
		if _, err := New(Config{Target: "127.0.0.1:1", Catalog: testCatalog(t), BadRatios: ratios}); err == nil {
			t.Errorf("%s: New accepted %v", name, ratios)
		}
	}
}
