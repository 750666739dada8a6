package aggregate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/internal/observe"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/sli"
)

// Defaults of Config.
const (
	DefaultTopic              = record.DefaultTopic
	DefaultStateTopic         = "mesh.alsd.state.v1"
	DefaultGroup              = "meshtel-aggregate"
	DefaultSessionTimeout     = 10 * time.Second
	DefaultCheckpointInterval = 5 * time.Second
)

// Config configures an Aggregator. Brokers is required; every other zero
// field takes the default its comment names.
type Config struct {
	// Brokers are the Kafka bootstrap addresses, host:port.
	Brokers []string
	// Topic is the record topic to consume. Default DefaultTopic.
	Topic string
	// StateTopic is the compacted topic of partition checkpoints, created
	// when missing. Default DefaultStateTopic.
	StateTopic string
	// StateReplicationFactor is the replication factor StateTopic is
	// created with. Default -1: the broker's default.replication.factor.
	StateReplicationFactor int
	// Group is the consumer group. Default DefaultGroup.
	Group string
	// SessionTimeout is how long the group coordinator waits for a silent
	// member before moving its partitions elsewhere. Default
	// DefaultSessionTimeout; brokers refuse values below their
	// group.min.session.timeout.ms (6s by default).
	SessionTimeout time.Duration
	// CheckpointInterval is how often each owned partition's state is
	// written to StateTopic when it has consumed something. Records
	// consumed since the last checkpoint are consumed again after a crash
	// (not counted twice: the state they were counted in is lost with the
	// crash). Default DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// Catalog gives SLOs and health-check paths: outcomes are derived
	// again here, whatever the ingester wrote. Default catalog.Empty().
	Catalog *catalog.Catalog
	// Dialer makes the consumer group's and readers' connections (TLS,
	// SASL). Default kafka.DefaultDialer.
	Dialer *kafka.Dialer
	// Transport makes the checkpoint writer's and admin client's
	// connections. Default kafka.DefaultTransport.
	Transport kafka.RoundTripper
	// Registerer receives the aggregator's own metrics. Nil: none.
	Registerer prometheus.Registerer
	// Now is the clock of the SLI and cookie state. Default time.Now.
	Now func() time.Time
	// Logger receives rebalances, restores and errors. Default
	// slog.Default().
	Logger *slog.Logger
}

// Aggregator consumes the record topic as one member of a consumer group
// and keeps SLI and cookie state for each partition it owns. Create it
// with New, run it with Run, read it with the Report and Handler methods.
type Aggregator struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	client  *kafka.Client
	writer  *kafka.Writer

	partitions atomic.Int64 // of the record topic, once known

	mu       sync.Mutex
	joined   bool               // a generation has been assigned
	waiting  string             // why Run cannot start yet, if it cannot
	assigned []int              // partitions of the current generation
	owned    map[int]*partition // restored partitions being consumed

	// crashed makes Run stop without final checkpoints, as a SIGKILL
	// would (tests only, which also cut the connections: Run's leave then
	// reaches no broker).
	crashed atomic.Bool
	// afterCheckpoint, when set, runs right after a checkpoint is written;
	// afterRestore, when a partition's state is restored (tests only).
	afterCheckpoint func(p int)
	afterRestore    func(p int, next int64)

	runMu     sync.Mutex
	cancelRun context.CancelFunc
	runDone   chan struct{}
	closeOnce sync.Once
}

// partition is the state of one owned record partition.
type partition struct {
	id int
	// tracker is replaced once by widen, while reads of the view may
	// hold the old one.
	tracker   atomic.Pointer[sli.Tracker]
	cat       *catalog.Catalog // the tracker's: partitionCatalog or Config.Catalog
	foreign   map[string]bool  // service → a catalog service the tracker's catalog lacks
	inventory *cookies.Inventory
	edges     *edges.Tracker // with the whole catalog: destinations are any service
	seen      *seen          // record ids counted; only the partition's goroutine uses it
	next      atomic.Int64   // offset of the first record not in the state
	saved     int64          // next as of the last checkpoint
	// lease is when, in Unix nanoseconds, the coordinator may have given
	// the partition to another member: the last offset commit it accepted,
	// sent then, renewed the membership until a session timeout later. Past
	// it the partition is not answered for (a process frozen beyond its
	// session resumes without knowing it lost its partitions).
	lease  atomic.Int64
	fenced bool // the last renewal failed; only the partition's goroutine uses it
	lag    prometheus.Gauge
	rec    record.Record
}

