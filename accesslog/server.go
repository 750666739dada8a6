package accesslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/meshtel/meshtel/internal/selfmetric"
	"github.com/meshtel/meshtel/internal/selftrace"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/pii"
	"github.com/meshtel/meshtel/record"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"go.opentelemetry.io/otel/trace"
)

// Submitter takes encoded messages without blocking; the Kafka sink
// (package kafkasink) is one.
type Submitter interface {
	Submit(msgs []record.Message)
}

// Stage sees every batch of Records right after conversion, on the stream's
// goroutine. Records and their slices are reused after it returns: a stage
// copies what it keeps. The SLI engine and the cookie inventory are stages.
type Stage func(records []record.Record)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Converter turns entries into Records. Required.
	Converter *Converter
	// Encoding of Kafka values. Default JSON.
	Encoding record.Encoding
	// Sink receives the encoded records; nil means records are not produced
	// (SLIs and cookies are still computed by the stages).
	Sink Submitter
	// Stages run on every converted batch.
	Stages []Stage
	// MaxStreams caps concurrent ALS streams over all connections, and
	// apart from them concurrent OTLP Export calls. Default 1024.
	MaxStreams int
	// MaxMessageBytes caps one StreamAccessLogsMessage or OTLP request.
	// Default 4 MiB.
	MaxMessageBytes int
	// MaxEntriesPerMessage caps the entries of one message, the log records
	// of one OTLP request. Default 10000.
	MaxEntriesPerMessage int
	// StreamIdleTimeout closes streams silent this long. Default 10m.
	StreamIdleTimeout time.Duration
	// MaxStreamAge ends an ALS stream once it is this old (±10%), right
	// after its next message, with OK and an empty response: Envoy opens a
	// new one for its next flush, through its load balancer, so streams
	// spread over alsd replicas added since. 0, the default, never ends
	// them; alsd's --max-stream-age defaults to 15m.
	MaxStreamAge time.Duration
	// ShutdownGrace is how long open streams get to end on their own at
	// shutdown before they are closed. Default 1s: Envoy streams never end
	// by themselves, and Envoy reconnects elsewhere.
	ShutdownGrace time.Duration
	// ServerOptions are added to the gRPC server's (TLS credentials, say).
	ServerOptions []grpc.ServerOption
	// TracerProvider traces every received batch (span "als.batch"); nil
	// means otel's global provider, a no-op unless the program set one.
	TracerProvider trace.TracerProvider
	// Registerer receives the server's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Server is the Envoy Access Log Service.
type Server struct {
	alsv3.UnimplementedAccessLogServiceServer
	cfg     ServerConfig
	log     *slog.Logger
	m       *serverMetrics
	streams atomic.Int64
	exports atomic.Int64 // OTLP Export calls in progress
	// lastOTLPWarn is when unreadable OTLP records were last logged.
	lastOTLPWarn atomic.Int64
	accepted     atomic.Int64
	shutdown     chan struct{}
	ready        atomic.Bool
	tracer       trace.Tracer
}

// NewServer checks cfg and fills its defaults.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Converter == nil {
		return nil, errors.New("accesslog server: no converter")
	}
	if cfg.Encoding == 0 {
		cfg.Encoding = record.JSON
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 1024
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 4 << 20
	}
	if cfg.MaxEntriesPerMessage <= 0 {
		cfg.MaxEntriesPerMessage = 10000
	}
	if cfg.StreamIdleTimeout <= 0 {
		cfg.StreamIdleTimeout = 10 * time.Minute
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg, log: cfg.Logger, m: newServerMetrics(cfg.Registerer), shutdown: make(chan struct{}), tracer: selftrace.Tracer(cfg.TracerProvider)}, nil
}

// Accepted returns the number of entries accepted so far: converted and
// handed to the sink and the stages.
func (s *Server) Accepted() int64 { return s.accepted.Load() }

// Ready reports whether the listener is serving.
func (s *Server) Ready() bool { return s.ready.Load() }

