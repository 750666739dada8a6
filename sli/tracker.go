package sli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/outcome"
)

// OtherRoute is the route label of requests whose route_name did not fit
// under Config.MaxRoutesPerService, and OtherService the service label of
// services beyond Config.MaxServices.
const (
	OtherRoute   = "__other__"
	OtherService = "__other__"
)

// Config configures a Tracker. The zero value of every field is a usable
// default.
type Config struct {
	// Catalog supplies each service's SLOs and health-check path. Services
	// it does not list get its defaults.slos; an alias counts as the service
	// it names. Default catalog.Empty(): every service gets the built-in
	// defaults (availability 99.9%, latency 99% under 500ms).
	Catalog *catalog.Catalog
	// Registerer receives the SLI metrics (SPEC §5). Nil: not exported.
	Registerer prometheus.Registerer
	// StateDir is where checkpoints live (<StateDir>/sli/state.v1). Empty:
	// no persistence, a restart resets every budget.
	StateDir string
	// CheckpointInterval is how often Run checkpoints. Default 1m.
	CheckpointInterval time.Duration
	// MaxRoutesPerService caps the route label values per service; requests
	// of further routes count under route "__other__". Default 50.
	MaxRoutesPerService int
	// MaxServices caps the services not in the catalog that get series of
	// their own; further ones count as service "__other__". Default 1000.
	MaxServices int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives checkpoint problems. Default slog.Default().
	Logger *slog.Logger
}