// New checks cfg and returns an Aggregator. It does not connect: Run does.
func New(cfg Config) (*Aggregator, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("aggregate: no kafka brokers")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.StateTopic == "" {
		cfg.StateTopic = DefaultStateTopic
	}
	if cfg.StateTopic == cfg.Topic {
		return nil, fmt.Errorf("aggregate: state topic %q is the record topic", cfg.StateTopic)
	}
	if cfg.StateReplicationFactor == 0 {
		cfg.StateReplicationFactor = -1
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.Catalog == nil {
		cfg.Catalog = catalog.Empty()
	}
	if cfg.Dialer == nil {
		cfg.Dialer = kafka.DefaultDialer
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Check the catalog's objectives now rather than at the first
	// assignment.
	if _, err := sli.New(sli.Config{Catalog: cfg.Catalog, Now: cfg.Now, Logger: cfg.Logger}); err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	a := &Aggregator{cfg: cfg, log: cfg.Logger, metrics: m, owned: map[int]*partition{}}
	a.client = &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: cfg.Transport}
	a.writer = &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.StateTopic,
		Balancer:     keyPartition{},
		RequiredAcks: kafka.RequireAll,
		Compression:  kafka.Zstd,
		BatchSize:    1, // one checkpoint is one batch: nothing to wait for
		BatchBytes:   maxMessageBytes,
		MaxAttempts:  5,
		WriteTimeout: 10 * time.Second,
		Transport:    cfg.Transport,
	}
	return a, nil
}

// Run joins the consumer group and consumes until ctx ends, then writes a
// last checkpoint of every owned partition, commits and leaves the group.
// While Kafka cannot be reached, the record topic is missing or the state
// topic cannot be created, it waits and retries (Ready says why). It
// returns an error only for a consumer group it cannot configure.
func (a *Aggregator) Run(ctx context.Context) error {
	a.runMu.Lock()
	if a.runDone != nil {
		a.runMu.Unlock()
		return errors.New("aggregate: Run called twice or after Close")
	}
	ctx, cancel := context.WithCancel(ctx)
	a.cancelRun, a.runDone = cancel, make(chan struct{})
	done := a.runDone
	a.runMu.Unlock()
	defer close(done)
	defer cancel()

	n, err := a.ensureStateTopic(ctx)
	for attempt := 1; err != nil; attempt++ {
		// Kafka down, or the record topic not created yet: wait, not ready,
		// saying why, rather than exit and crash-loop.
		a.mu.Lock()
		a.waiting = err.Error()
		a.mu.Unlock()
		a.log.Warn("waiting for kafka", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(min(time.Duration(attempt)*time.Second, 10*time.Second)):
		}
		n, err = a.ensureStateTopic(ctx)
	}
	a.partitions.Store(int64(n))
	hb := max(a.cfg.SessionTimeout/10, 100*time.Millisecond)
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                a.cfg.Group,
		Brokers:           a.cfg.Brokers,
		Dialer:            a.cfg.Dialer,
		Topics:            []string{a.cfg.Topic},
		HeartbeatInterval: hb,
		SessionTimeout:    a.cfg.SessionTimeout,
		RebalanceTimeout:  a.cfg.SessionTimeout,
		JoinGroupBackoff:  time.Second,
		StartOffset:       kafka.FirstOffset,
		Logger:            kafka.LoggerFunc(a.kafkaDebug),
		ErrorLogger:       kafka.LoggerFunc(a.kafkaLog),
	})
	if err != nil {
		return fmt.Errorf("aggregate: consumer group %q: %w", a.cfg.Group, err)
	}
	var wg sync.WaitGroup
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			a.log.Warn("consumer group: no generation yet", "group", a.cfg.Group, "err", err)
			continue
		}
		a.startGeneration(ctx, gen, &wg)
	}
	// Partitions checkpoint as they see ctx end; then leave, so that the
	// next owners start at once instead of after the session timeout.
	// Crashed, they write no checkpoint, and the test that crashed us has
	// cut every connection: closing reaches no broker, and only ends the
	// goroutines a killed process would not keep.
	wg.Wait()
	cg.Close()
	a.writer.Close()
	return nil
}

