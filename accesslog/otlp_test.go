package accesslog

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
)

func strv(v string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}
}

func integer(v int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}
}

func double(v float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: v}}
}

func boolean(v bool) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v}}
}

func strs(vs ...string) *commonpb.AnyValue {
	a := &commonpb.ArrayValue{}
	for _, v := range vs {
		a.Values = append(a.Values, strv(v))
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: a}}
}

// attrs builds attributes from key, value pairs; a string value is a
// string attribute.
func attrs(kvs ...any) []*commonpb.KeyValue {
	var out []*commonpb.KeyValue
	for i := 0; i < len(kvs); i += 2 {
		v, ok := kvs[i+1].(*commonpb.AnyValue)
		if !ok {
			v = strv(kvs[i+1].(string))
		}
		out = append(out, &commonpb.KeyValue{Key: kvs[i].(string), Value: v})
	}
	return out
}

func envoyResource(cluster string) *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: attrs("cluster_name", cluster, "node_name", "sidecar~10.0.0.1~web~default", "log_name", "otel")}
}

// otlpConv is the converter of the OTLP tests: the converter tests'
// catalog, and an outcome that shows whether the record was final.
func otlpConv(t testing.TB) *Converter {
	return &Converter{Catalog: convCatalog(t), Classify: func(r *record.Record) outcome.Outcome {
		if r.Intermediate {
			return outcome.Excluded
		}
		return outcome.Good
	}}
}

// textLine is an Istio text-format line.
const textLine = `[2026-11-25T10:00:00.123Z] "POST /login?u=1 HTTP/1.1" 503 UF,URX via_upstream - "-" 12 34 56 55 "-" "curl/8.0" "rid" "shop.example.com" "10.0.0.9:9000" outbound|9080||reviews.bookinfo.svc.cluster.local - 10.0.0.1:8080 10.0.0.7:4000 - api`

