package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, that a rejected file yields
// Errors with positions inside it, and that an accepted one keeps the
// catalog's invariants.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	seeds = append(seeds, "../examples/mesh.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("services: [{cluster: a, port: 1, <<: {team: x}}]\nteams: {x: {receiver: r}}"))
	f.Add([]byte("x: &a [*a]\nservices: *a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatal("catalog returned with errors")
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not a non-empty Errors: %v", err, err)
			}
			lines := len(yamlLines(data))
			for i, e := range errs {
				if e.Pos.File != "f.yaml" || e.Pos.Line < 1 || e.Pos.Line > lines+1 || e.Pos.Column < 1 || e.Msg == "" {
					t.Fatalf("bad error position or message: %q (file has %d lines)", e, lines)
				}
				if i > 0 && (errs[i-1].Pos.Line > e.Pos.Line || errs[i-1].Pos.Line == e.Pos.Line && errs[i-1].Pos.Column > e.Pos.Column) {
					t.Fatalf("errors not sorted: %q before %q", errs[i-1], e)
				}
			}
			return
		}
		ports := map[int]bool{}
		for i := range c.Services {
			s := &c.Services[i]
			if !nameRE.MatchString(s.Name) || s.Port < 1 || s.Port > 65535 || ports[s.Port] {
				t.Fatalf("accepted invalid service %+v", s)
			}
			ports[s.Port] = true
			if c.Lookup(s.Name) != s || c.ByPort(s.Port) != s {
				t.Fatalf("lookups miss service %q", s.Name)
			}
			if s.SLOs.Availability == nil || s.Kind == TCPService && s.SLOs.Latency != nil {
				t.Fatalf("service %q has SLOs %+v", s.Name, s.SLOs)
			}
			if a := s.SLOs.Availability; a.Percent <= 0 || a.Percent >= 100 {
				t.Fatalf("service %q objective %v accepted", s.Name, a.Percent)
			}
			for _, up := range s.Upstreams {
				if c.Lookup(up) == nil {
					t.Fatalf("service %q has unknown upstream %q", s.Name, up)
				}
			}
			if s.Team != "" && c.Team(s.Team) == nil {
				t.Fatalf("service %q has undefined team %q", s.Name, s.Team)
			}
			if s.Alerting.MinBadEvents < 0 || s.Name == PipelineName {
				t.Fatalf("service %q accepted with min_bad_events %d", s.Name, s.Alerting.MinBadEvents)
			}
		}
		if c.Pipeline.Team != "" && c.Team(c.Pipeline.Team) == nil {
			t.Fatalf("undefined pipeline team %q accepted", c.Pipeline.Team)
		}
		if l := c.Privacy.MaxCookieLifetime; l.Seconds < 1 || l.Text == "" {
			t.Fatalf("max_cookie_lifetime %+v accepted", l)
		}
	})
}
