package accesslog

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
)

// cannotCarry lists, per vocabulary, the record fields (SPEC §2 names) it
// has no attribute for, and the fields derived from those (README, "OTLP
// access logs", holds the same table). Every other field of a record must
// be the same over OTLP as over ALS.
var cannotCarry = map[envoysim.Vocabulary][]string{
	envoysim.Meshtel: nil,
	envoysim.Gateway: {"grpc_status", "peer_principal", "tls_version", "cookies", "intermediate", "outcome"},
	envoysim.Semconv: {"route_name", "upstream_cluster", "upstream_host", "response_flags", "duration_ms",
		"upstream_duration_ms", "request_id", "tls_version", "peer_principal", "response_code_details",
		"connection_termination_details", "upstream_transport_failure_reason", "intermediate",
		"direction", "peer_service", "outcome"},
	envoysim.Text: {"grpc_status", "peer_principal", "tls_version", "cookies", "intermediate", "outcome"},
}

// wholeMs are the fields Envoy's operators print in whole milliseconds,
// truncated, where ALS carries nanoseconds.
var wholeMs = []string{"duration_ms", "upstream_duration_ms"}

// exportRequest encodes one ExportLogsServiceRequest of one resource.
func exportRequest(t testing.TB, res *resourcepb.Resource, lrs ...*logspb.LogRecord) []byte {
	t.Helper()
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: res, ScopeLogs: []*logspb.ScopeLogs{{LogRecords: lrs}},
	}}}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeOTLP runs the OTLP decoder over frame as the server does.
func decodeOTLP(t testing.TB, c *Converter, principal string, frame []byte) *otlpBatch {
	t.Helper()
	b := &otlpBatch{conv: c, max: 10000, now: convStart.Add(time.Hour), principal: principal}
	if err := b.decode(frame); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return b
}

func jsonFields(t testing.TB, r *record.Record) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(record.AppendJSON(nil, r), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// equivalenceEntries are the HTTP and TCP entries sent both ways: the
// converter tests' full entries and simulated traffic.
func equivalenceEntries() (http []*datav3.HTTPAccessLogEntry, tcp []*datav3.TCPAccessLogEntry) {
	full := fullHTTPEntry()
	// Envoy's text format does not quote the termination details, whose
	// words are joined with '_' in practice.
	full.CommonProperties.ConnectionTerminationDetails = "idle_timeout"
	http = append(http, full)
	fullTCP := fullTCPEntry()
	fullTCP.CommonProperties.ConnectionTerminationDetails = "idle_timeout"
	tcp = append(tcp, fullTCP)
	g := envoysim.NewGenerator(envoysim.GeneratorConfig{Service: "web", Port: 8080, HealthCheck: "/status",
		Upstreams: []string{"reviews"}, Routes: []string{"default", "api"}, BadRatio: 0.05, Seed: 7})
	for i := range 300 {
		e := g.HTTP()
		e.CommonProperties.StartTime = timestamppb.New(convStart.Add(time.Duration(i) * time.Millisecond))
		http = append(http, e)
	}
	for i := range 50 {
		e := g.TCP()
		e.CommonProperties.StartTime = timestamppb.New(convStart.Add(time.Duration(i) * time.Millisecond))
		tcp = append(tcp, e)
	}
	return http, tcp
}

// TestOTLPEquivalence: the same request sent over ALS and over OTLP, in
// each vocabulary, gives records that match field for field, except the
// fields the vocabulary cannot carry.
func TestOTLPEquivalence(t *testing.T) {
	t.Parallel()
	httpEntries, tcpEntries := equivalenceEntries()
	// SPEC §3 in short: enough for outcomes to depend on what a
	// vocabulary lacks.
	conv := &Converter{Catalog: convCatalog(t), Classify: func(r *record.Record) outcome.Outcome {
		switch {
		case r.Intermediate || r.Direction == record.Outbound:
			return outcome.Excluded
		case r.Status >= 500 || r.GRPCStatus == 14 || len(r.ResponseFlags) > 0 && r.Status == 0:
			return outcome.Bad
		}
		return outcome.Good
	}}
	res := envoysim.OTLPResource(convIdentity.NodeID, convIdentity.Cluster, convIdentity.LogName)
	for _, v := range envoysim.Vocabularies {
		t.Run(string(v), func(t *testing.T) {
			var want []*record.Record
			var lrs []*logspb.LogRecord
			for _, e := range httpEntries {
				want = append(want, convertHTTP(conv, convIdentity, e))
				lrs = append(lrs, v.HTTP(e))
			}
			// Semconv has no attributes for TCP proxies.
			if v != envoysim.Semconv {
				for _, e := range tcpEntries {
					want = append(want, convertTCP(conv, convIdentity, e))
					lrs = append(lrs, v.TCP(e))
				}
			}
			b := decodeOTLP(t, conv, convIdentity.Principal, exportRequest(t, res, lrs...))
			if b.rejected != 0 {
				t.Fatalf("%d records rejected: %s", b.rejected, b.reason)
			}
			if len(b.records) != len(want) {
				t.Fatalf("%d records, want %d", len(b.records), len(want))
			}
			fails := 0
			lost := map[string]bool{}
			for i := range want {
				als, otlp := jsonFields(t, want[i]), jsonFields(t, &b.records[i])
				for _, d := range fieldDiffs(als, otlp, cannotCarry[v]) {
					if fails++; fails <= 10 {
						t.Errorf("record %d: %s", i, d)
					}
				}
				for _, d := range fieldDiffs(als, otlp, nil) {
					lost[d[:strings.IndexByte(d, ':')]] = true
				}
			}
			// The table claims no more than the vocabulary loses.
			for _, f := range cannotCarry[v] {
				if !lost[f] {
					t.Errorf("%s is listed as lost, yet no record differs in it", f)
				}
			}
		})
	}
}

// fieldDiffs compares an ALS record with its OTLP twin, field by field.
func fieldDiffs(als, otlp map[string]any, skip []string) []string {
	var diffs []string
	keys := map[string]bool{}
	for k := range als {
		keys[k] = true
	}
	for k := range otlp {
		keys[k] = true
	}
	for k := range keys {
		a, o := als[k], otlp[k]
		if slices.Contains(skip, k) {
			continue
		}
		if f, ok := a.(float64); ok && slices.Contains(wholeMs, k) {
			a = math.Floor(f)
		}
		if !reflect.DeepEqual(a, o) {
			diffs = append(diffs, fmt.Sprintf("%s: ALS %v, OTLP %v", k, a, o))
		}
	}
	slices.Sort(diffs)
	return diffs
}
