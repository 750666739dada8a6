package main

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/internal/observe"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/sli"
)

// stages plugs the SLI engine, the cookie inventory and the dependency
// edges into the ingest path. It is the only place that knows both
// record.Record and the plain observations sli, cookies and edges take.
type stages struct {
	cat       *catalog.Catalog
	tracker   *sli.Tracker
	inventory *cookies.Inventory
	// edges counts outbound calls per (source, destination); nil: none.
	edges *edges.Tracker
	// onBad sees every request that burns budget (the web UI's list of
	// recent bad requests); nil when nothing listens.
	onBad func(service, method, path string, status int, flags []string, t time.Time)

	mu       sync.RWMutex
	received map[string]*atomic.Int64 // records per service, for the demo summary
}

func newStages(cat *catalog.Catalog, tracker *sli.Tracker, inventory *cookies.Inventory) *stages {
	return &stages{cat: cat, tracker: tracker, inventory: inventory, received: map[string]*atomic.Int64{}}
}

func (s *stages) healthCheck(service string) string {
	if svc := s.cat.Lookup(service); svc != nil {
		return svc.HealthCheck
	}
	return ""
}

// classify is the Record's outcome: SPEC §3 through the one classification
// function the SLI engine uses too.
func (s *stages) classify(r *record.Record) outcome.Outcome {
	o := observe.SLI(r)
	return sli.Classify(&o, s.healthCheck(r.Service))
}

func (s *stages) observe(records []record.Record) {
	for i := range records {
		r := &records[i]
		o := observe.SLI(r)
		if s.tracker.Observe(&o) == outcome.Bad && s.onBad != nil {
			s.onBad(r.Service, r.Method, r.Path, r.Status, r.ResponseFlags, r.Time)
		}
		// Cookies count from final entries only (SPEC §6): an intermediate
		// entry repeats the headers of the request it belongs to.
		if !r.Intermediate && (len(r.Cookies) > 0 || len(r.MalformedCookies) > 0) {
			s.inventory.Observe(r.Service, r.Authority, r.Time, r.Cookies, r.MalformedCookies)
		}
		if e, ok := observe.Edge(r); ok && s.edges != nil {
			s.edges.Observe(&e)
		}
		s.counter(r.Service).Add(1)
	}
}

func (s *stages) counter(service string) *atomic.Int64 {
	s.mu.RLock()
	c := s.received[service]
	s.mu.RUnlock()
	if c != nil {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c = s.received[service]; c == nil {
		c = new(atomic.Int64)
		s.received[service] = c
	}
	return c
}

// receivedByService returns the records seen per service.
func (s *stages) receivedByService() map[string]int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]int64, len(s.received))
	for k, v := range s.received {
		out[k] = v.Load()
	}
	return out
}