// Serve serves ALS and OTLP logs on lis, and OTLP logs alone on each of
// otlp (alsd's --otlp-addr), all with the same options, until ctx ends.
// Then it stops accepting, ends the open streams (after ShutdownGrace) and
// returns once every handler has handed what it received to the sink.
func (s *Server) Serve(ctx context.Context, lis net.Listener, otlp ...net.Listener) error {
	opts := append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.cfg.MaxMessageBytes),
		grpc.WaitForHandlers(true),
		grpc.ForceServerCodecV2(newFrameCodec()),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
	}, s.cfg.ServerOptions...)
	g := grpc.NewServer(opts...)
	g.RegisterService(&alsServiceDesc, s)
	g.RegisterService(&otlpServiceDesc, s)
	servers := []*grpc.Server{g}
	errc := make(chan error, 1+len(otlp))
	go func() { errc <- g.Serve(lis) }()
	if len(otlp) > 0 {
		og := grpc.NewServer(opts...)
		og.RegisterService(&otlpServiceDesc, s)
		servers = append(servers, og)
		for _, l := range otlp {
			go func() { errc <- og.Serve(l) }()
		}
	}
	s.ready.Store(true)
	defer s.ready.Store(false)
	var err error
	select {
	case err = <-errc:
		err = fmt.Errorf("serve ALS: %w", err)
	case <-ctx.Done():
	}
	s.stop(servers)
	return err
}

// stop stops servers gracefully, ending the streams still open after
// ShutdownGrace.
func (s *Server) stop(servers []*grpc.Server) {
	var wg sync.WaitGroup
	for _, g := range servers {
		wg.Go(g.GracefulStop)
	}
	stopped := make(chan struct{})
	go func() {
		wg.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(s.cfg.ShutdownGrace):
		close(s.shutdown)
		<-stopped
	}
}

// streamWindow and connWindow are the HTTP/2 receive windows alsd
// advertises: how much a sender may have written that alsd has not read.
// Fixed, not grown with the bandwidth-delay product as grpc-go would, they
// bound what is in flight, and lost, when alsd ends a stream
// (MaxStreamAge, shutdown): with grpc-go's growing windows a saturating
// sender lost ten times as many entries per rotation, for no gain in
// throughput. 256 KiB per stream still carries 250 MB/s at 1 ms round
// trip, 5 MB/s at 50 ms.
const (
	streamWindow = 256 << 10
	connWindow   = 4 << 20
)

const errTooManyStreams = "too many ALS streams"

// maxPooledFrame is the largest frame a stream keeps for reuse: Envoy
// flushes its ALS buffer at 16 KiB by default, and a stream that once sent
// a message of MaxMessageBytes should not hold that much for its lifetime.
const maxPooledFrame = 256 << 10

type received struct {
	batch *wireBatch
	err   error
}

// errRotate is what the receiving goroutine hands over, after the last
// message it read, when the stream is older than MaxStreamAge.
var errRotate = errors.New("stream rotated")

// StreamAccessLogs implements the ALS service. Envoy opens one stream per
// worker thread and logger, sends the identifier only in the stream's first
// message and never reads a response, so the handler only ever returns an
// error status, and returns it promptly.
//
// It receives messages undecoded, for the wire decoder, so it works only
// on a gRPC server with the codec Serve installs.
func (s *Server) StreamAccessLogs(stream alsv3.AccessLogService_StreamAccessLogsServer) error {
	return s.streamAccessLogs(stream)
}

func (s *Server) streamAccessLogs(stream grpc.ServerStream) error {
	if n := s.streams.Add(1); n > int64(s.cfg.MaxStreams) {
		s.streams.Add(-1)
		s.m.limitHits.WithLabelValues("streams").Inc()
		return status.Error(codes.ResourceExhausted, errTooManyStreams)
	}
	s.m.streamsActive.Inc()
	defer func() {
		s.streams.Add(-1)
		s.m.streamsActive.Dec()
	}()

	recv := make(chan received, 1)
	free := make(chan *wireBatch, 3)
	go s.receive(stream, recv, free, s.rotateAt(time.Now()))

	st := &streamState{keys: map[string][]byte{}}
	st.id.Principal = verifiedPrincipal(stream.Context())
	st.bind.verified = verifiedLeaf(stream.Context()) != nil
	idle := time.NewTimer(s.cfg.StreamIdleTimeout)
	defer idle.Stop()
	for {
		select {
		case r := <-recv:
			switch {
			case r.err == io.EOF:
				// Envoy never half-closes; other clients (grpc-go's
				// CloseAndRecv) expect the empty response.
				return stream.SendMsg(&alsv3.StreamAccessLogsResponse{})
			case r.err == errRotate:
				s.m.rotated.Inc()
				return stream.SendMsg(&alsv3.StreamAccessLogsResponse{})
			case r.err != nil:
				return r.err
			}
			if err := s.handleTraced(stream.Context(), st, r.batch); err != nil {
				return err
			}
			if cap(r.batch.frame) <= maxPooledFrame {
				select {
				case free <- r.batch:
				default:
				}
			}
			idle.Reset(s.cfg.StreamIdleTimeout)
		case <-idle.C:
			s.m.limitHits.WithLabelValues("idle").Inc()
			return status.Errorf(codes.DeadlineExceeded, "stream idle for %s", s.cfg.StreamIdleTimeout)
		case <-s.shutdown:
			return status.Error(codes.Unavailable, "alsd is shutting down")
		case <-stream.Context().Done():
			// The receiving goroutine may see the reset first and
			// return without handing over its error.
			return status.FromContextError(stream.Context().Err()).Err()
		}
	}
}

