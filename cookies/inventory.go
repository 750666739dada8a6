package cookies

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultCheckpointInterval = time.Minute
	DefaultRefreshInterval    = 15 * time.Second
	DefaultMaxNamesPerService = 256
	DefaultMaxServices        = 1024
	// maxAuthorities bounds the :authority hosts kept per service for the
	// third-party-domain finding; clients choose them.
	maxAuthorities = 64
)

// Config configures an Inventory. The zero value is usable: no catalog, no
// metrics registration, no persistence.
type Config struct {
	// Catalog gives each service's declared cookies: and own domains:.
	// Nil means none are declared.
	Catalog *catalog.Catalog
	// Registerer receives the inventory's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// StateDir holds the checkpoint (StateDir/cookies.state). Empty keeps
	// the inventory in memory only.
	StateDir string
	// CheckpointInterval is how often Run checkpoints. Default
	// DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// RefreshInterval is how often Run updates the mesh_cookies gauges.
	// Default DefaultRefreshInterval.
	RefreshInterval time.Duration
	// MaxNamesPerService caps the distinct (name, domain, path) cookies of a
	// service, so a client stuffing its Cookie header with random names
	// cannot exhaust memory. Observations beyond it are counted in
	// mesh_cookies_overflow_total and the report. Default
	// DefaultMaxNamesPerService.
	MaxNamesPerService int
	// MaxServices caps the services tracked; entries of further services are
	// counted in mesh_cookies_services_overflow_total. Default
	// DefaultMaxServices.
	MaxServices int
	// CookieDB is the path of a cookie knowledge base CSV (Open Cookie
	// Database layout) that labels reports with category and vendor.
	// Optional.
	CookieDB string
	// Now is the clock for report times and entries without a time.
	// Default time.Now.
	Now func() time.Time
	// Logger receives checkpoint problems. Default: discard.
	Logger *slog.Logger
}

// Inventory is the live cookie inventory of the mesh. Observe is safe for
// concurrent use and cheap; everything else may be called at any time.
type Inventory struct {
	cfg     Config
	db      *CookieDB
	metrics *metrics

	mu       sync.RWMutex
	services map[string]*service

	ckptMu sync.Mutex // serializes checkpoint writes

	runMu     sync.Mutex
	cancelRun context.CancelFunc
	runDone   chan struct{}
	runErr    error // Run's final checkpoint, valid once runDone is closed
	closeOnce sync.Once
	closeErr  error
}

// service is one service's part of the inventory.
type service struct {
	name string

	mu          sync.Mutex
	entries     map[key]*entry
	byName      map[string][]*entry // entries of each name, in creation order
	authorities map[string]struct{}
	malformed   [httpcookie.NumMalformed]uint64
	overflow    uint64

	malformedC [httpcookie.NumMalformed]prometheus.Counter
	overflowC  prometheus.Counter
}