// otlpValueCases are log records and what fields of their record must
// be (JSON names; nil: absent).
var otlpValueCases = []struct {
	name    string
	lr      *logspb.LogRecord
	want    map[string]any // JSON field → value; nil: absent
	cookies []string       // name/source of each cookie, when not nil
}{
	{"strings", &logspb.LogRecord{Attributes: attrs("status", "503", "duration_ms", "12.5", "request_bytes", "512",
		"grpc_status", "14", "method", "GET", "protocol", "HTTP/2", "path", "/a?b=c", "response_flags", "UF,URX,ZZ")},
		map[string]any{"status": 503.0, "duration_ms": 12.5, "request_bytes": 512.0, "grpc_status": 14.0, "method": "GET",
			"protocol": "HTTP/2", "path": "/a", "response_flags": []any{"UF", "URX"}}, nil},
	{"dash and empty are absent", &logspb.LogRecord{Attributes: attrs("status", "-", "duration_ms", "-", "method", "GET",
		"route_name", "", "response_flags", "-", "user_agent", "-")},
		map[string]any{"status": nil, "duration_ms": nil, "route_name": nil, "response_flags": nil, "user_agent": nil}, nil},
	{"typed", &logspb.LogRecord{Attributes: attrs("status", integer(404), "duration_ms", double(7.25),
		"upstream_duration_ms", integer(6), "request_bytes", double(10), "response_bytes", integer(99),
		"intermediate", boolean(true), "response_flags", strs("UT", "NR"))},
		map[string]any{"status": 404.0, "duration_ms": 7.25, "upstream_duration_ms": 6.0, "request_bytes": 10.0,
			"response_bytes": 99.0, "intermediate": true, "outcome": "excluded", "response_flags": []any{"UT", "NR"}}, nil},
	{"wrong types and out of range", &logspb.LogRecord{Attributes: attrs("status", boolean(true), "duration_ms", "fast",
		"request_bytes", double(1.5), "response_bytes", integer(-1), "grpc_status", "99999999999", "method", "GET",
		"upstream_duration_ms", double(math.Inf(1)), "route_name", integer(3))},
		map[string]any{"status": nil, "duration_ms": nil, "request_bytes": 0.0, "response_bytes": 0.0, "grpc_status": nil,
			"upstream_duration_ms": nil, "route_name": nil, "method": "GET"}, nil},
	{"first vocabulary wins", &logspb.LogRecord{Attributes: attrs("http.response.status_code", integer(404),
		"response_code", "502", "status", "200", "url.path", "/semconv", "x-envoy-origin-path", "/gateway")},
		map[string]any{"status": 200.0, "path": "/gateway"}, nil},
	{"a dash does not win", &logspb.LogRecord{Attributes: attrs("status", "-", "response_code", "-", "http.response.status_code", integer(404))},
		map[string]any{"status": 404.0}, nil},
	{"text body", &logspb.LogRecord{Body: strv(textLine)},
		map[string]any{"method": "POST", "path": "/login", "protocol": "HTTP/1.1", "status": 503.0, "response_flags": []any{"UF", "URX"},
			"response_code_details": "via_upstream", "request_bytes": 12.0, "response_bytes": 34.0, "duration_ms": 56.0,
			"upstream_duration_ms": 55.0, "user_agent": "curl/8.0", "request_id": "rid", "authority": "shop.example.com",
			"upstream_host": "10.0.0.9:9000", "downstream_remote_address": "10.0.0.7:4000", "route_name": "api",
			"direction": "outbound", "peer_service": "reviews", "time": "2026-11-25T10:00:00.123000Z"}, nil},
	{"attributes before the text body", &logspb.LogRecord{Attributes: attrs("status", "201", "route_name", "mine"), Body: strv(textLine)},
		map[string]any{"status": 201.0, "route_name": "mine", "method": "POST"}, nil},
	{"kvlist body", &logspb.LogRecord{Attributes: attrs("method", "GET"), Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{
		KvlistValue: &commonpb.KeyValueList{Values: attrs("status", "418", "method", "PUT")}}}},
		map[string]any{"status": 418.0, "method": "GET"}, nil},
	{"semconv", &logspb.LogRecord{Attributes: attrs("http.request.method", "DELETE", "network.protocol.version", "1.1",
		"client.address", "2001:db8::1", "client.port", integer(443), "server.address", "api.example.com",
		"rpc.grpc.status_code", integer(4), "http.request.body.size", integer(5), "user_agent.original", "ua")},
		map[string]any{"method": "DELETE", "protocol": "HTTP/1.1", "downstream_remote_address": "[2001:db8::1]:443",
			"authority": "api.example.com", "grpc_status": 4.0, "request_bytes": 5.0, "user_agent": "ua"}, nil},
	{"access log type", &logspb.LogRecord{Attributes: attrs("status", "200", "access_log_type", "UpstreamEnd", "tls_version", "TLSv1.2")},
		map[string]any{"intermediate": true, "outcome": "excluded", "tls_version": "TLSv1_2"}, nil},
	{"final access log type", &logspb.LogRecord{Attributes: attrs("status", "200", "access_log_type", "DownstreamEnd")},
		map[string]any{"intermediate": false, "outcome": "good"}, nil},
	{"kind tcp", &logspb.LogRecord{Attributes: attrs("kind", "tcp", "request_bytes", "3", "method", "GET", "status", "200")},
		map[string]any{"kind": "tcp", "request_bytes": 3.0, "method": nil, "status": nil}, nil},
	{"Envoy's protocol dash is TCP", &logspb.LogRecord{Attributes: attrs("protocol", "-", "bytes_received", "3")},
		map[string]any{"kind": "tcp", "request_bytes": 3.0}, nil},
	{"start_time without time_unix_nano", &logspb.LogRecord{Attributes: attrs("start_time", "2026-11-25T10:00:00.5Z", "method", "GET"), ObservedTimeUnixNano: 1},
		map[string]any{"time": "2026-11-25T10:00:00.500000Z"}, nil},
	{"observed time last", &logspb.LogRecord{Attributes: attrs("method", "GET"), ObservedTimeUnixNano: uint64(convStart.UnixNano())},
		map[string]any{"time": "2026-11-25T10:00:00.123456Z"}, nil},
	{"no time at all", &logspb.LogRecord{Attributes: attrs("method", "GET")},
		map[string]any{"time": "2026-11-25T11:00:00.123456Z"}, nil},
	{"cookie arrays", &logspb.LogRecord{Attributes: attrs("http.request.header.cookie", strs("a=1", "b=2"),
		"http.response.header.set-cookie", strs("c=3; Secure", "d=4; Expires=Wed, 25 Nov 2026 11:00:00 GMT"))},
		nil, []string{"a/request", "b/request", "c/response", "d/response"}},
}

