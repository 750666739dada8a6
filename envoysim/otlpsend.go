package envoysim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Protocol is how simulated Envoys send their access logs.
type Protocol string

// Protocols.
const (
	// ALS: Envoy's gRPC Access Log Service streams (the default).
	ALS Protocol = "als"
	// OTLP: OpenTelemetry logs Export calls, one per flushed batch, as
	// Envoy's OpenTelemetry access logger sends them.
	OTLP Protocol = "otlp"
)

// ParseProtocol reads a protocol's name.
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(s); p {
	case ALS, OTLP:
		return p, nil
	}
	return "", fmt.Errorf("protocol %q: want als or otlp", s)
}

// ExportMethod is the full gRPC method of OTLP logs Export.
const ExportMethod = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

// runOTLP is Run for OTLP: one logger per (Envoy, worker thread), each
// exporting a batch at a time.
func (s *Simulator) runOTLP(ctx context.Context) (Stats, error) {
	conn, err := grpc.NewClient(s.cfg.Target, s.cfg.DialOptions...)
	if err != nil {
		return Stats{}, fmt.Errorf("simulator: dial %s: %w", s.cfg.Target, err)
	}
	defer conn.Close()
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := len(s.services) * s.cfg.Sidecars * s.cfg.Streams
	var wg sync.WaitGroup
	errc := make(chan error, n)
	i := 0
	for si := range s.services {
		for sc := range s.cfg.Sidecars {
			for range s.cfg.Streams {
				rng := rand.New(rand.NewPCG(s.cfg.Seed, uint64(i)))
				svc := &s.services[si]
				wg.Go(func() {
					if err := s.otlpLogger(ctx, conn, svc, sc, rng, float64(n)); err != nil {
						errc <- err
						cancel()
					}
				})
				i++
			}
		}
	}
	wg.Wait()
	close(errc)
	return Stats{Entries: s.sent.Load(), Messages: s.msgs.Load(), Elapsed: time.Since(start)}, <-errc
}

// otlpLogger sends one logger's batches until ctx ends or Total is reached.
func (s *Simulator) otlpLogger(ctx context.Context, conn *grpc.ClientConn, svc *simService, sidecar int, rng *rand.Rand, loggers float64) error {
	ip := fmt.Sprintf("10.%d.%d.%d", rng.IntN(250)+1, rng.IntN(250)+1, sidecar+1)
	nodeID := fmt.Sprintf("sidecar~%s~%s-%x~mesh.svc.cluster.local", ip, strings.ReplaceAll(svc.name, "_", "-"), rng.Uint32())
	enc, err := newOTLPEncoder(OTLPResource(nodeID, svc.cluster, "otel"), s.cfg.Vocabulary, &entryGen{svc: svc, rng: rng, ip: ip, services: s.services})
	if err != nil {
		return err
	}
	var interval time.Duration
	if s.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(s.cfg.BatchSize) * loggers / s.cfg.Rate)
	}
	next := time.Now()
	for ctx.Err() == nil {
		batch := s.take()
		if batch == 0 {
			break
		}
		resp, err := ExportFrame(ctx, conn, enc.request(int(batch), time.Now()))
		if err != nil {
			s.sent.Add(-batch)
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("simulator: export: %w", err)
		}
		if ps := resp.GetPartialSuccess(); ps.GetRejectedLogRecords() > 0 {
			return fmt.Errorf("simulator: alsd rejected %d log records: %s", ps.GetRejectedLogRecords(), ps.GetErrorMessage())
		}
		s.msgs.Add(1)
		if interval > 0 {
			next = next.Add(interval)
			select {
			case <-time.After(time.Until(next)):
			case <-ctx.Done():
			}
		}
	}
	return nil
}

// otlpEncoder assembles Export requests from log records encoded once:
// each with its time_unix_nano first, so a request needs only copies and
// the current time written over the old.
type otlpEncoder struct {
	resource []byte   // the encoded Resource
	records  [][]byte // encoded LogRecords, time first
	pos      int
	buf      []byte
}

// otlpPool is how many distinct entries a logger renders and repeats.
const otlpPool = 2048

func newOTLPEncoder(res proto.Message, v Vocabulary, gen *entryGen) (*otlpEncoder, error) {
	if v == "" {
		v = Meshtel
	}
	e := &otlpEncoder{}
	var err error
	if e.resource, err = proto.Marshal(res); err != nil {
		return nil, err
	}
	for range otlpPool {
		var lr *logspb.LogRecord
		if gen.svc.tcp {
			lr = v.TCP(gen.tcp())
		} else {
			lr = v.HTTP(gen.http())
		}
		lr.TimeUnixNano = 0
		rest, err := proto.Marshal(lr)
		if err != nil {
			return nil, err
		}
		b := protowire.AppendTag(nil, 1, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, 0)
		e.records = append(e.records, append(b, rest...))
	}
	return e, nil
}

// request is an ExportLogsServiceRequest of the next n records, stamped
// with now: one ResourceLogs, one ScopeLogs.
func (e *otlpEncoder) request(n int, now time.Time) []byte {
	var scope []byte
	for range n {
		r := e.records[e.pos%len(e.records)]
		e.pos++
		scope = protowire.AppendTag(scope, 2, protowire.BytesType)
		scope = protowire.AppendVarint(scope, uint64(len(r)))
		at := len(scope)
		scope = append(scope, r...)
		binary.LittleEndian.PutUint64(scope[at+1:], uint64(now.UnixNano()))
	}
	rl := protowire.AppendTag(nil, 1, protowire.BytesType)
	rl = protowire.AppendBytes(rl, e.resource)
	rl = protowire.AppendTag(rl, 2, protowire.BytesType)
	rl = protowire.AppendBytes(rl, scope)
	req := protowire.AppendTag(e.buf[:0], 1, protowire.BytesType)
	req = protowire.AppendBytes(req, rl)
	e.buf = req
	return req
}

// ExportFrame sends frame, an encoded ExportLogsServiceRequest, over conn
// as it is — also what proto.Marshal would refuse to write, such as
// invalid UTF-8 — and returns the answer.
func ExportFrame(ctx context.Context, conn grpc.ClientConnInterface, frame []byte) (*collogspb.ExportLogsServiceResponse, error) {
	resp := &collogspb.ExportLogsServiceResponse{}
	if err := conn.Invoke(ctx, ExportMethod, rawMessage(frame), resp, grpc.ForceCodecV2(rawCodec{})); err != nil {
		return nil, err
	}
	return resp, nil
}

// rawMessage is a message already encoded.
type rawMessage []byte

// rawCodec sends a rawMessage as it is, and decodes responses as protobuf.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(rawMessage)
	if !ok {
		return nil, errors.New("rawCodec: not a rawMessage")
	}
	return mem.BufferSlice{mem.SliceBuffer(m)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return encoding.GetCodecV2(grpcproto.Name).Unmarshal(data, v)
}

func (rawCodec) Name() string { return grpcproto.Name }