// rotateAt is when a stream opened at start is to end: MaxStreamAge later,
// ±10% so that streams opened together (by a fleet restarted together) do
// not end together; zero for never.
func (s *Server) rotateAt(start time.Time) time.Time {
	if s.cfg.MaxStreamAge <= 0 {
		return time.Time{}
	}
	jitter := 0.9 + 0.2*rand.Float64()
	return start.Add(time.Duration(float64(s.cfg.MaxStreamAge) * jitter))
}

// receive reads and decodes the messages of stream and hands them to recv,
// on its own goroutine, so that idle streams and shutdown can end the
// handler while it waits, and decoding overlaps converting. Batches come
// back through free once handled, so frames and entries are reused.
//
// Past rotateAt (unless zero) it reads no further after handing over a
// message: the handler then ends the stream, and only what Envoy had sent
// but alsd not yet read (in flight) is lost. Ending right after a message
// arrived is when the least is in flight: Envoy has just flushed.
func (s *Server) receive(stream grpc.ServerStream, recv chan<- received, free <-chan *wireBatch, rotateAt time.Time) {
	for {
		var w *wireBatch
		select {
		case w = <-free:
		default:
			w = new(wireBatch)
		}
		err := stream.RecvMsg((*rawFrame)(&w.frame))
		if status.Code(err) == codes.ResourceExhausted {
			// Only MaxMessageBytes makes Recv fail this way.
			s.m.limitHits.WithLabelValues("message_bytes").Inc()
		}
		if err == nil {
			if err = w.decode(s.cfg.MaxEntriesPerMessage); err != nil {
				// What grpc-go returns when its codec fails.
				err = status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
			}
		}
		select {
		case recv <- received{w, err}:
		case <-stream.Context().Done():
			return
		}
		if err != nil {
			return
		}
		if !rotateAt.IsZero() && time.Now().After(rotateAt) {
			select {
			case recv <- received{err: errRotate}:
			case <-stream.Context().Done():
			}
			return
		}
	}
}

type streamState struct {
	id      Identity
	started bool
	records []record.Record
	keys    map[string][]byte // service → Kafka key, so keys are not allocated per record
	bind    binding
}

func (s *Server) handle(st *streamState, w *wireBatch) error {
	if w.hasIdentifier {
		// The identity outlives the frame it came in.
		st.id = Identity{NodeID: strings.Clone(w.nodeID), Cluster: strings.Clone(w.cluster), LogName: strings.Clone(w.logNm), Principal: st.id.Principal}
		s.cfg.Converter.Bind(&st.id)
		st.started = true
	} else if !st.started {
		s.m.streamErrors.WithLabelValues("no_identifier").Inc()
		return status.Error(codes.InvalidArgument, "the first message of an ALS stream must carry an identifier (node and log_name)")
	}
	now := time.Now()
	if !w.hasLogs {
		return nil // an identifier-only message
	}
	n := w.n
	if n > s.cfg.MaxEntriesPerMessage {
		return s.tooManyEntries(n)
	}
	st.grow(n)
	w.toRecords(s.cfg.Converter, st.records[:n], &st.id, now)
	if cut := st.id.headersCut; cut > 0 {
		st.id.headersCut = 0
		s.m.limitHits.WithLabelValues("header_bytes").Add(float64(cut))
	}
	s.m.countMasked(&st.id.masked)
	n = s.bindIdentity(st, n)
	records := st.records[:n]
	for _, stage := range s.cfg.Stages {
		stage(records)
	}
	if s.cfg.Sink != nil {
		msgs, err := s.encode(st, records, now)
		if err != nil {
			s.m.streamErrors.WithLabelValues("encode").Inc()
			return status.Errorf(codes.Internal, "encode records: %v", err)
		}
		s.cfg.Sink.Submit(msgs)
	}
	s.m.count(records)
	s.accepted.Add(int64(n))
	return nil
}

func (s *Server) tooManyEntries(n int) error {
	s.m.limitHits.WithLabelValues("entries").Inc()
	return status.Errorf(codes.InvalidArgument, "message has %d log entries, more than the limit of %d", n, s.cfg.MaxEntriesPerMessage)
}

func (st *streamState) grow(n int) {
	for len(st.records) < n {
		st.records = append(st.records, record.Record{})
	}
}

