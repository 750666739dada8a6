package edges

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/sli"
)

// Other is the node every name outside the catalog is counted under, as
// source or destination (SPEC §8). A catalog service named "other" shares
// it.
const Other = "other"

// DefaultMaxEdges is Config.MaxEdges when it is not set.
const DefaultMaxEdges = 10000

// Observation is one outbound call as its caller's sidecar logged it. It is
// a plain struct so that edges does not depend on the ingest runtime; the
// caller fills it from whatever record type it has.
type Observation struct {
	Time          time.Time     // request start; zero means "now"
	Source        string        // the calling service (the record's service)
	Destination   string        // the called service (the record's peer_service); "" is not counted
	TCP           bool          // a TCP entry: no latency to histogram
	Method        string        // HTTP method
	Path          string        // request path; a query string, if any, is ignored
	Status        int           // HTTP status, 0 when absent
	GRPCStatus    int           // gRPC status code, -1 when absent
	ResponseFlags []string      // Envoy short codes, e.g. "UF", "URX"
	Duration      time.Duration // 0 when unknown
	Intermediate  bool          // not a final entry: not counted (it would count a call twice)
}

// Config configures a Tracker. The zero value of every field is a usable
// default.
type Config struct {
	// Catalog names the nodes (every other name is Other), gives the
	// destinations' health-check paths and declares the upstreams. Default
	// catalog.Empty(): every edge is Other → Other.
	Catalog *catalog.Catalog
	// Registerer receives the edge metrics (SPEC §8). Nil: not exported.
	Registerer prometheus.Registerer
	// StateDir is where checkpoints live (<StateDir>/edges/state.v1).
	// Empty: no persistence.
	StateDir string
	// CheckpointInterval is how often Run checkpoints. Default 1m.
	CheckpointInterval time.Duration
	// MaxEdges caps the edges kept; a new edge beyond it is counted under
	// (source, Other). Default DefaultMaxEdges.
	MaxEdges int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives checkpoint problems. Default slog.Default().
	Logger *slog.Logger
}

