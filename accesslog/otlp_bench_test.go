package accesslog

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
)

const benchRecords = 100

// benchEntries are the simulated HTTP entries of benchMessage.
func benchEntries() []*datav3.HTTPAccessLogEntry {
	g := envoysim.NewGenerator(envoysim.GeneratorConfig{Service: "web", HealthCheck: "/status", Upstreams: []string{"api"},
		Routes: []string{"default", "api"}, BadRatio: 0.001, Seed: 1})
	entries := make([]*datav3.HTTPAccessLogEntry, benchRecords)
	for i := range entries {
		entries[i] = g.HTTP()
		entries[i].CommonProperties.StartTime = timestamppb.Now()
	}
	return entries
}

// benchFrames are the same entries encoded as one ALS message (with the
// identifier) and as one OTLP request per vocabulary.
func benchFrames(b *testing.B) (als []byte, otlp map[envoysim.Vocabulary][]byte) {
	entries := benchEntries()
	msg := &alsv3.StreamAccessLogsMessage{
		Identifier: &alsv3.StreamAccessLogsMessage_Identifier{LogName: "als"},
		LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries}},
	}
	als, err := proto.Marshal(msg)
	if err != nil {
		b.Fatal(err)
	}
	otlp = map[envoysim.Vocabulary][]byte{}
	for _, v := range envoysim.Vocabularies {
		lrs := make([]*logspb.LogRecord, len(entries))
		for i, e := range entries {
			lrs[i] = v.HTTP(e)
		}
		otlp[v] = exportRequest(b, envoysim.OTLPResource("sidecar~10.0.0.1~web~ns", "web", "otel"), lrs...)
	}
	return als, otlp
}

// BenchmarkOTLPDecode measures, per record, what alsd does with an OTLP
// request (wire decoding, the vocabularies → Record → JSON) in each
// vocabulary next to the same entries over ALS, interleaved in one run
// so that load from elsewhere affects all alike. "x_als" metrics are the
// ratios to ALS.
func BenchmarkOTLPDecode(b *testing.B) {
	alsRaw, otlpRaw := benchFrames(b)
	conv := &Converter{Catalog: testCatalog(b), Classify: func(*record.Record) outcome.Outcome { return outcome.Good }}
	id := &Identity{NodeID: "sidecar~10.0.0.1~web~ns", Cluster: "web", LogName: "als"}
	conv.Bind(id)
	records := make([]record.Record, benchRecords)
	var buf []byte
	var w wireBatch
	alsPath := func() {
		w.frame = append(w.frame[:0], alsRaw...)
		if err := w.decode(benchRecords); err != nil {
			b.Fatal(err)
		}
		w.toRecords(conv, records[:w.n], id, time.Now())
		buf = buf[:0]
		for i := range w.n {
			buf = record.AppendJSON(buf, &records[i])
		}
	}
	ob := &otlpBatch{conv: conv, max: benchRecords}
	otlpPath := func(frame []byte) {
		ob.now = time.Now()
		if err := ob.decode(frame); err != nil || len(ob.records) != benchRecords {
			b.Fatalf("%v, %d records, %s", err, len(ob.records), ob.reason)
		}
		buf = buf[:0]
		for i := range ob.records {
			buf = record.AppendJSON(buf, &ob.records[i])
		}
	}
	b.ReportAllocs()
	var alsTime time.Duration
	otlpTime := map[envoysim.Vocabulary]time.Duration{}
	for b.Loop() {
		t := time.Now()
		alsPath()
		alsTime += time.Since(t)
		for _, v := range envoysim.Vocabularies {
			t = time.Now()
			otlpPath(otlpRaw[v])
			otlpTime[v] += time.Since(t)
		}
	}
	perRecord := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) / benchRecords }
	b.ReportMetric(perRecord(alsTime), "als-ns/record")
	for _, v := range envoysim.Vocabularies {
		b.ReportMetric(perRecord(otlpTime[v]), string(v)+"-ns/record")
		b.ReportMetric(float64(otlpTime[v])/float64(alsTime), string(v)+"-x_als")
	}
	b.ReportMetric(float64(len(otlpRaw[envoysim.Meshtel]))/benchRecords, "meshtel-B/record")
	b.ReportMetric(float64(len(alsRaw))/benchRecords, "als-B/record")
}

