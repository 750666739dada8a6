package accesslog

import (
	"testing"
	"time"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// benchMessage is one ALS message of 100 simulated HTTP entries, encoded as
// Envoy sends it.
func benchMessage(b *testing.B) []byte {
	b.Helper()
	g := envoysim.NewGenerator(envoysim.GeneratorConfig{Service: "web", HealthCheck: "/status", Upstreams: []string{"api"},
		Routes: []string{"default", "api"}, BadRatio: 0.001, Seed: 1})
	entries := make([]*datav3.HTTPAccessLogEntry, 100)
	for i := range entries {
		entries[i] = g.HTTP()
		entries[i].CommonProperties.StartTime = timestamppb.Now()
	}
	msg := &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries}}}
	raw, err := proto.Marshal(msg)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkPipeline measures, per entry, what alsd does with an ALS message
// (wire decoding → Record → JSON) against the bare proto.Unmarshal of the
// same bytes, in the same run: the "x_unmarshal" metric is their ratio
// (target ≤ 1.7). "proto-pipeline-ns/entry" is the path alsd took before
// the wire decoder: proto.Unmarshal, then Converter.HTTP.
func BenchmarkPipeline(b *testing.B) {
	raw := benchMessage(b)
	conv := &Converter{Catalog: testCatalog(b), Classify: func(*record.Record) outcome.Outcome { return outcome.Good }}
	id := &Identity{NodeID: "sidecar~10.0.0.1~web~ns", Cluster: "web", LogName: "als"}
	conv.Bind(id)
	records := make([]record.Record, 100)
	var buf []byte
	const entries = 100

	unmarshal := func() *alsv3.StreamAccessLogsMessage {
		var msg alsv3.StreamAccessLogsMessage
		if err := proto.Unmarshal(raw, &msg); err != nil {
			b.Fatal(err)
		}
		return &msg
	}
	protoPipeline := func() {
		msg := unmarshal()
		now := time.Now()
		buf = buf[:0]
		for i, e := range msg.GetHttpLogs().GetLogEntry() {
			conv.HTTP(&records[i], id, e, now)
			buf = record.AppendJSON(buf, &records[i])
		}
	}
	var w wireBatch
	pipeline := func() {
		w.frame = append(w.frame[:0], raw...) // what the codec does
		if err := w.decode(entries); err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		w.toRecords(conv, records[:w.n], id, now)
		buf = buf[:0]
		for i := range w.n {
			buf = record.AppendJSON(buf, &records[i])
		}
	}
	// They are interleaved so that load from elsewhere on the machine
	// affects all alike.
	b.ReportAllocs()
	var base, full, old time.Duration
	for b.Loop() {
		t0 := time.Now()
		unmarshal()
		t1 := time.Now()
		pipeline()
		t2 := time.Now()
		protoPipeline()
		base += t1.Sub(t0)
		full += t2.Sub(t1)
		old += time.Since(t2)
	}
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N)/entries, "unmarshal-ns/entry")
	b.ReportMetric(float64(full.Nanoseconds())/float64(b.N)/entries, "pipeline-ns/entry")
	b.ReportMetric(float64(old.Nanoseconds())/float64(b.N)/entries, "proto-pipeline-ns/entry")
	b.ReportMetric(float64(full)/float64(base), "x_unmarshal")
}

// BenchmarkWireDecode is the wire path alone, for its allocations: one
// string per record, none per field.
func BenchmarkWireDecode(b *testing.B) {
	raw := benchMessage(b)
	conv := &Converter{Catalog: testCatalog(b)}
	id := &Identity{NodeID: "sidecar~10.0.0.1~web~ns", Cluster: "web", LogName: "als"}
	conv.Bind(id)
	records := make([]record.Record, 100)
	w := wireBatch{frame: raw}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.decode(len(records)); err != nil {
			b.Fatal(err)
		}
		w.toRecords(conv, records[:w.n], id, time.Now())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/entry")
}