// TestOTLPValues: what each attribute value becomes — strings parsed,
// "-" and "" absent, typed values accepted, the first vocabulary winning,
// the text body and a kvlist body filling what attributes left missing.
func TestOTLPValues(t *testing.T) {
	t.Parallel()
	conv := otlpConv(t)
	for _, tt := range otlpValueCases {
		t.Run(tt.name, func(t *testing.T) {
			b := decodeOTLP(t, conv, "", exportRequest(t, envoyResource("web"), tt.lr))
			if b.rejected != 0 || len(b.records) != 1 {
				t.Fatalf("%d records, %d rejected: %s", len(b.records), b.rejected, b.reason)
			}
			got := jsonFields(t, &b.records[0])
			for k, want := range tt.want {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %#v, want %#v", k, got[k], want)
				}
			}
			if tt.cookies != nil {
				var names []string
				for _, c := range b.records[0].Cookies {
					names = append(names, c.Name+"/"+c.Source.String())
				}
				if !reflect.DeepEqual(names, tt.cookies) {
					t.Errorf("cookies %v, want %v", names, tt.cookies)
				}
			}
		})
	}
}

// TestOTLPIdentity: the resource names the records (SPEC §7).
func TestOTLPIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                     string
		res                      []*commonpb.KeyValue
		local                    string
		service, nodeID, logName string
	}{
		{"envoy labels", attrs("cluster_name", "web.default", "node_name", "sidecar~1", "log_name", "otel", "service.name", "other"),
			"", "web", "sidecar~1", "otel"},
		{"service.name without cluster_name", attrs("service.name", "frontend"), "", "web", "", ""},
		{"unknown cluster", attrs("cluster_name", "billing"), "", "billing", "", ""},
		{"envoy gateway", attrs("k8s.pod.name", "gw-7f", "k8s.namespace.name", "edge", "service.name", "reviews.bookinfo"),
			"", "reviews", "gw-7f.edge", ""},
		{"node_name over the pod", attrs("k8s.pod.name", "gw-7f", "node_name", "n1"), "", "unknown", "n1", ""},
		{"pod without namespace", attrs("k8s.pod.name", "gw-7f"), "", "unknown", "gw-7f", ""},
		{"no identity: the port", nil, "10.0.0.1:9080", "reviews", "", ""},
		{"no identity at all", nil, "", "unknown", "", ""},
		{"dash is no identity", attrs("cluster_name", "-"), "", "unknown", "", ""},
	}
	conv := otlpConv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := &logspb.LogRecord{Attributes: attrs("method", "GET", "downstream_local_address", tt.local)}
			b := decodeOTLP(t, conv, "spiffe://reporter", exportRequest(t, &resourcepb.Resource{Attributes: tt.res}, lr))
			if len(b.records) != 1 {
				t.Fatalf("rejected: %s", b.reason)
			}
			r := &b.records[0]
			if r.Service != tt.service || r.NodeID != tt.nodeID || r.LogName != tt.logName || r.ReporterPrincipal != "spiffe://reporter" {
				t.Errorf("service %q node_id %q log_name %q reporter %q, want %q %q %q spiffe://reporter",
					r.Service, r.NodeID, r.LogName, r.ReporterPrincipal, tt.service, tt.nodeID, tt.logName)
			}
		})
	}
}

