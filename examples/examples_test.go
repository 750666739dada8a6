package examples_test

import (
	"testing"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/examples"
)

func TestMeshParses(t *testing.T) {
	c, err := catalog.Parse("examples/mesh.yaml", examples.Mesh)
	if err != nil {
		t.Fatalf("the demo catalog has mistakes:\n%v", err)
	}
	// The seed's services must stay as the seed declared them: alsd --demo
	// and the README walk through them.
	seed := []struct {
		name string
		kind catalog.Kind
		port int
	}{
		{"my_website", catalog.HTTPService, 8080},
		{"some_service", catalog.Cluster, 9000},
		{"redis_cache", catalog.TCPService, 6379},
	}
	for _, want := range seed {
		s := c.Lookup(want.name)
		if s == nil {
			t.Errorf("service %q missing", want.name)
			continue
		}
		if s.Kind != want.kind || s.Port != want.port {
			t.Errorf("service %q = %s port %d, want %s port %d", want.name, s.Kind, s.Port, want.kind, want.port)
		}
	}
	web := c.Lookup("my_website")
	if web.HealthCheck != "/status" || web.Team != "web" || web.SLOs.Availability.Text != "99.95" {
		t.Errorf("my_website = %+v, want healthcheck /status, team web, availability 99.95", web)
	}
	if len(c.Services) < 8 || len(c.Teams) < 2 {
		t.Errorf("demo catalog has %d services and %d teams, want a realistic mesh (>= 8, >= 2)", len(c.Services), len(c.Teams))
	}
}