// encode encodes records into one shared buffer: one allocation per batch
// rather than per record.
func (s *Server) encode(st *streamState, records []record.Record, now time.Time) ([]record.Message, error) {
	msgs := make([]record.Message, len(records))
	arena := make([]byte, 0, len(records)*900)
	for i := range records {
		r := &records[i]
		start := len(arena)
		var err error
		if arena, err = s.cfg.Encoding.Append(arena, r); err != nil {
			return nil, err
		}
		key, ok := st.keys[r.Service]
		if !ok {
			key = []byte(r.Service)
			st.keys[r.Service] = key
		}
		msgs[i] = record.Message{Key: key, Value: arena[start:len(arena):len(arena)], Encoding: s.cfg.Encoding, Time: now}
	}
	return msgs, nil
}

// verifiedPrincipal is the identity of an mTLS-verified peer: URI SAN, else
// DNS SAN; "" without a verified client certificate.
func verifiedPrincipal(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return ""
	}
	leaf := info.State.VerifiedChains[0][0]
	if len(leaf.URIs) > 0 {
		return leaf.URIs[0].String()
	}
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames[0]
	}
	return ""
}

// Metric names of the server (SPEC §5).
const (
	MetricRecords        = "alsd_records_total"
	MetricStreamsActive  = "alsd_streams_active"
	MetricLimitHits      = "alsd_limit_hits_total"
	MetricPIIMasked      = "alsd_pii_masked_total"
	MetricStreamsRotated = "alsd_streams_rotated_total"
)

type serverMetrics struct {
	records       [2][numOutcomeLabels]prometheus.Counter // kind × outcome, Unknown ("") first
	streamsActive prometheus.Gauge
	limitHits     *prometheus.CounterVec
	streamErrors  *prometheus.CounterVec
	peersRefused  *prometheus.CounterVec
	piiMasked     [len(pii.Counts{})]prometheus.Counter // by pii.Kind
	dropped       *prometheus.CounterVec
	rotated       prometheus.Counter
}

// numOutcomeLabels counts outcome.Unknown (label "": no classifier ran)
// and the three outcomes.
const numOutcomeLabels = 4

func newServerMetrics(reg prometheus.Registerer) *serverMetrics {
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRecords, Help: "Log entries accepted from Envoy, by kind and SLI outcome."}, []string{"kind", "outcome"})
	m := &serverMetrics{
		streamsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricStreamsActive, Help: "Open ALS streams."}),
		limitHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricLimitHits, Help: "Streams or messages refused by a limit."}, []string{"limit"}),
		rotated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricStreamsRotated, Help: "ALS streams ended by alsd because they were older than --max-stream-age."}),
		streamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "alsd_stream_errors_total", Help: "ALS streams ended, and OTLP requests refused, because of a malformed message, by reason."}, []string{"reason"}),
	}
	for k, kind := range []record.Kind{record.HTTP, record.TCP} {
		for o := range numOutcomeLabels {
			m.records[k][o] = records.WithLabelValues(kind.String(), outcome.Outcome(o).String())
		}
	}
	for _, l := range []string{"streams", "message_bytes", "entries", "idle", "header_bytes"} {
		m.limitHits.WithLabelValues(l)
	}
	m.streamErrors.WithLabelValues("no_identifier")
	m.streamErrors.WithLabelValues("otlp_malformed")
	masked := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricPIIMasked, Help: "Personal data masked in paths and user agents (SPEC §2), by kind."}, []string{"kind"})
	for k := range m.piiMasked {
		m.piiMasked[k] = masked.WithLabelValues(pii.Kind(k).String())
	}
	if reg != nil {
		reg.MustRegister(records, m.streamsActive, m.limitHits, m.streamErrors, masked, m.rotated)
	}
	m.peersRefused = newPeersRefused(reg)
	m.dropped = selfmetric.NewRecordsDropped(reg, selfmetric.DroppedOTLPUnreadable)
	return m
}

// countMasked adds c to alsd_pii_masked_total and clears it.
func (m *serverMetrics) countMasked(c *pii.Counts) {
	for k, n := range c {
		if n > 0 {
			m.piiMasked[k].Add(float64(n))
		}
	}
	*c = pii.Counts{}
}

func (m *serverMetrics) count(records []record.Record) {
	var n [2][numOutcomeLabels]int
	for i := range records {
		r := &records[i]
		if o := int(r.Outcome); o < numOutcomeLabels {
			n[r.Kind][o]++
		}
	}
	for k := range n {
		for o, c := range n[k] {
			if c > 0 {
				m.records[k][o].Add(float64(c))
			}
		}
	}
}