// Buckets are the upper bounds of every edge's latency histogram, the
// Prometheus client's defaults from 5ms to 10s.
var Buckets = []time.Duration{
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

const numBuckets = 11 // len(Buckets); the histogram has one more, +Inf

// The recent window: one-minute slots, the current one and RecentMinutes
// before it, for a rate that follows the traffic rather than its average
// since counting began.
const (
	slotSeconds = 60
	// RecentMinutes is how many whole minutes before the current one the
	// recent rate covers.
	RecentMinutes = 5
	ringLen       = RecentMinutes + 1
)

// Tracker counts outbound calls per edge. Its methods are safe for
// concurrent use.
type Tracker struct {
	cfg       Config
	log       *slog.Logger
	statePath string
	metrics   *metrics

	clock atomic.Int64 // a recent Unix second, refreshed lazily by Observe
	since atomic.Int64 // Unix nanoseconds: when counting began

	mu     sync.Mutex                       // serialises changes to nodes
	nodes  atomic.Pointer[map[string]*node] // by source; copy on write: readers never lock
	count  atomic.Int64                     // edges held
	spills atomic.Uint64                    // calls counted under (source, Other) because of MaxEdges

	closeOnce sync.Once
	closeErr  error
}

// node holds the edges out of one source.
type node struct {
	name string
	mu   sync.Mutex
	out  map[string]*edge // by destination
}

// edge is the fixed-size record of one (source, destination).
type edge struct {
	requests, errors uint64
	hist             [numBuckets + 1]uint64 // per bucket, not cumulative; the last one is +Inf
	histSumUs        uint64                 // microseconds: integers add up exactly when states merge
	first, last      int64                  // Unix seconds
	recent           [ringLen]slot
}

// slot counts one minute of an edge's calls.
type slot struct {
	minute           int64 // Unix minute; 0 with empty counts is an unused slot
	requests, errors uint64
}

// New returns a Tracker and restores its last checkpoint from
// cfg.StateDir, if any. A corrupt checkpoint is logged and ignored.
func New(cfg Config) (*Tracker, error) {
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = time.Minute
	}
	if cfg.MaxEdges <= 0 {
		cfg.MaxEdges = DefaultMaxEdges
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
	now := cfg.Now()
	t.clock.Store(now.Unix())
	t.since.Store(now.UnixNano())
	t.nodes.Store(&map[string]*node{})
	var err error
	if t.metrics, err = newMetrics(cfg.Registerer, t); err != nil {
		return nil, err
	}
	if cfg.StateDir != "" {
		t.statePath = statePath(cfg.StateDir)
		t.restore()
	}
	return t, nil
}

// name returns the node a service name is counted under: its catalog name
// (aliases resolve to it), else Other.
func (t *Tracker) name(service string) (string, *catalog.Service) {
	if s := t.cfg.Catalog.Lookup(service); s != nil {
		return s.Name, s
	}
	return Other, nil
}

// Observe counts o when it is a final call with a destination, classified
// by SPEC §3 as if it were final and inbound: with the destination's
// health check, disconnects excluded, 5xx, failure flags and server-side
// gRPC codes bad. It returns the outcome; excluded calls are not counted.
func (t *Tracker) Observe(o *Observation) outcome.Outcome {
	if o.Destination == "" || o.Intermediate {
		return outcome.Excluded
	}
	dst, svc := t.name(o.Destination)
	hc := ""
	if svc != nil {
		hc = svc.HealthCheck
	}
	call := sli.Observation{
		Time: o.Time, Service: dst, TCP: o.TCP, Method: o.Method, Path: o.Path, Status: o.Status,
		GRPCStatus: o.GRPCStatus, ResponseFlags: o.ResponseFlags, Duration: o.Duration,
	}
	out := sli.Classify(&call, hc)
	if out == outcome.Excluded {
		return out
	}
	src, _ := t.name(o.Source)
	sec := t.second(o.Time)
	n := t.node(src)
	n.mu.Lock()
	e := n.edge(dst, t)
	e.add(sec, out == outcome.Bad, o.TCP, o.Duration)
	n.mu.Unlock()
	return out
}

// second returns the Unix second ts happened in, clamped to now: a call
// from the future (clock skew) would otherwise advance the recent slots
// past the present. The clock is read only when ts is newer than the
// cached second.
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

// node returns the node of source name (a catalog name or Other), adding
// it on first sight.
func (t *Tracker) node(name string) *node {
	if n := (*t.nodes.Load())[name]; n != nil {
		return n
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.nodes.Load()
	if n := old[name]; n != nil {
		return n
	}
	m := make(map[string]*node, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	n := &node{name: name, out: map[string]*edge{}}
	m[name] = n
	t.nodes.Store(&m)
	return n
}

// edge returns the edge to dst, adding it if need be; beyond MaxEdges a
// new destination is counted under Other. The caller holds n.mu.
func (n *node) edge(dst string, t *Tracker) *edge {
	if e := n.out[dst]; e != nil {
		return e
	}
	if dst != Other && t.count.Load() >= int64(t.cfg.MaxEdges) {
		t.spills.Add(1)
		dst = Other
		if e := n.out[dst]; e != nil {
			return e
		}
	}
	e := &edge{first: -1}
	n.out[dst] = e
	t.count.Add(1)
	return e
}

// add counts one call at Unix second sec.
func (e *edge) add(sec int64, bad, tcp bool, d time.Duration) {
	var errs uint64
	if bad {
		errs = 1
	}
	e.requests++
	e.errors += errs
	if !tcp {
		i := 0
		for i < numBuckets && d > Buckets[i] {
			i++
		}
		e.hist[i]++
		e.histSumUs += uint64(max(d, 0) / time.Microsecond)
	}
	e.seen(sec, sec)
	e.addRecent(sec/slotSeconds, 1, errs)
}

// seen widens the edge's first and last sighting to include [first, last].
func (e *edge) seen(first, last int64) {
	if e.first < 0 || first < e.first {
		e.first = first
	}
	e.last = max(e.last, last)
}

// addRecent counts calls in minute's slot; a minute older than the slot
// now holds is too old for the recent window and only counts cumulatively.
func (e *edge) addRecent(minute int64, requests, errs uint64) {
	s := &e.recent[minute%ringLen]
	switch {
	case s.minute == minute:
	case s.minute < minute:
		*s = slot{minute: minute}
	default:
		return
	}
	s.requests += requests
	s.errors += errs
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
				t.log.Error("edges checkpoint failed", "err", err)
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
		t.log.Error("edges checkpoint is corrupt; starting from empty state", "path", aside, "err", err)
		t.metrics.checkpointCorrupt.Inc()
		return
	case err != nil:
		t.log.Error("edges checkpoint unreadable; starting from empty state", "path", t.statePath, "err", err)
		return
	}
	t.Add(s)
	t.log.Info("edges state restored", "path", t.statePath, "edges", len(s.Edges), "since", s.Since)
}

// sortedNodes returns the sources by name.
func (t *Tracker) sortedNodes() []*node {
	m := *t.nodes.Load()
	out := make([]*node, 0, len(m))
	for _, n := range m {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	return out
}

var _ io.Closer = (*Tracker)(nil)