// New returns an Inventory, restored from the checkpoint in cfg.StateDir
// when there is one. A corrupt checkpoint is logged and ignored; a cookie
// DB that cannot be read is an error.
func New(cfg Config) (*Inventory, error) {
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.MaxNamesPerService <= 0 {
		cfg.MaxNamesPerService = DefaultMaxNamesPerService
	}
	if cfg.MaxServices <= 0 {
		cfg.MaxServices = DefaultMaxServices
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	inv := &Inventory{cfg: cfg, services: map[string]*service{}}
	if cfg.CookieDB != "" {
		db, err := LoadCookieDB(cfg.CookieDB)
		if err != nil {
			return nil, err
		}
		inv.db = db
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("cookie inventory metrics: %w", err)
	}
	inv.metrics = m
	if err := inv.restore(); err != nil {
		m.unregister(cfg.Registerer) // so that a retry can register them again
		return nil, err
	}
	inv.refresh()
	return inv, nil
}

// service returns the named service's state, creating it, or nil when the
// services cap is reached.
func (inv *Inventory) service(name string) *service {
	inv.mu.RLock()
	s := inv.services[name]
	inv.mu.RUnlock()
	if s != nil {
		return s
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if s = inv.services[name]; s != nil {
		return s
	}
	if len(inv.services) >= inv.cfg.MaxServices {
		return nil
	}
	name = strings.Clone(name)
	s = &service{
		name:        name,
		entries:     map[key]*entry{},
		byName:      map[string][]*entry{},
		authorities: map[string]struct{}{},
		overflowC:   inv.metrics.overflow.WithLabelValues(name),
	}
	for i := range s.malformedC {
		s.malformedC[i] = inv.metrics.malformed.WithLabelValues(name, httpcookie.Malformed(i).String())
	}
	inv.services[name] = s
	return s
}

// Observe records the cookies of one final access-log entry of service,
// requested for authority (the :authority or Host) at t. obs and bad are
// what ParseRequest and ParseResponse returned; neither is retained. An
// observation whose ValueHash is 0 (rebuilt from a Kafka record, which
// carries no hash) counts everywhere except in the distinct values.
func (inv *Inventory) Observe(service, authority string, t time.Time, obs []httpcookie.Observation, bad []httpcookie.Malformed) {
	if len(obs) == 0 && len(bad) == 0 && authority == "" {
		return
	}
	s := inv.service(service)
	if s == nil {
		inv.metrics.servicesOverflow.Inc()
		return
	}
	if t.IsZero() {
		t = inv.cfg.Now()
	}
	ts := t.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if authority != "" {
		s.noteAuthority(authority)
	}
	for _, m := range bad {
		if m < httpcookie.NumMalformed {
			s.malformed[m]++
			s.malformedC[m].Inc()
		}
	}
	for i := range obs {
		o := &obs[i]
		if o.ValueClass >= httpcookie.NumClasses || o.Source > httpcookie.Response {
			continue
		}
		var e *entry
		if o.Source == httpcookie.Response {
			e = s.responseEntry(key{o.Name, o.Domain, o.Path}, inv.cfg.MaxNamesPerService)
		} else {
			e = s.requestEntry(o.Name, inv.cfg.MaxNamesPerService)
		}
		if e == nil {
			s.overflow++
			s.overflowC.Inc()
			continue
		}
		if o.Source == httpcookie.Response {
			e.responses++
			e.setAttrs(attrs{
				secure: o.Secure, httpOnly: o.HTTPOnly, partitioned: o.Partitioned,
				hasMaxAge: o.HasMaxAge, maxAgeS: o.MaxAgeS, sameSite: sameSiteCode(o.SameSite),
			}, ts)
		} else {
			e.requests++
		}
		e.sources |= 1 << o.Source
		e.seen(ts)
		e.classes[o.ValueClass]++
		if o.ValueHash != 0 {
			e.values.add(o.ValueHash)
		}
	}
}

func (s *service) noteAuthority(a string) {
	if _, ok := s.authorities[a]; ok {
		return
	}
	h := authorityHost(a)
	if _, ok := s.authorities[h]; ok || h == "" || len(s.authorities) >= maxAuthorities {
		return
	}
	s.authorities[strings.Clone(h)] = struct{}{}
}

// newEntry adds an entry for k, or returns nil at the cap.
func (s *service) newEntry(k key, limit int) *entry {
	if len(s.entries) >= limit {
		return nil
	}
	e := &entry{key: key{strings.Clone(k.name), strings.Clone(k.domain), strings.Clone(k.path)}}
	s.entries[e.key] = e
	s.byName[e.name] = append(s.byName[e.name], e)
	return e
}

func (s *service) remove(e *entry) {
	delete(s.entries, e.key)
	list := s.byName[e.name]
	if i := slices.Index(list, e); i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(s.byName, e.name)
	} else {
		s.byName[e.name] = list
	}
}

// responseEntry returns the entry of a Set-Cookie's key. Request
// observations of the name made before its first Set-Cookie (kept under the
// bare name) move into it: they were this cookie all along.
func (s *service) responseEntry(k key, limit int) *entry {
	if e := s.entries[k]; e != nil {
		return e
	}
	var orphan *entry
	for _, e := range s.byName[k.name] {
		if e.responses == 0 {
			orphan = e
			break
		}
	}
	if orphan != nil {
		s.remove(orphan)
	}
	e := s.newEntry(k, limit)
	if e == nil {
		if orphan != nil {
			s.entries[orphan.key] = orphan
			s.byName[orphan.name] = append(s.byName[orphan.name], orphan)
		}
		return nil
	}
	if orphan != nil {
		// Both sketches have the same precision; absorb cannot fail here.
		_ = e.absorb(orphan)
	}
	return e
}

// requestEntry returns the entry a request cookie belongs to. A Cookie
// header carries no domain or path, so it goes to the name's first cookie
// that was set by a response, else to a request-only entry.
func (s *service) requestEntry(name string, limit int) *entry {
	list := s.byName[name]
	for _, e := range list {
		if e.responses > 0 {
			return e
		}
	}
	if len(list) > 0 {
		return list[0]
	}
	return s.newEntry(key{name: name}, limit)
}

// Run refreshes the mesh_cookies gauges and checkpoints periodically until
// ctx ends or Close is called, then refreshes and checkpoints a last time.
// It returns the last checkpoint's error.
func (inv *Inventory) Run(ctx context.Context) error {
	inv.runMu.Lock()
	if inv.runDone != nil {
		inv.runMu.Unlock()
		return errors.New("cookie inventory: Run called twice or after Close")
	}
	ctx, cancel := context.WithCancel(ctx)
	inv.cancelRun, inv.runDone = cancel, make(chan struct{})
	done := inv.runDone
	inv.runMu.Unlock()
	defer close(done)
	defer cancel()

	refresh := time.NewTicker(inv.cfg.RefreshInterval)
	defer refresh.Stop()
	ckpt := time.NewTicker(inv.cfg.CheckpointInterval)
	defer ckpt.Stop()
	for {
		select {
		case <-ctx.Done():
			inv.refresh()
			inv.runErr = inv.Checkpoint()
			return inv.runErr
		case <-refresh.C:
			inv.refresh()
		case <-ckpt.C:
			_ = inv.Checkpoint() // counted and logged; the next tick retries
		}
	}
}

// Close stops Run and waits for its final checkpoint, or checkpoints once
// when Run was never started. Further calls return the first result.
func (inv *Inventory) Close() error {
	inv.closeOnce.Do(func() {
		inv.runMu.Lock()
		cancel, done := inv.cancelRun, inv.runDone
		if done == nil {
			inv.runDone = make(chan struct{}) // a later Run refuses to start
			close(inv.runDone)
		}
		inv.runMu.Unlock()
		if done == nil {
			inv.refresh()
			inv.closeErr = inv.Checkpoint()
			return
		}
		cancel()
		<-done
		inv.closeErr = inv.runErr
	})
	return inv.closeErr
}

// refresh sets mesh_cookies{service,finding} for every service and finding,
// zeros included, so a fixed finding drops to 0 rather than vanishing.
func (inv *Inventory) refresh() {
	r := inv.Snapshot()
	tracked := 0
	for _, s := range r.Services {
		counts := map[string]int{}
		for _, c := range s.Cookies {
			if len(c.Findings) == 0 {
				counts[FindingNone]++
			}
			for _, f := range c.Findings {
				counts[f]++
			}
		}
		for _, f := range append([]string{FindingNone}, Findings...) {
			inv.metrics.cookies.WithLabelValues(s.Service, f).Set(float64(counts[f]))
		}
		tracked += len(s.Cookies)
	}
	inv.metrics.tracked.Set(float64(tracked))
}
