package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshtel/meshtel/internal/selfmetric"
	"github.com/meshtel/meshtel/internal/selftrace"
	"github.com/meshtel/meshtel/kafkasink/internal/ingestid"
	"github.com/meshtel/meshtel/kafkasink/internal/spool"
	"github.com/meshtel/meshtel/record"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"
)

// Config configures a Sink.
type Config struct {
	// Brokers are the bootstrap brokers, "host:port". Required.
	Brokers []string
	// Topic defaults to record.DefaultTopic.
	Topic string
	// SpoolDir is where undeliverable messages wait. Required: without a
	// spool the sink could not keep its no-loss promise.
	SpoolDir string
	// IdentityDir keeps the ingester id and the reserved sequence numbers
	// of the meshtel-id header (package ingestid). Default SpoolDir.
	IdentityDir string
	// SpoolMaxBytes defaults to 1 GiB; beyond it messages are dropped and
	// counted with reason "spool_full".
	SpoolMaxBytes int64
	// QueueBatches bounds the in-memory queue, in submitted batches.
	// Default 4096. When it is full, batches go to the spool.
	QueueBatches int
	// Workers is the number of concurrent produce calls. Default 4.
	Workers int
	// Lanes is the number of live Kafka writers records are spread over by
	// key: kafka-go has one batch per partition in flight per writer, so
	// Lanes is the batches in flight per partition. A key always takes the
	// same lane. Default 4.
	Lanes int
	// DeliveryTimeout is how long an accepted message may wait for Kafka's
	// acknowledgement before it is written to the spool. A message can wait
	// in the queue for at most one timeout of the produce ahead of it, then
	// its own: with the default 500ms everything accepted is on Kafka or in
	// the spool within 1s (SPEC §1).
	DeliveryTimeout time.Duration
	// Compression defaults to lz4: on a 2-core ingester it costs a fraction
	// of zstd's CPU for most of its ratio on JSON records.
	Compression kafka.Compression
	// BatchBytes caps one produce batch per partition. Default 1 MiB, the
	// broker's default message.max.bytes.
	BatchBytes int64
	// BatchTimeout is the longest a partition batch waits to fill. Default 5ms.
	BatchTimeout time.Duration
	// DrainTimeout bounds the final delivery attempt on shutdown; what is
	// left then goes to the spool. Default 5s.
	DrainTimeout time.Duration
	// Registerer receives the sink's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Transport overrides kafka-go's default transport (tests use it for
	// short timeouts).
	Transport kafka.RoundTripper
	// TracerProvider traces every produce call (span "kafka.produce"); nil
	// means otel's global provider, a no-op unless the program set one.
	TracerProvider trace.TracerProvider
}

// Sink produces messages to Kafka with acks=all without ever blocking the
// caller. Submit queues a batch in memory; workers produce it; whatever
// Kafka does not acknowledge within DeliveryTimeout, whatever does not fit
// the queue, and whatever arrives while Kafka is failing is appended to the
// spool, which a replayer delivers in order, alongside new records once
// Kafka takes records again (so during recovery a service's records can
// reach Kafka out of order; their time field orders them). The replayer has
// a writer and connections of its own and yields to live records (see
// pacer), so live batches never wait behind replayed ones. Delivery is
// at-least-once: a produce that times out may still land, and is then
// replayed too, with the same meshtel-id. Kafka counts as failing (new
// records spooled at once) on errors, and on timeouts only while no produce
// call succeeds: a broker that is merely slow keeps taking live records.
type Sink struct {
	cfg   Config
	log   *slog.Logger
	lanes []*kafka.Writer // live records, spread by key (writeLanes)
	rw    *kafka.Writer   // replayed records: batches and connections apart from live ones
	// transports are the sink's own, closed with it; none when the config
	// brought one, which is the caller's to close.
	transports []*kafka.Transport
	spool      *spool.Spool
	ids        *ingestid.Allocator
	// inflight holds the records of live produce calls that outlived
	// their delivery timeout (spooled, maybe landed).
	inflight *inflight
	m        *sinkMetrics
	tracer   trace.Tracer
	queue    chan *sinkBatch
	closing  atomic.Bool
	// failing is set when a produce fails and cleared by the next one that
	// succeeds: meanwhile new messages go straight to the spool rather than
	// each waiting out a delivery timeout.
	failing atomic.Bool

	pace      pacer
	probed    chan struct{} // closed once the start-up probe has an answer
	healthMu  sync.Mutex
	lastErr   error
	lastErrAt time.Time
	lastOKAt  time.Time
	closeOnce sync.Once
}

