package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/record"
)

func exportRaw(conn *grpc.ClientConn, frame []byte) (*collogspb.ExportLogsServiceResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return envoysim.ExportFrame(ctx, conn, frame)
}

// capture is a stage and a sink that keep what they are given.
type capture struct {
	mu      sync.Mutex
	records []map[string]any
	values  [][]byte
}

func (c *capture) stage(records []record.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range records {
		var m map[string]any
		if err := json.Unmarshal(record.AppendJSON(nil, &records[i]), &m); err != nil {
			panic(err)
		}
		c.records = append(c.records, m)
	}
}

func (c *capture) Submit(msgs []record.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		c.values = append(c.values, append(append([]byte{}, m.Key...), m.Value...))
	}
}

func (c *capture) take() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.records
	c.records = nil
	return out
}

// serveOTLP runs a Server on 127.0.0.1 with a second, OTLP-only listener
// until the test ends; it returns the two addresses.
func serveOTLP(t testing.TB, cfg ServerConfig) (srv *Server, addr, otlpAddr string) {
	t.Helper()
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	olis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, lis, olis); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return srv, lis.Addr().String(), olis.Addr().String()
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestOTLPExport: Export over gRPC on both listeners — records handed on,
// partial success, whole-request refusals and the limits, each counted.
func TestOTLPExport(t *testing.T) {
	t.Parallel()
	var got capture
	reg := prometheus.NewRegistry()
	srv, addr, otlpAddr := serveOTLP(t, ServerConfig{Converter: otlpConv(t), Stages: []Stage{got.stage}, Registerer: reg,
		MaxMessageBytes: 32 << 10, MaxEntriesPerMessage: 50})
	good := mustMarshal(t, &logspb.LogRecord{Attributes: attrs("method", "GET", "status", "200")})
	res := mustMarshal(t, envoyResource("web"))
	for _, a := range []string{addr, otlpAddr} {
		resp, err := collogspb.NewLogsServiceClient(dial(t, a)).Export(context.Background(), &collogspb.ExportLogsServiceRequest{
			ResourceLogs: []*logspb.ResourceLogs{{Resource: envoyResource("web"), ScopeLogs: []*logspb.ScopeLogs{{
				LogRecords: []*logspb.LogRecord{{Attributes: attrs("method", "GET")}, {Attributes: attrs("method", "PUT")}}}}}}})
		if err != nil || resp.GetPartialSuccess() != nil {
			t.Fatalf("Export on %s: %v, partial success %v", a, err, resp.GetPartialSuccess())
		}
	}
	if recs := got.take(); len(recs) != 4 || recs[1]["method"] != "PUT" || recs[1]["service"] != "web" {
		t.Fatalf("records %v", recs)
	}
	// Compressed, as an OpenTelemetry Collector's exporter sends by
	// default: decompressed on the way to the frame codec. (This process
	// registers gzip for its client anyway; accesslog imports it so that
	// alsd has it whatever else it links.)
	resp, err := collogspb.NewLogsServiceClient(dial(t, addr)).Export(context.Background(), &collogspb.ExportLogsServiceRequest{
		ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{Attributes: attrs("method", "GET")}}}}}}},
		grpc.UseCompressor(gzip.Name))
	if err != nil || resp.GetPartialSuccess() != nil || len(got.take()) != 1 {
		t.Fatalf("gzip-compressed Export: %v, %v", err, resp)
	}
	conn := dial(t, addr)
	resp, err = exportRaw(conn, rawRequest([][]byte{res, good, {0x0a, 0x05}, good, nil, good}))
	if err != nil {
		t.Fatal(err)
	}
	ps := resp.GetPartialSuccess()
	if ps.GetRejectedLogRecords() != 2 || !strings.Contains(ps.GetErrorMessage(), "2 of 5 log records rejected; unreadable: log record 1: resource 0: not valid protobuf") {
		t.Errorf("partial success %v", ps)
	}
	if n := len(got.take()); n != 3 {
		t.Errorf("%d records kept, want 3", n)
	}
	if d := metricSum(reg, "alsd_records_dropped_total", "reason", "otlp_unreadable"); d != 2 {
		t.Errorf("dropped otlp_unreadable = %v, want 2", d)
	}
	if n := metricSum(reg, MetricRecords); n != 8 || srv.Accepted() != 8 {
		t.Errorf("alsd_records_total %v, accepted %d, want 8", n, srv.Accepted())
	}
	refusals := []struct {
		name   string
		frame  []byte
		code   codes.Code
		metric string
		labels []string
	}{
		{"malformed", rawRequest([][]byte{res, good})[:5], codes.InvalidArgument, "alsd_stream_errors_total", []string{"reason", "otlp_malformed"}},
		{"too many records", rawRequest(append([][]byte{res}, slices.Repeat([][]byte{good}, 51)...)),
			codes.InvalidArgument, MetricLimitHits, []string{"limit", "entries"}},
		{"too large", rawRequest([][]byte{res, rawRecord(rawString(strings.Repeat("a", 40<<10)))}), codes.ResourceExhausted,
			MetricLimitHits, []string{"limit", "message_bytes"}},
	}
	for _, r := range refusals {
		before := metricSum(reg, r.metric, r.labels...)
		if _, err := exportRaw(conn, r.frame); status.Code(err) != r.code {
			t.Errorf("%s: %v, want %s", r.name, err, r.code)
		}
		if after := metricSum(reg, r.metric, r.labels...); after != before+1 {
			t.Errorf("%s: %s%v went from %v to %v", r.name, r.metric, r.labels, before, after)
		}
	}
	if srv.Accepted() != 8 {
		t.Errorf("refused requests accepted records: %d", srv.Accepted())
	}
	// The OTLP listener serves OTLP only.
	stream, err := alsv3.NewAccessLogServiceClient(dial(t, otlpAddr)).StreamAccessLogs(context.Background())
	if err == nil {
		_, err = stream.CloseAndRecv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("ALS on the OTLP listener: %v, want Unimplemented", err)
	}
}