// Raw protobuf, for what proto.Marshal refuses to write.
func rawBytes(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func rawString(s string) []byte { return rawBytes(nil, 1, []byte(s)) } // an AnyValue

func rawKV(key string, value []byte) []byte { return rawBytes(rawBytes(nil, 1, []byte(key)), 2, value) }

// rawRecord is a LogRecord with attributes and an optional body, as bytes.
func rawRecord(body []byte, kvs ...[]byte) []byte {
	var b []byte
	if body != nil {
		b = rawBytes(b, otlpBody, body)
	}
	for _, kv := range kvs {
		b = rawBytes(b, otlpAttrs, kv)
	}
	return b
}

// rawRequest is an ExportLogsServiceRequest of one resource per element
// of resources, each holding its records in one scope.
func rawRequest(resources ...[][]byte) []byte {
	var req []byte
	for _, rs := range resources {
		res, records := rs[0], rs[1:]
		var scope []byte
		for _, r := range records {
			scope = rawBytes(scope, otlpLogRecord, r)
		}
		rl := rawBytes(rawBytes(nil, otlpResource, res), otlpScopeLogs, scope)
		req = rawBytes(req, otlpResourceLogs, rl)
	}
	return req
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOTLPRejects: unreadable log records are rejected one by one, with
// the reason of the first, and the rest of the request is kept.
func TestOTLPRejects(t *testing.T) {
	t.Parallel()
	good := mustMarshal(t, &logspb.LogRecord{Attributes: attrs("method", "GET", "status", "200")})
	res := mustMarshal(t, envoyResource("web"))
	many := make([][]byte, maxOTLPAttributes+1)
	for i := range many {
		many[i] = rawKV("method", rawString("GET"))
	}
	tests := []struct {
		name   string
		record []byte
		reason string
	}{
		{"empty", nil, "no attribute alsd understands (SPEC §7 vocabularies) and no body"},
		{"wrong types only", mustMarshal(t, &logspb.LogRecord{Attributes: attrs("status", boolean(true), "method", integer(3))}),
			"no attribute alsd understands"},
		{"unknown attributes only", mustMarshal(t, &logspb.LogRecord{Attributes: attrs("http.status", "200", "level", "info")}),
			"no attribute alsd understands"},
		{"body not in the text format", mustMarshal(t, &logspb.LogRecord{Body: strv("GET / 200")}),
			`no attribute alsd understands, and the body: envoytext: byte 0: want "["`},
		{"huge attribute list", rawRecord(nil, many...), "more than 512 attributes"},
		{"invalid UTF-8 in a value", rawRecord(nil, rawKV("method", rawString("GET")), rawKV("path", rawString("/a\xffb"))),
			`attribute "path": invalid UTF-8`},
		{"invalid UTF-8 in an array", rawRecord(nil, rawKV("http.request.header.cookie", rawBytes(nil, 5, rawBytes(nil, 1, rawString("a=\xff"))))),
			`attribute "http.request.header.cookie": invalid UTF-8`},
		{"invalid UTF-8 in the body", rawRecord(rawString("[\xff] \"GET / HTTP/1.1\"")), "no attribute alsd understands, and the body: invalid UTF-8"},
		{"not protobuf", []byte{0x0a, 0x05, 0x01}, "not valid protobuf"},
		{"attribute not protobuf", rawRecord(nil, []byte{0x0a, 0x09, 'm'}), "an attribute is not valid protobuf"},
	}
	conv := otlpConv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := rawRequest([][]byte{res, good, tt.record, good})
			b := decodeOTLP(t, conv, "", frame)
			if b.rejected != 1 || len(b.records) != 2 || b.n != 3 {
				t.Fatalf("%d accepted, %d rejected of %d, want 2, 1 of 3 (%s)", len(b.records), b.rejected, b.n, b.reason)
			}
			if want := "log record 1: resource 0: " + tt.reason; !strings.HasPrefix(b.reason, want) {
				t.Errorf("reason %q, want it to start with %q", b.reason, want)
			}
		})
	}
	t.Run("an unreadable resource rejects its records only", func(t *testing.T) {
		bad := rawBytes(nil, otlpResAttrs, rawKV("cluster_name", rawString("w\xffb")))
		b := decodeOTLP(t, conv, "", rawRequest([][]byte{res, good}, [][]byte{bad, good, good}, [][]byte{res, good}))
		if b.rejected != 2 || len(b.records) != 2 {
			t.Fatalf("%d accepted, %d rejected, want 2, 2", len(b.records), b.rejected)
		}
		if want := `log record 1: resource 1: attribute "cluster_name": invalid UTF-8`; b.reason != want {
			t.Errorf("reason %q, want %q", b.reason, want)
		}
	})
}

