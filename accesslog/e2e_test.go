package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/internal/poll"
	"github.com/meshtel/meshtel/kafkasink"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
)

var outage = flag.Duration("outage", 30*time.Second, "how long TestBrokerOutage keeps the broker down")

const (
	testTopic = "mesh.accesslog.v1"
	// Planted in every test entry: neither may appear in anything alsd
	// produces.
	plantedCookie = "PLANTEDCOOKIEVALUE1234"
	plantedEmail  = "planted.person@example.org"
)

// harness is alsd's ingest path on loopback: ALS server → Kafka sink →
// broker (kfake, or a real Kafka with MESHTEL_KAFKA=real).
type harness struct {
	broker   *kafkatest.Broker
	server   *Server
	sink     *kafkasink.Sink
	addr     string
	reg      *prometheus.Registry
	stopSrv  context.CancelFunc
	stopSink context.CancelFunc
	srvDone  chan struct{}
	done     sync.WaitGroup
}

func startHarness(t *testing.T, broker *kafkatest.Broker, mutate func(*ServerConfig, *kafkasink.Config)) *harness {
	t.Helper()
	h := &harness{broker: broker, reg: prometheus.NewRegistry()}
	sinkCfg := kafkasink.Config{Brokers: []string{broker.Addr}, Topic: testTopic, SpoolDir: t.TempDir(), Registerer: h.reg}
	srvCfg := ServerConfig{
		Converter:  &Converter{Catalog: testCatalog(t), Classify: func(r *record.Record) outcome.Outcome { return outcome.Good }},
		Registerer: h.reg,
	}
	if mutate != nil {
		mutate(&srvCfg, &sinkCfg)
	}
	var err error
	if h.sink, err = kafkasink.New(sinkCfg); err != nil {
		t.Fatal(err)
	}
	srvCfg.Sink = h.sink
	if h.server, err = NewServer(srvCfg); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = lis.Addr().String()
	var srvCtx, sinkCtx context.Context
	srvCtx, h.stopSrv = context.WithCancel(context.Background())
	sinkCtx, h.stopSink = context.WithCancel(context.Background())
	h.srvDone = make(chan struct{})
	h.done.Add(2)
	go func() {
		defer h.done.Done()
		defer close(h.srvDone)
		if err := h.server.Serve(srvCtx, lis); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	go func() {
		defer h.done.Done()
		if err := h.sink.Run(sinkCtx); err != nil {
			t.Errorf("sink: %v", err)
		}
	}()
	t.Cleanup(h.stop)
	// Like alsd's first records, the test's wait for the start-up probe:
	// a cold connection must not count as a slow broker.
	select {
	case <-h.sink.Probed():
	case <-time.After(60 * time.Second):
		t.Fatal("the sink's Kafka probe has no answer after 60s")
	}
	return h
}

// stop shuts down like alsd does: server first, then the sink drains.
func (h *harness) stop() {
	h.stopSrv()
	<-h.srvDone // the sink drains only after the server handed it everything
	h.stopSink()
	h.done.Wait()
}

func (h *harness) produced() float64 { return metricSum(h.reg, kafkasink.MetricKafkaProduced) }

// waitProduced waits until Kafka acknowledged n records and the spool is
// empty.
func (h *harness) waitProduced(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	poll.UntilState(t, timeout, fmt.Sprintf("%d records produced and an empty spool", n), func() (bool, string) {
		produced, spooled := h.produced(), h.sink.Spooled()
		return produced >= float64(n) && spooled == 0, fmt.Sprintf("%v records produced, %d bytes spooled", produced, spooled)
	})
}

func testCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Parse("test.yaml", []byte(`
services:
  - http_service: web
    port: 8080
    healthcheck: /status
    aliases: [web.default]
  - cluster: api
    port: 9000
  - tcp_service: cache
    port: 6379
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// envoy is one Envoy worker (envoysim's) that numbers its entries, so
// tests can tell exactly which arrived.
type envoy struct {
	*envoysim.Envoy
	name string
	pad  string // user agent, to make entries big
	sent int
}

func newEnvoy(t *testing.T, addr, name, cluster string) *envoy {
	t.Helper()
	e, err := envoysim.Dial(addr, envoysim.EnvoyConfig{NodeID: "sidecar~10.0.0.1~" + name + "~ns", Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return &envoy{Envoy: e, name: name}
}

func testEntry(id string, status uint32) *datav3.HTTPAccessLogEntry {
	return &datav3.HTTPAccessLogEntry{
		CommonProperties: &datav3.AccessLogCommon{
			StartTime:               timestamppb.New(time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC)),
			DownstreamRemoteAddress: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "10.0.0.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51234}}}},
			UpstreamCluster:         "inbound|8080||",
			RouteName:               "default",
		},
		ProtocolVersion: datav3.HTTPAccessLogEntry_HTTP2,
		Request: &datav3.HTTPRequestProperties{
			RequestMethod:  corev3.RequestMethod_GET,
			Authority:      "www.example.com",
			Path:           "/api/v1/pins?email=" + plantedEmail,
			RequestId:      id,
			RequestHeaders: map[string]string{"cookie": "sid=" + plantedCookie + "; theme=dark"},
		},
		Response: &datav3.HTTPResponseProperties{
			ResponseCode:    wrapperspb.UInt32(status),
			ResponseHeaders: map[string]string{"set-cookie": "sid=" + plantedCookie + "; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure; HttpOnly"},
		},
	}
}

// entries returns the next n numbered entries.
func (e *envoy) entries(n int) []*datav3.HTTPAccessLogEntry {
	entries := make([]*datav3.HTTPAccessLogEntry, n)
	for i := range entries {
		entries[i] = testEntry(fmt.Sprintf("%s-%d", e.name, e.sent+i), 200)
		entries[i].Request.UserAgent = e.pad
	}
	return entries
}

// send sends one message of n entries.
func (e *envoy) send(n int) error {
	if err := e.SendHTTP(context.Background(), e.entries(n)...); err != nil {
		return err
	}
	e.sent += n
	return nil
}

// close half-closes the stream and returns alsd's final status.
func (e *envoy) close() error { return e.Close() }

// closeAfter is the final status of a stream after a send that alsd
// refuses: the send's when it found the stream already ended, Close's
// otherwise.
func (e *envoy) closeAfter(sendErr error) error {
	if sendErr != nil {
		return sendErr
	}
	return e.close()
}

// checkRecords asserts every entry of every envoy is on Kafka at least
// once, nothing else is, and nothing secret leaked; it returns the number of
// duplicates.
func checkRecords(t *testing.T, msgs []kafka.Message, envoys []*envoy) (dups int) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range msgs {
		for _, part := range [][]byte{m.Key, m.Value} {
			if bytes.Contains(part, []byte(plantedCookie)) || bytes.Contains(part, []byte(plantedEmail)) {
				t.Fatalf("a cookie value or query-string e-mail reached Kafka: %s", m.Value)
			}
		}
		var rec map[string]any
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			t.Fatalf("record is not JSON: %v: %s", err, m.Value)
		}
		if rec["service"] != string(m.Key) {
			t.Fatalf("key %q is not the record's service %v", m.Key, rec["service"])
		}
		if got := headerValue(m.Headers, "content-type"); got != "application/json" {
			t.Fatalf("content-type header = %q", got)
		}
		seen[rec["request_id"].(string)]++
	}
	want := 0
	for _, e := range envoys {
		for i := range e.sent {
			id := fmt.Sprintf("%s-%d", e.name, i)
			switch n := seen[id]; {
			case n == 0:
				t.Errorf("record %s lost", id)
			case n > 1:
				dups += n - 1
			}
			delete(seen, id)
		}
		want += e.sent
	}
	if len(seen) > 0 {
		t.Errorf("%d unexpected records on Kafka", len(seen))
	}
	return dups
}

func headerValue(hs []kafka.Header, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	// Exactly once holds while Kafka acknowledges within the delivery
	// timeout; on a loaded test machine 500ms is not always enough, and a
	// late acknowledgement is at-least-once by design (TestBrokerOutage).
	h := startHarness(t, kafkatest.FromEnv(t, testTopic), func(_ *ServerConfig, s *kafkasink.Config) {
		s.DeliveryTimeout = 10 * time.Second
	})
	// Several Envoy workers, as real sidecars open one stream per worker.
	var envoys []*envoy
	for i, cluster := range []string{"web", "web.default", "api", "unlisted-svc"} {
		envoys = append(envoys, newEnvoy(t, h.addr, fmt.Sprintf("w%d", i), cluster))
	}
	var wg sync.WaitGroup
	for _, e := range envoys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if err := e.send(40); err != nil {
					t.Errorf("send: %v", err)
					return
				}
			}
			if err := e.close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}()
	}
	wg.Wait()
	const total = 4 * 25 * 40
	h.waitProduced(t, total, 30*time.Second)
	msgs := kafkatest.ReadAll(t, h.broker.Addr, testTopic, total, 30*time.Second)
	if dups := checkRecords(t, msgs, envoys); dups != 0 {
		t.Errorf("%d duplicates in normal operation, want 0", dups)
	}
	keys := map[string]int{}
	for _, m := range msgs {
		keys[string(m.Key)]++
	}
	want := map[string]int{"web": 2000, "api": 1000, "unlisted-svc": 1000}
	for k, n := range want {
		if keys[k] != n {
			t.Errorf("key %q: %d records, want %d (all keys: %v)", k, keys[k], n, keys)
		}
	}
	if got := testutil.ToFloat64(h.server.m.records[record.HTTP][outcome.Good]); got != total {
		t.Errorf("alsd_records_total{kind=http,outcome=good} = %v, want %d", got, total)
	}
}

func TestStreamErrors(t *testing.T) {
	t.Parallel()
	h := startHarness(t, kafkatest.FromEnv(t, testTopic), func(s *ServerConfig, _ *kafkasink.Config) {
		s.MaxEntriesPerMessage = 20
		s.MaxMessageBytes = 16 << 10
	})
	good := newEnvoy(t, h.addr, "good", "web")
	if err := good.send(10); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		send  func(e *envoy) error
		code  codes.Code
		limit string
	}{
		{"no identifier", func(e *envoy) error {
			return e.SendMessage(context.Background(), &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
				HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: e.entries(1)}}})
		}, codes.InvalidArgument, ""},
		{"too many entries", func(e *envoy) error { return e.send(21) }, codes.InvalidArgument, "entries"},
		{"oversized message", func(e *envoy) error { e.pad = strings.Repeat("x", 17<<10); return e.send(1) }, codes.ResourceExhausted, "message_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvoy(t, h.addr, "bad", "web")
			var before float64
			if tt.limit != "" {
				before = testutil.ToFloat64(h.server.m.limitHits.WithLabelValues(tt.limit))
			}
			if err := e.closeAfter(tt.send(e)); status.Code(err) != tt.code {
				t.Fatalf("status = %v, want code %v", err, tt.code)
			}
			if tt.limit != "" {
				// The client may see the status before the server's
				// interceptor has counted it.
				poll.Until(t, 5*time.Second, fmt.Sprintf("alsd_limit_hits_total{limit=%q} = %v", tt.limit, before+1), func() bool {
					return testutil.ToFloat64(h.server.m.limitHits.WithLabelValues(tt.limit)) == before+1
				})
			}
		})
	}
	// The good stream is unaffected by its neighbours' errors.
	if err := good.send(10); err != nil {
		t.Fatal(err)
	}
	if err := good.close(); err != nil {
		t.Fatal(err)
	}
	h.waitProduced(t, 20, 30*time.Second)
	if got := testutil.ToFloat64(h.server.m.streamErrors.WithLabelValues("no_identifier")); got != 1 {
		t.Errorf("no_identifier errors = %v, want 1", got)
	}
}

// TestBrokerOutage stops the broker for -outage mid-stream and restarts it:
// nothing accepted may be lost.
func TestBrokerOutage(t *testing.T) {
	t.Parallel()
	broker := kafkatest.FromEnv(t, testTopic)
	h := startHarness(t, broker, nil)
	envoys := []*envoy{newEnvoy(t, h.addr, "a", "web"), newEnvoy(t, h.addr, "b", "api")}
	send := func(rounds int) {
		for range rounds {
			for _, e := range envoys {
				if err := e.send(20); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	send(20)
	broker.Stop(t)
	stopAt := time.Now()
	for time.Since(stopAt) < *outage {
		send(5)
	}
	poll.Until(t, 5*time.Second, "records spooled during the outage", func() bool { return h.sink.Spooled() > 0 })
	broker.Restart(t)
	send(20)
	for _, e := range envoys {
		if err := e.close(); err != nil {
			t.Fatal(err)
		}
	}
	total := envoys[0].sent + envoys[1].sent
	h.waitProduced(t, total, 60*time.Second)
	msgs := kafkatest.ReadAll(t, broker.Addr, testTopic, total, 30*time.Second)
	dups := checkRecords(t, msgs, envoys)
	t.Logf("outage %s: %d records, %d spooled, %d duplicates (at-least-once)", *outage, total,
		int(metricSum(h.reg, "alsd_spooled_total")), dups)
	if metricSum(h.reg, kafkasink.MetricRecordsDropped, "reason", "spool_full") != 0 {
		t.Error("records dropped")
	}
}

func TestMissingTopicSpools(t *testing.T) {
	t.Parallel()
	broker := kafkatest.FromEnv(t, testTopic)
	var logs bytes.Buffer
	var mu sync.Mutex
	h := startHarness(t, broker, func(_ *ServerConfig, s *kafkasink.Config) {
		s.Topic = "no.such.topic"
		s.Logger = newTestLogger(&logs, &mu)
	})
	e := newEnvoy(t, h.addr, "m", "web")
	if err := e.send(30); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "records spooled", func() bool { return metricSum(h.reg, "alsd_spooled_total") == 30 })
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "no.such.topic") {
		t.Errorf("log does not name the missing topic:\n%s", out)
	}
	if ok, text := h.sink.Status(); ok || !strings.Contains(text, "no.such.topic") {
		t.Errorf("Status() = %v, %q; want not ok, naming the topic", ok, text)
	}
	if err := e.close(); err != nil {
		t.Fatal(err)
	}
}

// lockedWriter lets a test read what a logger wrote from other goroutines.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newTestLogger(w io.Writer, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{mu, w}, nil))
}

// TestKcatInterop reads alsd's records with a second Kafka client, kcat:
// the messages must be plain JSON any consumer can parse, keyed by service.
func TestKcatInterop(t *testing.T) {
	t.Parallel()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat is required on CI (.ci/run installs it): ", err)
		}
		t.Skip("kcat not installed")
	}
	h := startHarness(t, kafkatest.FromEnv(t, testTopic), nil)
	e := newEnvoy(t, h.addr, "k", "web")
	if err := e.send(25); err != nil {
		t.Fatal(err)
	}
	if err := e.close(); err != nil {
		t.Fatal(err)
	}
	h.waitProduced(t, 25, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", h.broker.Addr, "-t", testTopic, "-o", "beginning", "-e", "-q",
		"-f", "%k\t%h\t%s\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 25 {
		t.Fatalf("kcat read %d records, want 25:\n%s", len(lines), out)
	}
	for _, line := range lines {
		key, rest, _ := strings.Cut(line, "\t")
		headers, value, _ := strings.Cut(rest, "\t")
		var rec map[string]any
		if err := json.Unmarshal([]byte(value), &rec); err != nil {
			t.Fatalf("kcat output is not JSON: %v: %q", err, value)
		}
		if key != "web" || rec["service"] != "web" {
			t.Errorf("key %q, service %v; want web", key, rec["service"])
		}
		if !strings.Contains(headers, "content-type=application/json") {
			t.Errorf("headers %q lack content-type", headers)
		}
	}
}

// metricSum adds up the series of the metric name in reg whose labels
// include every name, value pair of labels; NaN, which fails every
// comparison, when reg cannot be gathered.
func metricSum(reg prometheus.Gatherer, name string, labels ...string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return math.NaN()
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue series
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
}