// startGeneration starts consuming every partition gen assigns to us.
func (a *Aggregator) startGeneration(ctx context.Context, gen *kafka.Generation, wg *sync.WaitGroup) {
	var ids []int
	for _, pa := range gen.Assignments[a.cfg.Topic] {
		ids = append(ids, pa.ID)
	}
	slices.Sort(ids)
	a.mu.Lock()
	a.joined, a.assigned = true, ids
	a.mu.Unlock()
	a.metrics.rebalances.Inc()
	a.log.Info("consumer group generation", "group", a.cfg.Group, "generation", gen.ID, "member", gen.MemberID, "partitions", ids)
	for _, p := range ids {
		wg.Add(1)
		gen.Start(func(gctx context.Context) {
			defer wg.Done()
			// The partition stops when the generation ends (rebalance)
			// or when Run's ctx does (shutdown).
			pctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(gctx, cancel)
			defer stop()
			a.consume(pctx, gen, p)
		})
	}
}

// consume restores partition p and consumes it until ctx ends. Every
// window it renews its claim on the partition with an offset commit and,
// every CheckpointInterval, checkpoints — only right after a commit the
// coordinator accepted, so a member that lost the partition (a rebalance it
// slept through) writes nothing for it.
func (a *Aggregator) consume(ctx context.Context, gen *kafka.Generation, p int) {
	start := time.Now()
	pt, err := a.restore(ctx, p)
	if err != nil {
		return // ctx ended while restoring
	}
	a.metrics.restoreSeconds.Observe(time.Since(start).Seconds())
	if a.afterRestore != nil {
		a.afterRestore(p, pt.next.Load())
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     a.cfg.Brokers,
		Topic:       a.cfg.Topic,
		Partition:   p,
		Dialer:      a.cfg.Dialer,
		MinBytes:    1,
		MaxBytes:    16 << 20,
		MaxWait:     250 * time.Millisecond,
		Logger:      kafka.LoggerFunc(a.kafkaDebug),
		ErrorLogger: kafka.LoggerFunc(a.kafkaLog),
	})
	defer r.Close()
	// Without a checkpoint next is 0: everything the topic still holds
	// counts (the reader skips ahead to the log start when retention
	// removed offset 0).
	from := pt.next.Load()
	if err := r.SetOffset(from); err != nil {
		a.log.Error("seek", "partition", p, "offset", from, "err", err)
		return
	}
	a.own(pt)
	defer a.disown(pt)
	a.renew(gen, pt)

	window := min(a.cfg.CheckpointInterval, a.cfg.SessionTimeout/3)
	saved := time.Now()
	for {
		a.fetch(ctx, r, pt, window)
		if ctx.Err() != nil {
			if !a.crashed.Load() && a.renew(gen, pt) {
				wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				a.checkpoint(wctx, gen, pt)
				cancel()
			}
			return
		}
		if a.renew(gen, pt) && time.Since(saved) >= a.cfg.CheckpointInterval {
			a.checkpoint(ctx, gen, pt)
			saved = time.Now()
		}
	}
}

// fetch applies the records of pt that arrive within window.
func (a *Aggregator) fetch(ctx context.Context, r *kafka.Reader, pt *partition, window time.Duration) {
	due, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	for {
		m, err := r.FetchMessage(due)
		if err != nil {
			if due.Err() == nil {
				// The reader retries by itself; wait out the window
				// rather than spin on its errors.
				a.log.Warn("read records", "topic", a.cfg.Topic, "partition", pt.id, "err", err)
				<-due.Done()
			}
			return
		}
		a.apply(pt, &m)
	}
}

// renew commits pt's next offset to the group, which the coordinator
// takes only from a member of the current generation: it is the fence
// before a checkpoint, and it extends pt's lease. (The committed offsets
// also feed lag monitoring; restores ignore them.)
func (a *Aggregator) renew(gen *kafka.Generation, pt *partition) bool {
	sent := time.Now()
	next := pt.next.Load()
	if err := gen.CommitOffsets(map[string]map[int]int64{a.cfg.Topic: {pt.id: next}}); err != nil {
		a.metrics.fenced.Inc()
		if !pt.fenced {
			a.log.Warn("the group coordinator did not confirm this member owns the partition: no checkpoint for it until it does",
				"partition", pt.id, "generation", gen.ID, "member", gen.MemberID, "err", err)
		}
		pt.fenced = true
		return false
	}
	pt.fenced = false
	// Commits renew the session like heartbeats; the heartbeat before this
	// one may have been up to a tenth of it earlier.
	pt.lease.Store(sent.Add(a.cfg.SessionTimeout * 8 / 10).UnixNano())
	return true
}