type sinkBatch struct {
	msgs     []record.Message
	accepted time.Time
}

// setDefaults fills in the defaults the fields' comments name.
func (cfg *Config) setDefaults() {
	if cfg.Topic == "" {
		cfg.Topic = record.DefaultTopic
	}
	if cfg.IdentityDir == "" {
		cfg.IdentityDir = cfg.SpoolDir
	}
	if cfg.QueueBatches <= 0 {
		cfg.QueueBatches = 4096
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Lanes <= 0 {
		cfg.Lanes = 4
	}
	if cfg.DeliveryTimeout <= 0 {
		cfg.DeliveryTimeout = 500 * time.Millisecond
	}
	if cfg.Compression == 0 {
		cfg.Compression = kafka.Lz4
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 1 << 20
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = 5 * time.Millisecond
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
}

// New opens the spool and prepares the Kafka writer. It does not
// connect: Kafka may be down at start, records then spool.
func New(cfg Config) (*Sink, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka sink: no brokers")
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("kafka sink: no spool directory")
	}
	cfg.setDefaults()
	s := &Sink{
		cfg:      cfg,
		log:      cfg.Logger,
		probed:   make(chan struct{}),
		m:        newSinkMetrics(cfg.Registerer),
		queue:    make(chan *sinkBatch, cfg.QueueBatches),
		tracer:   selftrace.Tracer(cfg.TracerProvider),
		inflight: newInflight(),
	}
	ids, err := ingestid.Open(ingestid.Config{Dir: cfg.IdentityDir, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("kafka sink: %w", err)
	}
	s.ids = ids
	sp, err := spool.Open(spool.Config{
		Dir:       cfg.SpoolDir,
		MaxBytes:  cfg.SpoolMaxBytes,
		OnCorrupt: s.m.spoolCorrupt.Inc,
		Logger:    cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("kafka sink: %w", err)
	}
	s.spool = sp
	if b := sp.Bytes(); b > 0 {
		s.log.Info("spool holds undelivered records from an earlier run; replaying them alongside new ones", "bytes", b)
	}
	s.m.spoolBytes.Set(float64(sp.Bytes()))
	var live, replay kafka.RoundTripper = cfg.Transport, cfg.Transport
	if cfg.Transport == nil {
		// Connections of their own for the replay, so that a large replay
		// request never holds up a live one behind it.
		lt, rt := defaultTransport(), defaultTransport()
		s.transports = []*kafka.Transport{lt, rt}
		live, replay = lt, rt
	}
	for range cfg.Lanes {
		s.lanes = append(s.lanes, cfg.writer(live))
	}
	s.rw = cfg.writer(replay)
	return s, nil
}

// defaultTransport is kafka-go's transport but for its metadata cache:
// 6s by default; a broker shutting down reports its partitions leaderless,
// and a stale cache would fail writes for that long after it is back.
func defaultTransport() *kafka.Transport {
	return &kafka.Transport{MetadataTTL: time.Second, DialTimeout: 2 * time.Second}
}

func (cfg *Config) writer(t kafka.RoundTripper) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Topic:                  cfg.Topic,
		Balancer:               &kafka.Murmur2Balancer{}, // same partition for a key as the Java client
		RequiredAcks:           kafka.RequireAll,
		Compression:            cfg.Compression,
		BatchSize:              1000, // kafka-go preallocates this many per batch; ~BatchBytes of JSON records
		BatchBytes:             cfg.BatchBytes,
		BatchTimeout:           cfg.BatchTimeout,
		MaxAttempts:            3,
		WriteBackoffMin:        20 * time.Millisecond,
		WriteBackoffMax:        200 * time.Millisecond,
		WriteTimeout:           10 * time.Second,
		ReadTimeout:            10 * time.Second,
		AllowAutoTopicCreation: false,
		Transport:              t,
	}
}

// Submit hands a batch to the sink. It never blocks on Kafka: when the
// queue is full or Kafka is failing, the batch is spooled now. Each message
// gets its record.ID here, in acceptance order; it keeps it through
// retries, the spool and replays. The sink owns msgs afterwards.
func (s *Sink) Submit(msgs []record.Message) {
	if len(msgs) == 0 {
		return
	}
	s.ids.Assign(msgs)
	b := &sinkBatch{msgs: msgs, accepted: time.Now()}
	if s.closing.Load() || s.failing.Load() {
		s.toSpool(b.msgs, spoolClosingOrFailing(s))
		return
	}
	select {
	case s.queue <- b:
	default:
		// More than Kafka takes right now: the replayer catches up.
		s.toSpool(b.msgs, spoolQueueFull)
	}
}

// Run produces until ctx ends, then drains the queue (to Kafka within
// DrainTimeout, else to the spool), closes the writer and the spool.
func (s *Sink) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.work(ctx)
		}()
	}
	replayDone := make(chan struct{})
	go func() {
		defer close(replayDone)
		s.probe(ctx)
		close(s.probed)
		s.replay(ctx)
	}()
	wg.Wait()
	<-replayDone
	return s.close()
}