// TestOTLPBrokenRequests: a request whose own framing, or a resource's or
// scope's, is broken fails as a whole, as does one with more records than
// allowed; an empty request is a valid one.
func TestOTLPBrokenRequests(t *testing.T) {
	t.Parallel()
	good := mustMarshal(t, &logspb.LogRecord{Attributes: attrs("method", "GET")})
	res := mustMarshal(t, envoyResource("web"))
	req := rawRequest([][]byte{res, good, good, good})
	for name, frame := range map[string][]byte{
		"truncated":    req[:len(req)-1],
		"bad tag":      append(append([]byte{}, req...), 0xff),
		"broken scope": rawBytes(nil, otlpResourceLogs, rawBytes(nil, otlpScopeLogs, []byte{0x12, 0x7f})),
	} {
		b := &otlpBatch{conv: otlpConv(t), max: 100, now: convStart}
		if err := b.decode(frame); err == nil {
			t.Errorf("%s: decoded, %d records", name, len(b.records))
		}
	}
	b := &otlpBatch{conv: otlpConv(t), max: 2, now: convStart}
	if err := b.decode(nil); err != nil || b.n != 0 {
		t.Errorf("empty request: %v, %d records", err, b.n)
	}
	if err := b.decode(req); err != errTooManyRecords {
		t.Errorf("3 records with a limit of 2: %v, want errTooManyRecords", err)
	}
	b.max = 3
	if err := b.decode(req); err != nil || len(b.records) != 3 {
		t.Errorf("3 records with a limit of 3: %v, %d records", err, len(b.records))
	}
}

func TestOTLPRecordsDoNotAliasTheFrame(t *testing.T) {
	t.Parallel()
	frame := exportRequest(t, envoyResource("web.default"), &logspb.LogRecord{Attributes: attrs("method", "GET",
		"path", "/x", "user_agent", "ua", "upstream_cluster", "inbound|8080||", "grpc_status", integer(3))})
	b := decodeOTLP(t, otlpConv(t), "", frame)
	before := jsonFields(t, &b.records[0])
	for i := range frame {
		frame[i] = 'X'
	}
	if after := jsonFields(t, &b.records[0]); !reflect.DeepEqual(before, after) {
		t.Errorf("the record changed with its frame:\n%v\n%v", before, after)
	}
	if before["node_id"] != "sidecar~10.0.0.1~web~default" || before["grpc_status"] != 3.0 {
		t.Errorf("record %v", before)
	}
}

func TestOTLPDecodeAllocations(t *testing.T) {
	lrs := make([]*logspb.LogRecord, 100)
	for i := range lrs {
		lrs[i] = &logspb.LogRecord{TimeUnixNano: uint64(convStart.UnixNano()), Attributes: attrs("method", "GET", "path", "/a",
			"status", "200", "duration_ms", "12", "upstream_cluster", "inbound|8080||", "user_agent", "curl/8.0")}
	}
	frame := exportRequest(t, envoyResource("web"), lrs...)
	b := &otlpBatch{conv: otlpConv(t), max: 1000, now: time.Now()}
	_ = b.decode(frame)
	// One string per record (its fields), three per resource (identity).
	if n := testing.AllocsPerRun(20, func() { _ = b.decode(frame) }); n > 103 {
		t.Errorf("%v allocations for 100 records", n)
	}
}