// leased reports whether pt is still surely ours.
func (pt *partition) leased() bool { return time.Now().UnixNano() < pt.lease.Load() }

// apply accounts one record of partition pt. Only pt's goroutine calls
// it, so the state and pt.next always agree.
func (a *Aggregator) apply(pt *partition, m *kafka.Message) {
	pt.lag.Set(float64(max(m.HighWaterMark-m.Offset-1, 0)))
	defer pt.next.Store(m.Offset + 1)
	h := readHeaders(m.Headers)
	if h.ingester != nil {
		closed := pt.seen.closed
		dup := pt.seen.add(h.ingester, m.Key, h.seq, h.prev, m.Time.UnixMilli())
		a.metrics.holesClosed.Add(float64(pt.seen.closed - closed))
		if dup {
			a.metrics.skipped.WithLabelValues(reasonDuplicate).Inc()
			return
		}
	}
	if h.proto {
		a.metrics.skipped.WithLabelValues(reasonProto).Inc()
		return
	}
	r := &pt.rec
	if err := record.ParseJSON(m.Value, r); err != nil {
		a.metrics.skipped.WithLabelValues(reasonDecode).Inc()
		a.log.Debug("record skipped", "partition", pt.id, "offset", m.Offset, "err", err)
		return
	}
	a.metrics.records.Inc()
	if pt.cat != a.cfg.Catalog && a.isForeign(pt, r.Service) {
		a.widen(pt, r.Service)
	}
	o := observe.SLI(r)
	pt.tracker.Load().Observe(&o)
	// Cookies count from final entries only, as in the all-in-one alsd.
	if !r.Intermediate && len(r.Cookies) > 0 {
		pt.inventory.Observe(r.Service, r.Authority, r.Time, r.Cookies, nil)
	}
	if e, ok := observe.Edge(r); ok {
		pt.edges.Observe(&e)
	}
}

// headers are what apply needs of a record's Kafka headers.
type headers struct {
	proto    bool   // produced with --kafka-encoding=proto
	ingester []byte // of meshtel-id; nil without a valid one
	seq      uint64
	prev     uint64 // meshtel-prev; 0 without one
}

func readHeaders(hs []kafka.Header) headers {
	var h headers
	for _, kh := range hs {
		switch {
		case strings.EqualFold(kh.Key, record.HeaderContentType):
			h.proto = strings.HasPrefix(string(kh.Value), "application/x-protobuf")
		case kh.Key == record.HeaderID:
			// A malformed id counts the record as one without an id.
			h.ingester, h.seq, _ = record.ParseID(kh.Value)
		case kh.Key == record.HeaderPrev:
			h.prev, _ = record.ParseSeq(kh.Value)
		}
	}
	return h
}

// restore builds partition p's state from its newest checkpoint. It retries
// Kafka errors until ctx ends.
func (a *Aggregator) restore(ctx context.Context, p int) (*partition, error) {
	for attempt := 0; ; attempt++ {
		pt, err := a.restoreOnce(ctx, p)
		if err == nil {
			return pt, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.log.Warn("restore failed; retrying", "partition", p, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second)):
		}
	}
}

func (a *Aggregator) restoreOnce(ctx context.Context, p int) (*partition, error) {
	pt, err := a.newPartition(p)
	if err != nil {
		return nil, err
	}
	c, err := a.latestCheckpoint(ctx, p)
	if err != nil {
		return nil, err
	}
	if c == nil {
		a.log.Info("no checkpoint: partition starts from its first record", "partition", p)
		return pt, nil
	}
	if err := a.load(pt, c); err != nil {
		return nil, err
	}
	a.log.Info("partition restored", "partition", p, "next_offset", c.NextOffset, "saved_at", c.SavedAt, "by", c.Member)
	return pt, nil
}