func (s *Sink) work(ctx context.Context) {
	for {
		select {
		case b := <-s.queue:
			b = s.coalesce(b)
			s.deliver(b, b.accepted.Add(s.cfg.DeliveryTimeout))
		case <-ctx.Done():
			return
		}
	}
}

// maxProduce is the most messages one produce call carries: with several
// queued batches in one call, kafka-go fills its partition batches instead
// of waiting BatchTimeout for each small one.
const maxProduce = 4000

// coalesce appends batches waiting in the queue to b while it holds fewer
// than maxProduce messages. The result is as old as b, the oldest.
func (s *Sink) coalesce(b *sinkBatch) *sinkBatch {
	for len(b.msgs) < maxProduce {
		select {
		case next := <-s.queue:
			b.msgs = append(b.msgs, next.msgs...)
		default:
			return b
		}
	}
	return b
}

// close drains what is still queued and closes everything. Submit calls
// made after it spool (or drop, once the spool is closed).
func (s *Sink) close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		deadline := time.Now().Add(s.cfg.DrainTimeout)
		for {
			select {
			case b := <-s.queue:
				s.deliver(b, deadline)
				continue
			default:
			}
			break
		}
		werr := s.rw.Close()
		for _, w := range s.lanes {
			werr = errors.Join(werr, w.Close())
		}
		if werr != nil {
			s.log.Warn("closing kafka writer", "err", werr)
		}
		for _, t := range s.transports {
			// The writers leave their transport's connections and their
			// goroutines open.
			t.CloseIdleConnections()
		}
		err = s.spool.Close()
		s.m.spoolBytes.Set(float64(s.spool.Bytes()))
	})
	return err
}

// deliver produces b, spooling what Kafka has not acknowledged by deadline.
// A call still running then is not abandoned (see straggle).
func (s *Sink) deliver(b *sinkBatch, deadline time.Time) {
	if s.failing.Load() {
		s.toSpool(b.msgs, spoolKafkaFailing)
		return
	}
	wait := time.Until(deadline)
	if wait < 10*time.Millisecond {
		s.toSpool(b.msgs, spoolTimeout)
		return
	}
	c := s.startProduce(b.msgs)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.done:
		s.spoolFailed(b.msgs, c.err)
	case <-t.C:
		s.straggle(b.msgs, c)
	}
}

// spoolFailed spools the msgs a finished produce call did not deliver.
func (s *Sink) spoolFailed(msgs []record.Message, err error) {
	if err == nil {
		return
	}
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(msgs) {
		failed := msgs[:0:0]
		for i, e := range werrs {
			if e != nil {
				failed = append(failed, msgs[i])
			}
		}
		s.m.produced.Add(float64(len(msgs) - len(failed)))
		s.toSpool(failed, spoolKafkaError)
		return
	}
	s.toSpool(msgs, spoolKafkaError)
}

// Paths of a produce call: its span's attribute, and which writer.
const (
	pathLive   = "live"
	pathReplay = "replay"
)

func (s *Sink) produce(ctx context.Context, path string, msgs []record.Message) error {
	var err error
	if path == pathReplay {
		err = s.rw.WriteMessages(ctx, kafkaMessages(msgs)...)
	} else {
		err = s.writeLanes(ctx, kafkaMessages(msgs))
	}
	if err == nil {
		s.m.produced.Add(float64(len(msgs)))
		s.healthy()
		return nil
	}
	s.m.kafkaErrors.Inc()
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		err = writeErrors{werrs}
	}
	err = fmt.Errorf("produce to %q: %w", s.cfg.Topic, err)
	if errors.Is(err, context.DeadlineExceeded) && s.okWithin(2*s.cfg.DeliveryTimeout) {
		// Slow, not down: other produce calls succeed. Spooling every new
		// record would only add replay load to a broker at its limit.
		return err
	}
	// Down, or slower than the delivery timeout throughout: new records
	// go to the spool at once instead of each waiting it out.
	s.unhealthy(err)
	return err
}