// baseBuckets are the default latency buckets, in the spirit of
// Prometheus' defaults; every configured threshold is added to them.
var baseBuckets = []time.Duration{
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Tracker keeps per-service SLIs over the burn windows and the budget
// window, exports them as metrics and serves them as the /api/slo document.
// Its methods are safe for concurrent use.
type Tracker struct {
	cfg       Config
	log       *slog.Logger
	bounds    []time.Duration // histogram upper bounds, ascending
	windows   []span          // parallel to Windows
	budgets   map[int]span    // rolling SLO windows by their days
	statePath string

	clock atomic.Int64 // a recent Unix second, refreshed lazily by Observe

	mu        sync.Mutex                          // serialises changes to services
	services  atomic.Pointer[map[string]*service] // copy on write: readers never lock
	unknown   int                                 // services created that the catalog does not list
	svcSpills atomic.Uint64                       // observations counted under OtherService

	closeOnce sync.Once
	closeErr  error
	metrics   *metrics
}

// service is the state of one service: windowed counts for the budget and
// burn rates, and cumulative per-route counters for Prometheus.
type service struct {
	name        string
	healthCheck string
	slos        catalog.SLOs

	mu     sync.Mutex
	rings  [numTiers]ring
	routes map[string]*route
	few    []namedRoute // the first routes again: scanning a few beats hashing
	spills uint64       // observations counted under OtherRoute because of the cap
	// Most entries share their second and route with the previous one:
	// caching both skips a division and a lookup.
	lastSec   int64
	lastEpoch int64 // fine epoch of lastSec
	lastIdx   int   // its slot in the fine tier
	lastKey   uint32
	lastName  string
	lastRoute *route
}

// fewRoutes is how many routes a service finds by scanning.
const fewRoutes = 8

type namedRoute struct {
	key  uint32 // routeKey(name): most mismatches fail on it without a memcmp
	name string
	r    *route
}

// routeKey packs a route name's length and its first and last bytes.
func routeKey(name string) uint32 {
	if name == "" {
		return 0
	}
	return uint32(len(name))<<16 | uint32(name[0])<<8 | uint32(name[len(name)-1])
}

// route holds the cumulative counters behind mesh_sli_requests_total,
// mesh_sli_errors_total and mesh_request_duration_seconds.
type route struct {
	avail, lat Counts
	hist       []uint64 // per bucket, not cumulative; the last one is +Inf
	histSumUs  uint64   // microseconds: integers add up exactly when states merge
}

// New returns a Tracker and restores its last checkpoint from
// cfg.StateDir, if any. A corrupt checkpoint is logged and ignored.
func New(cfg Config) (*Tracker, error) {
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = time.Minute
	}
	if cfg.MaxRoutesPerService <= 0 {
		cfg.MaxRoutesPerService = 50
	}
	if cfg.MaxServices <= 0 {
		cfg.MaxServices = 1000
	}
	if cfg.Catalog == nil {
		cfg.Catalog = catalog.Empty()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Tracker{cfg: cfg, log: cfg.Logger}
	for _, w := range Windows {
		sp, err := spanFor(w.Duration)
		if err != nil {
			return nil, fmt.Errorf("burn window %q: %w", w.Name, err)
		}
		t.windows = append(t.windows, sp)
	}
	t.budgets = map[int]span{}
	for _, w := range catalog.Windows {
		if sw := WindowOf(w); !sw.Calendar() {
			sp, err := spanFor(sw.Length())
			if err != nil {
				return nil, fmt.Errorf("slo window %q: %w", sw.Name, err)
			}
			t.budgets[sw.Days] = sp
		}
	}
	var err error
	if err := t.initSLOs(); err != nil {
		return nil, err
	}
	t.clock.Store(cfg.Now().Unix())
	if t.metrics, err = newMetrics(cfg.Registerer, t); err != nil {
		return nil, err
	}
	if cfg.StateDir != "" {
		t.statePath = statePath(cfg.StateDir)
		t.restore()
	}
	return t, nil
}

// initSLOs checks every objective, collects the histogram buckets and
// creates the catalog's services up front, so /api/slo lists them before
// their first request.
func (t *Tracker) initSLOs() error {
	check := func(where string, s catalog.SLOs) error {
		if a := s.Availability; a != nil && (a.Percent <= 0 || a.Percent >= 100) {
			return fmt.Errorf("%s: availability objective %v outside (0,100)", where, a.Percent)
		}
		if l := s.Latency; l != nil {
			if l.Percent <= 0 || l.Percent >= 100 {
				return fmt.Errorf("%s: latency objective %v outside (0,100)", where, l.Percent)
			}
			if l.Threshold <= 0 {
				return fmt.Errorf("%s: latency threshold %v is not positive", where, l.Threshold)
			}
			t.bounds = append(t.bounds, l.Threshold)
		}
		return nil
	}
	t.bounds = append(t.bounds, baseBuckets...)
	m := map[string]*service{}
	c := t.cfg.Catalog
	if err := check("catalog defaults", c.Defaults.SLOs); err != nil {
		return err
	}
	for i := range c.Services {
		s := &c.Services[i]
		if err := check(fmt.Sprintf("service %q", s.Name), s.SLOs); err != nil {
			return err
		}
		m[s.Name] = newService(s.Name, s.HealthCheck, s.SLOs)
	}
	slices.Sort(t.bounds)
	t.bounds = slices.Compact(t.bounds)
	t.services.Store(&m)
	return nil
}

func newService(name, healthCheck string, slos catalog.SLOs) *service {
	s := &service{name: name, healthCheck: healthCheck, slos: slos, routes: map[string]*route{}, lastSec: -1}
	for i := range s.rings {
		s.rings[i] = newRing(i, slos.Latency != nil)
	}
	return s
}

// service returns name's state, creating it on first sight.
func (t *Tracker) service(name string) *service {
	if s := (*t.services.Load())[name]; s != nil {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.services.Load()
	if s := old[name]; s != nil {
		return s
	}
	add := map[string]*service{}
	var s *service
	switch cs := t.cfg.Catalog.Lookup(name); {
	case cs != nil && old[cs.Name] != nil:
		s = old[cs.Name] // an alias: another key for the catalog service
		add[name] = s
	case t.unknown < t.cfg.MaxServices:
		t.unknown++
		s = newService(name, "", t.cfg.Catalog.Defaults.SLOs)
		add[name] = s
	default:
		if s = old[OtherService]; s == nil {
			s = newService(OtherService, "", t.cfg.Catalog.Defaults.SLOs)
			add[OtherService] = s
		}
		// Remember spilled names too, so they take the lock-free path
		// next time, but only up to a bound: names are the senders' choice.
		if len(old) < 2*t.cfg.MaxServices+len(t.cfg.Catalog.Services) {
			add[name] = s
		}
	}
	if len(add) > 0 {
		m := make(map[string]*service, len(old)+len(add))
		for k, v := range old {
			m[k] = v
		}
		for k, v := range add {
			m[k] = v
		}
		t.services.Store(&m)
	}
	return s
}

// Observe classifies o (SPEC §3) and counts it. It is the hot path, called
// for every access-log entry from many goroutines: it does not allocate
// once the entry's service and route have been seen, and it locks only the
// entry's service. It returns the availability outcome, the record's
// outcome field.
func (t *Tracker) Observe(o *Observation) outcome.Outcome {
	s := (*t.services.Load())[o.Service]
	var out outcome.Outcome
	if s != nil {
		out = Classify(o, s.healthCheck)
	} else {
		// First sight of the name. Services are only created for entries
		// that count: a gateway that only logs outbound requests must not
		// show up as a service without traffic.
		hc := ""
		if cs := t.cfg.Catalog.Lookup(o.Service); cs != nil {
			hc = cs.HealthCheck
		}
		if out = Classify(o, hc); out == outcome.Excluded {
			return out
		}
		s = t.service(o.Service)
	}
	if out == outcome.Excluded {
		return out
	}
	if s.name == OtherService && o.Service != OtherService {
		t.svcSpills.Add(1)
	}
	sec := t.second(o.Time)
	s.mu.Lock()
	s.record(o, out, sec, t)
	s.mu.Unlock()
	return out
}

// second returns the Unix second o happened in, clamped to now: an entry
// from the future (clock skew) would otherwise advance the rings past the
// present. Reading the clock only when an entry is newer than the cached
// second keeps time.Now off the hot path.
func (t *Tracker) second(ts time.Time) int64 {
	sec := ts.Unix()
	if now := t.clock.Load(); sec >= 0 && sec <= now+1 {
		return sec
	}
	now := t.cfg.Now().Unix()
	t.clock.Store(now)
	if sec < 0 || sec > now {
		return now
	}
	return sec
}

func (s *service) record(o *Observation, out outcome.Outcome, sec int64, t *Tracker) {
	r, key := s.lastRoute, routeKey(o.Route)
	if r == nil || key != s.lastKey || o.Route != s.lastName {
		r = s.routeByKey(key, o.Route, t)
		s.lastKey, s.lastName, s.lastRoute = key, o.Route, r
	}
	av := Counts{Total: 1}
	if out == outcome.Bad {
		av.Bad = 1
	}
	r.avail.add(av)
	var lt Counts
	if l := s.slos.Latency; l != nil {
		switch LatencyOutcome(o, out, l.Threshold) {
		case outcome.Good:
			lt.Total = 1
		case outcome.Bad:
			lt = Counts{Total: 1, Bad: 1}
		}
		r.lat.add(lt)
	}
	if !o.TCP {
		bounds, i := t.bounds, 0
		for i < len(bounds) && o.Duration > bounds[i] {
			i++
		}
		r.hist[i]++
		r.histSumUs += uint64(max(o.Duration, 0) / time.Microsecond)
	}
	if sec != s.lastSec {
		s.lastSec = sec
		s.lastEpoch = sec / fineRes
		s.lastIdx = int(s.lastEpoch % int64(len(s.rings[0].avail)))
	}
	s.addFine(s.lastEpoch, s.lastIdx, av, lt)
}

// route returns the counters of route name, adding it if need be.
func (s *service) route(name string, t *Tracker) *route {
	return s.routeByKey(routeKey(name), name, t)
}

func (s *service) routeByKey(key uint32, name string, t *Tracker) *route {
	for i := range s.few {
		if f := &s.few[i]; f.key == key && f.name == name {
			return f.r
		}
	}
	if len(s.routes) > len(s.few) {
		if r := s.routes[name]; r != nil {
			return r
		}
	}
	return s.newRoute(name, t)
}

// newRoute adds route name, or returns OtherRoute's when the service has
// its fill of routes.
func (s *service) newRoute(name string, t *Tracker) *route {
	if len(s.routes) >= t.cfg.MaxRoutesPerService && name != OtherRoute {
		s.spills++
		if r := s.routes[OtherRoute]; r != nil {
			return r
		}
		name = OtherRoute
	}
	r := &route{hist: make([]uint64, len(t.bounds)+1)}
	s.routes[name] = r
	if len(s.few) < fewRoutes {
		s.few = append(s.few, namedRoute{routeKey(name), name, r})
	}
	return r
}

// Run checkpoints every CheckpointInterval until ctx ends, then once more,
// and returns the last checkpoint error, if any.
func (t *Tracker) Run(ctx context.Context) error {
	tick := time.NewTicker(t.cfg.CheckpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return t.Checkpoint()
		case <-tick.C:
			if err := t.Checkpoint(); err != nil {
				t.log.Error("sli checkpoint failed", "err", err)
			}
		}
	}
}

// Close writes a final checkpoint. Calling it again does nothing and
// returns the first call's result.
func (t *Tracker) Close() error {
	t.closeOnce.Do(func() { t.closeErr = t.Checkpoint() })
	return t.closeErr
}

// Checkpoint writes the state to StateDir now (no-op without a StateDir).
func (t *Tracker) Checkpoint() error {
	if t.statePath == "" {
		return nil
	}
	err := writeStateFile(t.statePath, t.State())
	if err != nil {
		t.metrics.checkpointErrors.Inc()
	}
	return err
}

func (t *Tracker) restore() {
	s, err := ReadStateFile(t.statePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case errors.Is(err, ErrCorrupt):
		// Keep the damaged file for inspection; the next checkpoint
		// would overwrite it.
		aside := t.statePath + ".corrupt"
		if rerr := os.Rename(t.statePath, aside); rerr != nil {
			aside = t.statePath
		}
		t.log.Error("sli checkpoint is corrupt; starting from empty state", "path", aside, "err", err)
		t.metrics.checkpointCorrupt.Inc()
		return
	case err != nil:
		t.log.Error("sli checkpoint unreadable; starting from empty state", "path", t.statePath, "err", err)
		return
	}
	t.Add(s)
	t.log.Info("sli state restored", "path", t.statePath, "services", len(s.Services), "saved_at", s.SavedAt)
}

// sortedServices returns the services by name, each once (aliases are
// extra keys of the map).
func (t *Tracker) sortedServices() []*service {
	m := *t.services.Load()
	out := make([]*service, 0, len(m))
	for k, s := range m {
		if k == s.name {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *service) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return out
}

var _ io.Closer = (*Tracker)(nil)