// load puts checkpoint c into the new partition pt.
func (a *Aggregator) load(pt *partition, c *checkpoint) error {
	p := pt.id
	var st sli.State
	if err := st.UnmarshalBinary(c.SLI); err != nil {
		return fmt.Errorf("checkpoint of partition %d at offset %d: %w", p, c.NextOffset, err)
	}
	if len(c.Seen) > 0 {
		if err := pt.seen.UnmarshalBinary(c.Seen); err != nil {
			return fmt.Errorf("checkpoint of partition %d at offset %d: %w", p, c.NextOffset, err)
		}
	}
	// MergeState takes nothing from a bad state, and pt is dropped then.
	if err := pt.inventory.MergeState(c.Cookies); err != nil {
		return fmt.Errorf("checkpoint of partition %d at offset %d: %w", p, c.NextOffset, err)
	}
	if c.Edges != nil { // nil: written before edges were counted
		var es edges.State
		if err := es.UnmarshalBinary(c.Edges); err != nil {
			return fmt.Errorf("checkpoint of partition %d at offset %d: %w", p, c.NextOffset, err)
		}
		pt.edges.Add(&es)
	}
	for _, ss := range st.Services {
		if (len(ss.Routes) > 0 || len(ss.Slots) > 0) && a.isForeign(pt, ss.Name) {
			a.widen(pt, ss.Name)
			break
		}
	}
	pt.tracker.Load().Add(&st)
	pt.next.Store(c.NextOffset)
	pt.saved = c.NextOffset
	return nil
}

func (a *Aggregator) newPartition(p int) (*partition, error) {
	cat := a.partitionCatalog(p)
	t, err := sli.New(sli.Config{Catalog: cat, Now: a.cfg.Now, Logger: a.log})
	if err != nil {
		return nil, err
	}
	inv, err := cookies.New(cookies.Config{Catalog: a.cfg.Catalog, Now: a.cfg.Now, Logger: a.log})
	if err != nil {
		return nil, err
	}
	et, err := edges.New(edges.Config{Catalog: a.cfg.Catalog, Now: a.cfg.Now, Logger: a.log})
	if err != nil {
		return nil, err
	}
	pt := &partition{id: p, cat: cat, foreign: map[string]bool{}, inventory: inv, edges: et, seen: newSeen(),
		lag: a.metrics.lag.WithLabelValues(strconv.Itoa(p))}
	pt.tracker.Store(t)
	return pt, nil
}

// partitionCatalog is Config.Catalog with only the services whose records
// partition p holds (keyed by murmur2, as alsd's sink keys them). A
// tracker keeps windows for every catalog service from its start, some
// 50 KB each: with the whole catalog in every partition, an aggregator's
// memory would grow with partitions × services.
func (a *Aggregator) partitionCatalog(p int) *catalog.Catalog {
	full := a.cfg.Catalog
	n := int(a.partitions.Load())
	if n == 0 {
		return full
	}
	c := &catalog.Catalog{File: full.File, Defaults: full.Defaults, Pipeline: full.Pipeline, Privacy: full.Privacy, Teams: full.Teams}
	for _, s := range full.Services {
		if PartitionOf(s.Name, n) == p {
			c.Services = append(c.Services, s)
		}
	}
	return c
}

// maxForeignCache bounds the names isForeign remembers: senders choose them.
const maxForeignCache = 10000

// isForeign reports whether service is a catalog service that pt's
// tracker does not know: its records were keyed by another partitioner.
func (a *Aggregator) isForeign(pt *partition, service string) bool {
	if f, ok := pt.foreign[service]; ok {
		return f
	}
	f := pt.cat.Lookup(service) == nil && a.cfg.Catalog.Lookup(service) != nil
	if len(pt.foreign) < maxForeignCache {
		pt.foreign[service] = f
	}
	return f
}

// widen moves pt to a tracker with the whole catalog, so that a catalog
// service whose records arrive in pt's partition is classified with its
// own health check and objectives rather than as an unknown service.
func (a *Aggregator) widen(pt *partition, service string) {
	t, err := sli.New(sli.Config{Catalog: a.cfg.Catalog, Now: a.cfg.Now, Logger: a.log})
	if err != nil {
		a.log.Error("widen partition tracker", "partition", pt.id, "err", err)
		return
	}
	t.Add(pt.tracker.Load().State())
	pt.tracker.Store(t)
	pt.cat = a.cfg.Catalog
	a.log.Warn("records of a catalog service arrive in a partition murmur2 does not give it: producers do not key by murmur2; this partition now holds windows for every catalog service",
		"service", service, "partition", pt.id, "murmur2_partition", PartitionOf(service, int(a.partitions.Load())))
}