// okWithin reports whether a produce call succeeded within d.
func (s *Sink) okWithin(d time.Duration) bool {
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	return time.Since(s.lastOKAt) < d
}

// writeErrors names kafka-go's per-message errors once: it repeats the
// same cause for every message of a batch.
type writeErrors struct{ kafka.WriteErrors }

func (w writeErrors) Error() string {
	for _, e := range w.WriteErrors {
		if e != nil {
			return fmt.Sprintf("%d of %d messages failed: %v", w.Count(), len(w.WriteErrors), e)
		}
	}
	return "no messages failed"
}

func (w writeErrors) Unwrap() error { return w.WriteErrors }

var contentTypes = map[record.Encoding][]byte{
	record.JSON:  []byte(record.JSON.ContentType()),
	record.Proto: []byte(record.Proto.ContentType()),
}

// kafkaMessages converts msgs with their headers: content-type, meshtel-id
// and, but for the first of a key's chain, meshtel-prev. The headers and
// their values share two allocations per batch.
func kafkaMessages(msgs []record.Message) []kafka.Message {
	kms := make([]kafka.Message, len(msgs))
	hdrs := make([]kafka.Header, 0, 3*len(msgs))
	// A 16-digit ingester id, a sequence and a link of 8 digits or so each;
	// longer ones only make append grow it.
	buf := make([]byte, 0, 36*len(msgs))
	for i := range msgs {
		m := &msgs[i]
		start := len(hdrs)
		hdrs = append(hdrs, kafka.Header{Key: record.HeaderContentType, Value: contentTypes[m.Encoding]})
		if !m.ID.IsZero() {
			from := len(buf)
			buf = m.ID.Append(buf)
			hdrs = append(hdrs, kafka.Header{Key: record.HeaderID, Value: buf[from:len(buf):len(buf)]})
			if m.Prev != 0 {
				from = len(buf)
				buf = strconv.AppendUint(buf, m.Prev, 10)
				hdrs = append(hdrs, kafka.Header{Key: record.HeaderPrev, Value: buf[from:len(buf):len(buf)]})
			}
		}
		kms[i] = kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time, Headers: hdrs[start:len(hdrs):len(hdrs)]}
	}
	return kms
}

// Reasons of alsd_spooled_total: why records went to the spool.
const (
	spoolKafkaFailing = "kafka_failing" // the last produce failed
	spoolKafkaError   = "kafka_error"   // their own produce failed
	spoolTimeout      = "timeout"       // not acknowledged within DeliveryTimeout
	spoolQueueFull    = "queue_full"    // more than Kafka takes right now
	spoolShutdown     = "shutdown"      // submitted while the sink closes
)

func spoolClosingOrFailing(s *Sink) string {
	if s.closing.Load() {
		return spoolShutdown
	}
	return spoolKafkaFailing
}

// toSpool appends msgs to the spool for the replayer, and reports whether
// they are there (else they were dropped, and counted).
func (s *Sink) toSpool(msgs []record.Message, reason string) bool {
	if len(msgs) == 0 {
		return true
	}
	if err := s.spool.Append(msgs); err != nil {
		reason := "spool_error"
		if errors.Is(err, spool.ErrFull) {
			reason = "spool_full"
		}
		s.m.dropped.WithLabelValues(reason).Add(float64(len(msgs)))
		s.log.Error("dropping records", "records", len(msgs), "reason", reason, "err", err)
		return false
	}
	s.m.spooled.WithLabelValues(reason).Add(float64(len(msgs)))
	s.m.spoolBytes.Set(float64(s.spool.Bytes()))
	return true
}

// probe asks the brokers for the topic's metadata once at start: it names
// a missing topic or unreachable brokers in the log right away, and warms
// the connection so the first records need not wait for it.
func (s *Sink) probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: s.rw.Addr, Transport: s.rw.Transport}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{s.cfg.Topic}})
	if err == nil && len(md.Topics) == 1 && md.Topics[0].Error != nil {
		err = md.Topics[0].Error
	}
	if err != nil {
		err = fmt.Errorf("topic %q: %w", s.cfg.Topic, err)
		s.unhealthy(fmt.Errorf("brokers %s at start: %w", strings.Join(s.cfg.Brokers, ","), err))
		return
	}
	s.healthy()
	s.log.Info("kafka reachable", "topic", s.cfg.Topic, "partitions", len(md.Topics[0].Partitions))
}

