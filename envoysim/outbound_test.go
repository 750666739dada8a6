package envoysim

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestOutboundCalls: a caller's sidecar logs outbound calls to its
// upstreams that fail and last as the callee does, and the mesh's first
// caller also calls one service it does not declare (an HTTP one before a
// TCP one); no other sidecar does.
func TestOutboundCalls(t *testing.T) {
	services := []simService{
		{name: "web", port: 8080, upstreams: []string{"api"}, medianLatency: 10 * time.Millisecond},
		{name: "api", port: 9001, upstreams: []string{"db"}, badRatio: 0.5, medianLatency: 200 * time.Millisecond},
		{name: "db", port: 5432, tcp: true, medianLatency: time.Millisecond},
		{name: "auth", port: 8082, medianLatency: time.Millisecond},
	}
	gen := &entryGen{svc: &services[0], services: services, rng: rand.New(rand.NewPCG(16, 1)), ip: "10.0.0.1"}
	const n = 8000
	calls := map[string]int{}
	failed := map[string]int{}
	var slow []time.Duration
	for range n {
		e := gen.http()
		c := e.GetCommonProperties()
		cluster := c.GetUpstreamCluster()
		calls[cluster]++
		if e.GetResponse().GetResponseCode().GetValue() >= 500 {
			failed[cluster]++
		}
		if strings.Contains(cluster, "api.") && !c.GetIntermediateLogEntry() {
			slow = append(slow, c.GetDuration().AsDuration())
		}
	}
	api, auth, in := "outbound|9001||api.mesh.svc.cluster.local", "outbound|8082||auth.mesh.svc.cluster.local", "inbound|8080||"
	if len(calls) != 3 || calls[api]+calls[auth]+calls[in] != n {
		t.Fatalf("clusters %v: want web's inbound, its declared api and its undeclared auth", calls)
	}
	out := float64(calls[api] + calls[auth])
	if share := out / n; share < 0.22 || share > 0.28 {
		t.Errorf("%.3f of entries outbound, want a quarter", share)
	}
	if share := float64(calls[auth]) / out; share < 0.07 || share > 0.13 {
		t.Errorf("%.3f of calls undeclared, want a tenth", share)
	}
	// The callee's failures and latency, not the caller's.
	if r := float64(failed[api]) / float64(calls[api]); r < 0.4 || r > 0.6 || failed[in] != 0 {
		t.Errorf("api calls fail %.2f (want about 0.5), web's own requests %d times (want 0)", r, failed[in])
	}
	slices.Sort(slow)
	if med := slow[len(slow)/2]; med < 150*time.Millisecond || med > 250*time.Millisecond {
		t.Errorf("median api call %v, want api's 200ms", med)
	}
	// Only the first caller calls undeclared; a service without upstreams
	// calls nobody.
	for i := 1; i < len(services); i++ {
		g := &entryGen{svc: &services[i], services: services, rng: rand.New(rand.NewPCG(16, 2)), ip: "10.0.0.2"}
		if u := g.undeclared(); u != nil {
			t.Errorf("%s calls %s undeclared: only the first caller does", services[i].name, u.name)
		}
		for range 200 {
			if p := g.callee(); p != nil && (services[i].name != "api" || p.name != "db") {
				t.Errorf("%s calls %s", services[i].name, p.name)
			}
		}
	}
}