// checkpoint writes pt's state with its next offset, when it has consumed
// anything since the last one. Errors are logged and counted: the next
// interval retries.
func (a *Aggregator) checkpoint(ctx context.Context, gen *kafka.Generation, pt *partition) {
	next := pt.next.Load()
	if next == pt.saved {
		return
	}
	st, err := pt.tracker.Load().State().MarshalBinary()
	if err == nil {
		var ck, sn []byte
		pt.seen.expire()
		if ck, err = pt.inventory.MarshalBinary(); err == nil {
			sn, err = pt.seen.MarshalBinary()
		}
		if err == nil {
			c := &checkpoint{
				checkpointHeader: checkpointHeader{Topic: a.cfg.Topic, Partition: pt.id, NextOffset: next,
					SavedAt: a.cfg.Now().UTC(), Member: gen.MemberID, Generation: int(gen.ID)},
				SLI:     st,
				Cookies: ck,
				Seen:    sn,
			}
			if c.Edges, err = pt.edges.State().MarshalBinary(); err == nil {
				err = a.writeCheckpoint(ctx, c)
			}
		}
	}
	if err != nil {
		a.metrics.checkpoints.WithLabelValues("error").Inc()
		a.log.Error("checkpoint failed", "partition", pt.id, "next_offset", next, "err", err)
		return
	}
	a.metrics.checkpoints.WithLabelValues("ok").Inc()
	pt.saved = next
	if a.afterCheckpoint != nil {
		a.afterCheckpoint(pt.id)
	}
}

func (a *Aggregator) own(pt *partition) {
	a.mu.Lock()
	a.owned[pt.id] = pt
	n := len(a.owned)
	a.mu.Unlock()
	a.metrics.owned.Set(float64(n))
}

func (a *Aggregator) disown(pt *partition) {
	a.mu.Lock()
	delete(a.owned, pt.id)
	n := len(a.owned)
	a.mu.Unlock()
	a.metrics.owned.Set(float64(n))
	// Another member reports this partition's lag now.
	a.metrics.lag.DeleteLabelValues(strconv.Itoa(pt.id))
}

// Ready reports whether the aggregator serves complete state for what it
// owns: false before it joined the group and while any partition assigned
// to it is still being restored. The text says which.
func (a *Aggregator) Ready() (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.joined {
		if a.waiting != "" {
			return false, "waiting for kafka: " + a.waiting
		}
		return false, fmt.Sprintf("joining consumer group %q", a.cfg.Group)
	}
	var restoring, unconfirmed []int
	for _, p := range a.assigned {
		switch pt := a.owned[p]; {
		case pt == nil:
			restoring = append(restoring, p)
		case !pt.leased():
			unconfirmed = append(unconfirmed, p)
		}
	}
	if len(restoring) > 0 {
		return false, fmt.Sprintf("restoring partitions %v of %q", restoring, a.cfg.Topic)
	}
	if len(unconfirmed) > 0 {
		return false, fmt.Sprintf("partitions %v of %q not confirmed by the group coordinator for a session timeout: they may be another member's now", unconfirmed, a.cfg.Topic)
	}
	return true, fmt.Sprintf("consuming partitions %v of %q in group %q", a.assigned, a.cfg.Topic, a.cfg.Group)
}

// Partitions returns the record partitions the aggregator answers for
// now, ascending: those it holds the state of and the group coordinator
// confirmed it owns within a session timeout.
func (a *Aggregator) Partitions() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]int, 0, len(a.owned))
	for p, pt := range a.owned {
		if pt.leased() {
			ids = append(ids, p)
		}
	}
	slices.Sort(ids)
	return ids
}

// Close stops Run, waiting for its final checkpoints. It is safe to call
// more than once and without Run.
func (a *Aggregator) Close() error {
	a.closeOnce.Do(func() {
		a.runMu.Lock()
		cancel, done := a.cancelRun, a.runDone
		if done == nil {
			a.runDone = make(chan struct{}) // a later Run refuses to start
			close(a.runDone)
		}
		a.runMu.Unlock()
		if cancel != nil {
			cancel()
			<-done
		}
	})
	return nil
}

// kafkaLog and kafkaDebug route kafka-go's printf logging to slog.
func (a *Aggregator) kafkaLog(format string, args ...any) {
	a.log.Warn("kafka: " + fmt.Sprintf(format, args...))
}

func (a *Aggregator) kafkaDebug(format string, args ...any) {
	if a.log.Enabled(context.Background(), slog.LevelDebug) {
		a.log.Debug("kafka: " + fmt.Sprintf(format, args...))
	}
}

var _ io.Closer = (*Aggregator)(nil)