func (s *Sink) healthy() {
	s.healthMu.Lock()
	s.lastOKAt = time.Now()
	s.healthMu.Unlock()
	if s.failing.Swap(false) {
		s.log.Info("kafka takes records again; producing directly, the spool is replayed alongside", "topic", s.cfg.Topic, "spool_bytes", s.spool.Bytes())
	}
}

func (s *Sink) unhealthy(err error) {
	s.healthMu.Lock()
	s.lastErr, s.lastErrAt = err, time.Now()
	s.healthMu.Unlock()
	if !s.failing.Swap(true) {
		s.log.Warn("kafka is not taking records; spooling them until it does", "topic", s.cfg.Topic, "err", err)
	}
}

// Status describes Kafka reachability for /readyz: ok is false while the
// latest produce attempt failed; the text says why and how much is spooled.
func (s *Sink) Status() (ok bool, text string) {
	s.healthMu.Lock()
	lastErr, errAt, okAt := s.lastErr, s.lastErrAt, s.lastOKAt
	s.healthMu.Unlock()
	spooled := s.spool.Bytes()
	var b strings.Builder
	ok = lastErr == nil || okAt.After(errAt)
	if ok {
		fmt.Fprintf(&b, "kafka: ok (topic %q)", s.cfg.Topic)
	} else {
		fmt.Fprintf(&b, "kafka: unavailable since %s: %v", errAt.UTC().Format(time.RFC3339), lastErr)
	}
	if spooled > 0 {
		fmt.Fprintf(&b, "; %d bytes spooled for replay", spooled)
	}
	return ok, b.String()
}

// Probed is closed once Run's start-up probe of the brokers has an answer,
// reachable or not, so callers can wait for it instead of polling Status:
// a cold connection then does not count as a slow broker.
func (s *Sink) Probed() <-chan struct{} { return s.probed }

// Ingester returns the ingester id of the meshtel-id header.
func (s *Sink) Ingester() string { return s.ids.Ingester() }

// Spooled returns the undelivered bytes in the spool.
func (s *Sink) Spooled() int64 { return s.spool.Bytes() }

type sinkMetrics struct {
	produced     prometheus.Counter
	kafkaErrors  prometheus.Counter
	spooled      *prometheus.CounterVec
	replayed     prometheus.Counter
	replayYields prometheus.Counter
	landed       prometheus.Counter
	spoolBytes   prometheus.Gauge
	spoolCorrupt prometheus.Counter
	dropped      *prometheus.CounterVec
}

// Metric names of the sink (SPEC §5).
const (
	MetricKafkaProduced  = "alsd_kafka_produced_total"
	MetricKafkaErrors    = "alsd_kafka_errors_total"
	MetricSpoolBytes     = "alsd_spool_bytes"
	MetricSpoolCorrupt   = "alsd_spool_corrupt_total"
	MetricRecordsDropped = selfmetric.RecordsDropped
	MetricSpooled        = "alsd_spooled_total"
)

func newSinkMetrics(reg prometheus.Registerer) *sinkMetrics {
	m := &sinkMetrics{
		produced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricKafkaProduced, Help: "Records acknowledged by Kafka (acks=all), including replayed ones."}),
		kafkaErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricKafkaErrors, Help: "Failed produce requests."}),
		spooled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricSpooled, Help: "Records written to the spool instead of straight to Kafka, by reason."}, []string{"reason"}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alsd_spool_replayed_total", Help: "Records replayed from the spool to Kafka."}),
		replayYields: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alsd_spool_replay_yields_total", Help: "Times the replay waited 50ms for live records, which have the broker first."}),
		landed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "alsd_spool_landed_total", Help: "Spooled records whose live produce call, past its delivery timeout, delivered them after all: not replayed."}),
		spoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricSpoolBytes, Help: "Bytes of undelivered records in the spool."}),
		spoolCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricSpoolCorrupt, Help: "Corrupt or truncated spool segment tails found."}),
		// The receivers count into it too.
		dropped: selfmetric.NewRecordsDropped(reg, selfmetric.DroppedSpoolFull),
	}
	if reg != nil {
		reg.MustRegister(m.produced, m.kafkaErrors, m.spooled, m.replayed, m.replayYields, m.landed, m.spoolBytes, m.spoolCorrupt)
	}
	return m
}
