package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/internal/poll"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/sli"
)

func TestScaleOutUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"ingest only without kafka", []string{"--compute=false"}, "--kafka-brokers"},
		{"ingest only demo", []string{"--compute=false", "--demo", "--kafka-brokers", "127.0.0.1:1"}, "--demo"},
		{"aggregate without kafka", []string{"aggregate"}, "--kafka-brokers is required"},
		{"aggregate bad flag", []string{"aggregate", "--kafka-brokers", "127.0.0.1:1", "--session-timeout", "soon"}, "session-timeout"},
		{"aggregate argument", []string{"aggregate", "--kafka-brokers", "127.0.0.1:1", "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr, func(string) string { return "" }); code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.msg) {
				t.Errorf("stderr does not mention %q:\n%s", tt.msg, stderr.String())
			}
		})
	}
}

func TestIngestOnlyAPI(t *testing.T) {
	for _, path := range []string{"/api/slo", "/api/cookies", "/api/dependencies"} {
		rec := httptest.NewRecorder()
		ingestOnly(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v: %s", path, err, rec.Body.String())
		}
		if rec.Code != http.StatusNotFound || body["role"] != "ingest" || !strings.Contains(body["error"], "--compute=false") {
			t.Errorf("%s: %d %v, want 404 naming the ingest role", path, rec.Code, body)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var aggregateStartedRE = regexp.MustCompile(`alsd aggregate started" admin=(http://\S+)`)

// TestAggregateCommand runs `alsd aggregate` in process against a broker:
// it becomes ready, counts what is produced, serves it to `alsd report`,
// exports the lag, and exits 0 on cancel.
func TestAggregateCommand(t *testing.T) {
	b := kafkatest.FromEnv(t, "mesh.accesslog.v1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"aggregate", "--kafka-brokers", b.Addr, "--admin-addr", "127.0.0.1:0",
			"--session-timeout", "6s", "--checkpoint-interval", "200ms"}, io.Discard, &stderr, func(string) string { return "" })
	}()
	var admin string
	waitUntil(t, 10*time.Second, "started", func() bool {
		if m := aggregateStartedRE.FindStringSubmatch(stderr.String()); m != nil {
			admin = m[1]
		}
		return admin != ""
	}, &stderr)
	waitUntil(t, 20*time.Second, "ready", func() bool { return httpStatus(admin+"/readyz") == http.StatusOK }, &stderr)

	w := &kafka.Writer{Addr: kafka.TCP(b.Addr), Topic: "mesh.accesslog.v1", Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, Transport: &kafka.Transport{}}
	defer w.Close()
	var msgs []kafka.Message
	for i := range 300 {
		svc := []string{"web", "api", "db"}[i%3]
		r := &record.Record{Time: time.Now().Add(-time.Minute), Service: svc, Status: []int{200, 503}[i%2], GRPCStatus: -1,
			Direction: record.Inbound, Outcome: outcome.Good}
		msgs = append(msgs, kafka.Message{Key: []byte(svc), Value: record.AppendJSON(nil, r)})
	}
	msgs = append(msgs, outboundCalls(30)...)
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	// alsd report reads the aggregator as it reads an all-in-one alsd.
	var report sli.Report
	waitUntil(t, 10*time.Second, "report totals", func() bool {
		var out bytes.Buffer
		if run(ctx, []string{"report", "slo", "--admin", admin, "--format", "json"}, &out, io.Discard, func(string) string { return "" }) != exitOK {
			return false
		}
		report = sli.Report{}
		if err := json.Unmarshal(out.Bytes(), &report); err != nil {
			return false
		}
		var total, bad uint64
		for _, s := range report.SLOs {
			if s.SLO == sli.Availability {
				total, bad = total+s.Total, bad+s.Bad
			}
		}
		return total == 300 && bad == 150 // the 503s are bad whatever the record says
	}, &stderr)

	waitUntil(t, 10*time.Second, "report dependencies: the 30 outbound calls", func() bool { return edgeCalls(ctx, admin) == 30 }, &stderr)

	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`alsd_consumer_lag{partition="0"}`, `mesh_sli_requests_total{route="",service="web",slo="availability"} 100`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	cancel()
	select {
	case c := <-code:
		if c != exitOK {
			t.Errorf("exit %d, want 0:\n%s", c, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("alsd aggregate did not stop")
	}
}

// outboundCalls are n records of outbound calls web → api: edges, never
// SLI events.
func outboundCalls(n int) []kafka.Message {
	var msgs []kafka.Message
	for range n {
		r := &record.Record{Time: time.Now().Add(-time.Minute), Service: "web", Status: 200, GRPCStatus: -1,
			Direction: record.Outbound, PeerService: "api", Outcome: outcome.Excluded}
		msgs = append(msgs, kafka.Message{Key: []byte("web"), Value: record.AppendJSON(nil, r)})
	}
	return msgs
}

// edgeCalls returns the requests of the one edge `alsd report
// dependencies` reads from admin (without a catalog, every name is
// edges.Other), or -1.
func edgeCalls(ctx context.Context, admin string) int {
	var out bytes.Buffer
	var deps edges.Report
	if run(ctx, []string{"report", "dependencies", "--admin", admin, "--format", "json"}, &out, io.Discard, func(string) string { return "" }) != exitOK ||
		json.Unmarshal(out.Bytes(), &deps) != nil || len(deps.Edges) != 1 {
		return -1
	}
	return int(deps.Edges[0].Requests)
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool, log interface{ String() string }) {
	t.Helper()
	if !poll.Wait(timeout, cond) {
		t.Fatalf("%s: not within %s; log:\n%s", what, timeout, log.String())
	}
}