// discard is a Submitter that drops what it is given.
type discard struct{}

func (discard) Submit([]record.Message) {}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReceiversLoopback sends the same records over gRPC on loopback
// to one server — ALS on 8 streams, OTLP (meshtel attributes) from 8
// concurrent exporters — in alternating rounds, with JSON encoding and a
// discarding sink, and reports records/s and CPU per record of each
// (process CPU: the server and the clients, which only write pre-encoded
// frames), and their ratios.
func BenchmarkReceiversLoopback(b *testing.B) {
	alsRaw, otlpRaw := benchFrames(b)
	// Messages after a stream's first carry no identifier.
	var m alsv3.StreamAccessLogsMessage
	if err := proto.Unmarshal(alsRaw, &m); err != nil {
		b.Fatal(err)
	}
	m.Identifier = nil
	alsNext, err := proto.Marshal(&m)
	if err != nil {
		b.Fatal(err)
	}
	srv, addr, _ := serveOTLP(b, ServerConfig{Converter: &Converter{Catalog: testCatalog(b)}, Sink: discard{}})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	const clients, perClient = 8, 50 // messages of 100 records per client and round
	var alsWall, alsCPU, otlpWall, otlpCPU time.Duration
	for b.Loop() {
		d, c := measure(b, srv, clients*perClient*benchRecords, func() { sendALSRound(b, conn, clients, perClient, alsRaw, alsNext) })
		alsWall, alsCPU = alsWall+d, alsCPU+c
		d, c = measure(b, srv, clients*perClient*benchRecords, func() { exportRound(b, conn, clients, perClient, otlpRaw[envoysim.Meshtel]) })
		otlpWall, otlpCPU = otlpWall+d, otlpCPU+c
	}
	n := float64(b.N * clients * perClient * benchRecords)
	b.ReportMetric(n/alsWall.Seconds(), "als-records/s")
	b.ReportMetric(n/otlpWall.Seconds(), "otlp-records/s")
	b.ReportMetric(float64(alsCPU.Nanoseconds())/n, "als-cpu-ns/record")
	b.ReportMetric(float64(otlpCPU.Nanoseconds())/n, "otlp-cpu-ns/record")
	b.ReportMetric(float64(otlpCPU)/float64(alsCPU), "cpu-x_als")
	b.ReportMetric(alsWall.Seconds()/otlpWall.Seconds(), "records/s-x_als")
}

// measure runs send and waits until the server accepted n more records;
// it returns the wall time and the process CPU time that took.
func measure(b *testing.B, srv *Server, n int, send func()) (wall, cpu time.Duration) {
	want := srv.Accepted() + int64(n)
	t, c := time.Now(), cpuTime()
	send()
	for deadline := time.Now().Add(time.Minute); srv.Accepted() < want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("accepted %d of %d", srv.Accepted(), want)
		}
	}
	return time.Since(t), cpuTime() - c
}

func sendALSRound(b *testing.B, conn *grpc.ClientConn, clients, messages int, first, next []byte) {
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			e := envoysim.NewEnvoy(conn, envoysim.EnvoyConfig{Cluster: "web"})
			for i := range messages {
				frame := next
				if i == 0 {
					frame = first
				}
				if err := e.SendFrame(context.Background(), frame); err != nil {
					b.Error(err)
					e.Reset()
					return
				}
			}
			if err := e.CloseStream(); err != nil {
				b.Error(fmt.Errorf("close stream: %w", err))
			}
		})
	}
	wg.Wait()
}

func exportRound(b *testing.B, conn *grpc.ClientConn, clients, requests int, frame []byte) {
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range requests {
				resp, err := exportRaw(conn, frame)
				if err != nil || resp.GetPartialSuccess() != nil {
					b.Error(err, resp)
					return
				}
			}
		})
	}
	wg.Wait()
}