// TestOTLPPlantedCookies: cookie values sent over ALS and over OTLP, in
// every vocabulary that carries cookies and in records alsd rejects, never
// leave: not in any encoding of a record, a response or the log.
func TestOTLPPlantedCookies(t *testing.T) {
	t.Parallel()
	const planted, planted2 = "PLANTEDOTLPVALUE5678", "Pl4ntedSetCookieValue"
	cookie := "sid=" + planted + "; theme=" + planted2
	setCookie := "sid=" + planted + "; Path=/; Secure; HttpOnly, pref=" + planted2 + "; Max-Age=60"
	for _, enc := range []record.Encoding{record.JSON, record.Proto} {
		var sink capture
		var logs bytes.Buffer
		var logMu sync.Mutex
		_, addr, _ := serveOTLP(t, ServerConfig{Converter: otlpConv(t), Encoding: enc, Sink: &sink,
			Registerer: prometheus.NewRegistry(), Logger: newOTLPTestLogger(&logs, &logMu)})
		conn := dial(t, addr)
		e := fullHTTPEntry()
		e.Request.RequestHeaders["cookie"] = cookie
		e.Response.ResponseHeaders["set-cookie"] = setCookie
		var outputs [][]byte
		for _, v := range envoysim.Vocabularies {
			lr := v.HTTP(e)
			if v == envoysim.Gateway || v == envoysim.Text {
				// Their configs log no cookies; a user may add meshtel's.
				lr.Attributes = append(lr.Attributes, attrs("cookie", cookie, "set_cookie", setCookie)...)
			}
			unreadable := rawRecord(nil, rawKV("cookie", rawString(cookie)), rawKV("path", rawString("/\xff")))
			resp, err := exportRaw(conn, rawRequest([][]byte{mustMarshal(t, envoyResource("web")), mustMarshal(t, lr), unreadable}))
			if err != nil || resp.GetPartialSuccess().GetRejectedLogRecords() != 1 {
				t.Fatalf("%s: %v, %v", v, err, resp)
			}
			outputs = append(outputs, []byte(resp.GetPartialSuccess().GetErrorMessage()))
		}
		if err := sendALS(addr, e); err != nil {
			t.Fatal(err)
		}
		sink.mu.Lock()
		outputs = append(outputs, sink.values...)
		n := len(sink.values)
		sink.mu.Unlock()
		logMu.Lock()
		outputs = append(outputs, logs.Bytes())
		logMu.Unlock()
		if n < len(envoysim.Vocabularies) {
			t.Fatalf("%s: %d records produced", enc, n)
		}
		for _, out := range outputs {
			for _, p := range []string{planted, planted2} {
				if bytes.Contains(out, []byte(p)) {
					t.Errorf("%s: a planted cookie value left alsd: %q", enc, out)
				}
			}
		}
		if !bytes.Contains(sink.values[0], []byte("sid")) {
			t.Errorf("%s: the cookie names did not reach the record: %q", enc, sink.values[0])
		}
	}
}

func newOTLPTestLogger(w *bytes.Buffer, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return w.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// sendALS sends e on one ALS stream and waits for its end.
func sendALS(addr string, e *datav3.HTTPAccessLogEntry) error {
	envoy, err := envoysim.Dial(addr, envoysim.EnvoyConfig{Cluster: "web"})
	if err != nil {
		return err
	}
	if err := envoy.SendHTTP(context.Background(), e); err != nil {
		envoy.Close()
		return err
	}
	return envoy.Close()
}
