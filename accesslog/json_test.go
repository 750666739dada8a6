package accesslog

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/record/recordpb"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// goldenRecords are a fully populated HTTP record and a TCP record, as the
// converter makes them.
func goldenRecords(t *testing.T) (httpRec, tcpRec *record.Record) {
	t.Helper()
	c := &Converter{Catalog: convCatalog(t), Classify: func(r *record.Record) outcome.Outcome {
		if r.Kind == record.TCP {
			return outcome.Good
		}
		return outcome.Bad
	}}
	return convertHTTP(c, convIdentity, fullHTTPEntry()),
		convertTCP(c, Identity{NodeID: "router~10.0.0.2~gw~ns", Cluster: "gateway", LogName: "tcp"}, fullTCPEntry())
}

func TestJSONGolden(t *testing.T) {
	httpRec, tcpRec := goldenRecords(t)
	// One record per line, exactly as produced, inside a JSON array so the
	// file itself is JSON.
	var got bytes.Buffer
	got.WriteString("[\n")
	got.Write(record.AppendJSON(nil, httpRec))
	got.WriteString(",\n")
	got.Write(record.AppendJSON(nil, tcpRec))
	got.WriteString("\n]\n")

	path := filepath.Join("testdata", "record.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("JSON differs from %s (run with -update if the change is intended):\n got %s\nwant %s", path, got.Bytes(), want)
	}
	if !json.Valid(want) {
		t.Errorf("%s is not valid JSON", path)
	}
}

// specKeys are the top-level keys of the SPEC §2 record.
var specKeys = []string{
	"time", "kind", "service", "node_id", "log_name", "route_name", "upstream_cluster", "upstream_host",
	"downstream_remote_address", "protocol", "method", "authority", "path", "status", "grpc_status",
	"response_flags", "duration_ms", "upstream_duration_ms", "request_bytes", "response_bytes",
	"user_agent", "request_id", "tls_version", "peer_principal", "reporter_principal", "direction",
	"peer_service", "response_code_details", "connection_termination_details",
	"upstream_transport_failure_reason", "intermediate", "outcome", "cookies",
}

// cookieKeys are SPEC §2's cookie keys plus the attributes alsd adds
// (domain, path, partitioned).
var cookieKeys = []string{"name", "source", "domain", "path", "secure", "http_only", "partitioned", "same_site", "max_age_s", "value_class"}

// jsonRecord is SPEC §2's record as a consumer would declare it.
type jsonRecord struct {
	Time                           string       `json:"time"`
	Kind                           string       `json:"kind"`
	Service                        string       `json:"service"`
	NodeID                         string       `json:"node_id"`
	LogName                        string       `json:"log_name"`
	RouteName                      string       `json:"route_name"`
	UpstreamCluster                string       `json:"upstream_cluster"`
	UpstreamHost                   string       `json:"upstream_host"`
	DownstreamRemoteAddress        string       `json:"downstream_remote_address"`
	Protocol                       string       `json:"protocol"`
	Method                         string       `json:"method"`
	Authority                      string       `json:"authority"`
	Path                           string       `json:"path"`
	Status                         *int         `json:"status"`
	GRPCStatus                     *int         `json:"grpc_status"`
	ResponseFlags                  []string     `json:"response_flags"`
	DurationMs                     *float64     `json:"duration_ms"`
	UpstreamDurationMs             *float64     `json:"upstream_duration_ms"`
	RequestBytes                   uint64       `json:"request_bytes"`
	ResponseBytes                  uint64       `json:"response_bytes"`
	UserAgent                      string       `json:"user_agent"`
	RequestID                      string       `json:"request_id"`
	TLSVersion                     string       `json:"tls_version"`
	PeerPrincipal                  string       `json:"peer_principal"`
	ReporterPrincipal              string       `json:"reporter_principal"`
	Direction                      string       `json:"direction"`
	PeerService                    string       `json:"peer_service"`
	ResponseCodeDetails            string       `json:"response_code_details"`
	ConnectionTerminationDetails   string       `json:"connection_termination_details"`
	UpstreamTransportFailureReason string       `json:"upstream_transport_failure_reason"`
	Intermediate                   bool         `json:"intermediate"`
	Outcome                        string       `json:"outcome"`
	Cookies                        []jsonCookie `json:"cookies"`
}

type jsonCookie struct {
	Name        string `json:"name"`
	Source      string `json:"source"`
	Domain      string `json:"domain"`
	Path        string `json:"path"`
	Secure      *bool  `json:"secure"`
	HTTPOnly    *bool  `json:"http_only"`
	Partitioned bool   `json:"partitioned"`
	SameSite    string `json:"same_site"`
	MaxAgeS     *int64 `json:"max_age_s"`
	ValueClass  string `json:"value_class"`
}

func decodeJSONRecord(t *testing.T, b []byte) jsonRecord {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var jr jsonRecord
	if err := dec.Decode(&jr); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if dec.More() {
		t.Fatalf("trailing data after the record: %s", b)
	}
	return jr
}

func keysOf(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestJSONKeys(t *testing.T) {
	httpRec, tcpRec := goldenRecords(t)
	minimal := &record.Record{GRPCStatus: -1, Service: "unknown", Time: convStart}
	tests := []struct {
		name string
		r    *record.Record
		keys []string
	}{
		{"full HTTP", httpRec, specKeys},
		{"TCP", tcpRec, []string{
			"time", "kind", "service", "node_id", "log_name", "route_name", "upstream_cluster", "upstream_host",
			"downstream_remote_address", "response_flags", "duration_ms", "upstream_duration_ms",
			"request_bytes", "response_bytes", "tls_version", "peer_principal", "direction",
			"connection_termination_details", "upstream_transport_failure_reason", "intermediate", "outcome",
		}},
		{"nothing known", minimal, []string{"time", "kind", "service", "request_bytes", "response_bytes", "intermediate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := record.AppendJSON(nil, tt.r)
			if !json.Valid(b) {
				t.Fatalf("invalid JSON: %s", b)
			}
			if got, want := keysOf(t, b), sorted(tt.keys); !slices.Equal(got, want) {
				t.Errorf("keys\n got %q\nwant %q", got, want)
			}
			var raw struct {
				Cookies []map[string]json.RawMessage `json:"cookies"`
			}
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			for _, c := range raw.Cookies {
				for k := range c {
					if !slices.Contains(cookieKeys, k) {
						t.Errorf("cookie has key %q, not in SPEC §2", k)
					}
				}
			}
			checkJSONValues(t, tt.r, decodeJSONRecord(t, b))
		})
	}
}

// checkJSONValues compares what a consumer decodes with the Record.
func checkJSONValues(t *testing.T, r *record.Record, jr jsonRecord) {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, jr.Time)
	if err != nil || !strings.HasSuffix(jr.Time, "Z") {
		t.Errorf("time %q is not RFC 3339 UTC: %v", jr.Time, err)
	}
	if !tm.Equal(r.Time.Truncate(time.Microsecond)) {
		t.Errorf("time %s, want %s to the microsecond", tm, r.Time)
	}
	optInt := func(p *int) int {
		if p == nil {
			return -1
		}
		return *p
	}
	optFloat := func(p *float64) (float64, bool) {
		if p == nil {
			return 0, false
		}
		return *p, true
	}
	status := r.Status
	if status == 0 {
		status = -1
	}
	dur, hasDur := optFloat(jr.DurationMs)
	udur, hasUdur := optFloat(jr.UpstreamDurationMs)
	got := []any{jr.Kind, jr.Service, jr.NodeID, jr.LogName, jr.RouteName, jr.UpstreamCluster, jr.UpstreamHost,
		jr.DownstreamRemoteAddress, jr.Protocol, jr.Method, jr.Authority, jr.Path, optInt(jr.Status), optInt(jr.GRPCStatus),
		len(jr.ResponseFlags), dur, hasDur, udur, hasUdur, jr.RequestBytes, jr.ResponseBytes, jr.UserAgent, jr.RequestID,
		jr.TLSVersion, jr.PeerPrincipal, jr.ReporterPrincipal, jr.Direction, jr.PeerService, jr.ResponseCodeDetails,
		jr.ConnectionTerminationDetails, jr.UpstreamTransportFailureReason, jr.Intermediate, jr.Outcome, len(jr.Cookies)}
	want := []any{r.Kind.String(), r.Service, r.NodeID, r.LogName, r.RouteName, r.UpstreamCluster, r.UpstreamHost,
		r.DownstreamRemoteAddress, r.Protocol, r.Method, r.Authority, r.Path, status, r.GRPCStatus,
		len(r.ResponseFlags), r.DurationMs, r.HasDuration, r.UpstreamDurationMs, r.HasUpstreamDuration, r.RequestBytes, r.ResponseBytes, r.UserAgent, r.RequestID,
		r.TLSVersion, r.PeerPrincipal, r.ReporterPrincipal, r.Direction.String(), r.PeerService, r.ResponseCodeDetails,
		r.ConnectionTermination, r.UpstreamFailure, r.Intermediate, r.Outcome.String(), len(r.Cookies)}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("decoded value #%d is %v, want %v", i, got[i], want[i])
		}
	}
	if len(r.ResponseFlags) > 0 && !slices.Equal(jr.ResponseFlags, r.ResponseFlags) {
		t.Errorf("response_flags %q, want %q", jr.ResponseFlags, r.ResponseFlags)
	}
	for i, jc := range jr.Cookies {
		c := r.Cookies[i]
		wantMaxAge := int64(-1)
		if c.HasMaxAge {
			wantMaxAge = c.MaxAgeS
		}
		gotMaxAge := int64(-1)
		if jc.MaxAgeS != nil {
			gotMaxAge = *jc.MaxAgeS
		}
		resp := c.Source == httpcookie.Response
		if jc.Name != c.Name || jc.Source != c.Source.String() || jc.Domain != c.Domain || jc.Path != c.Path ||
			jc.SameSite != c.SameSite || jc.ValueClass != c.ValueClass.String() || gotMaxAge != wantMaxAge ||
			jc.Partitioned != c.Partitioned || (jc.Secure != nil) != resp || (jc.HTTPOnly != nil) != resp ||
			resp && (*jc.Secure != c.Secure || *jc.HTTPOnly != c.HTTPOnly) {
			t.Errorf("cookie %d decodes to %+v, want %+v", i, jc, c)
		}
	}
}

// TestJSONSpecialValues covers values an encoder gets wrong easily: zero
// grpc_status is known, zero durations are known, huge counters.
func TestJSONSpecialValues(t *testing.T) {
	r := &record.Record{Time: convStart, Service: "s", GRPCStatus: 0, HasDuration: true, HasUpstreamDuration: true,
		DurationMs: 0.001, UpstreamDurationMs: 1e-9, RequestBytes: 1<<64 - 1, Status: 599,
		Direction: record.Inbound, Intermediate: true, Outcome: outcome.Excluded}
	b := record.AppendJSON(nil, r)
	for _, want := range []string{`"grpc_status":0`, `"duration_ms":0.001`, `"request_bytes":18446744073709551615`,
		`"status":599`, `"direction":"inbound"`, `"intermediate":true`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	checkJSONValues(t, r, decodeJSONRecord(t, b))

	// The time is always UTC, whatever zone the Record's time is in.
	r.Time = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("X", -5*3600))
	if b := record.AppendJSON(nil, r); !bytes.HasPrefix(b, []byte(`{"time":"2026-01-02T08:04:05.000006Z"`)) {
		t.Errorf("time not in UTC: %s", b)
	}
	// AppendJSON appends.
	if b := record.AppendJSON([]byte("prefix"), r); !bytes.HasPrefix(b, []byte(`prefix{"time"`)) {
		t.Errorf("AppendJSON does not append: %s", b)
	}
}

// fromProto is the inverse of ToProto for the fields the encoding carries.
func fromProto(p *recordpb.Record) record.Record {
	r := record.Record{
		Time: p.GetTime().AsTime(), Service: p.GetService(), NodeID: p.GetNodeId(), LogName: p.GetLogName(),
		RouteName: p.GetRouteName(), UpstreamCluster: p.GetUpstreamCluster(), UpstreamHost: p.GetUpstreamHost(),
		DownstreamRemoteAddress: p.GetDownstreamRemoteAddress(), Protocol: p.GetProtocol(), Method: p.GetMethod(),
		Authority: p.GetAuthority(), Path: p.GetPath(), Status: int(p.GetStatus()), GRPCStatus: -1,
		ResponseFlags: p.GetResponseFlags(), RequestBytes: p.GetRequestBytes(), ResponseBytes: p.GetResponseBytes(),
		UserAgent: p.GetUserAgent(), RequestID: p.GetRequestId(), TLSVersion: p.GetTlsVersion(),
		PeerPrincipal: p.GetPeerPrincipal(), ReporterPrincipal: p.GetReporterPrincipal(),
		Direction: record.Direction(p.GetDirection()), PeerService: p.GetPeerService(),
		ResponseCodeDetails: p.GetResponseCodeDetails(), ConnectionTermination: p.GetConnectionTerminationDetails(),
		UpstreamFailure: p.GetUpstreamTransportFailureReason(), Intermediate: p.GetIntermediate(),
	}
	if p.GetKind() == recordpb.Record_KIND_TCP {
		r.Kind = record.TCP
	}
	if p.GrpcStatus != nil {
		r.GRPCStatus = int(p.GetGrpcStatus())
	}
	if p.DurationMs != nil {
		r.DurationMs, r.HasDuration = p.GetDurationMs(), true
	}
	if p.UpstreamDurationMs != nil {
		r.UpstreamDurationMs, r.HasUpstreamDuration = p.GetUpstreamDurationMs(), true
	}
	r.Outcome = map[recordpb.Record_Outcome]outcome.Outcome{
		recordpb.Record_OUTCOME_GOOD: outcome.Good, recordpb.Record_OUTCOME_BAD: outcome.Bad, recordpb.Record_OUTCOME_EXCLUDED: outcome.Excluded,
	}[p.GetOutcome()]
	for _, pc := range p.GetCookies() {
		vc, ok := httpcookie.ParseValueClass(pc.GetValueClass())
		if !ok {
			vc = httpcookie.ValueClass(255)
		}
		c := httpcookie.Observation{Name: pc.GetName(), Domain: pc.GetDomain(), Path: pc.GetPath(), Secure: pc.GetSecure(),
			HTTPOnly: pc.GetHttpOnly(), Partitioned: pc.GetPartitioned(), SameSite: pc.GetSameSite(), ValueClass: vc}
		if pc.GetSource() == recordpb.Cookie_SOURCE_RESPONSE {
			c.Source = httpcookie.Response
		}
		if pc.MaxAgeS != nil {
			c.MaxAgeS, c.HasMaxAge = pc.GetMaxAgeS(), true
		}
		r.Cookies = append(r.Cookies, c)
	}
	return r
}

func TestProtoRoundTrip(t *testing.T) {
	httpRec, tcpRec := goldenRecords(t)
	grpcOK := *httpRec
	grpcOK.GRPCStatus, grpcOK.Status, grpcOK.HasDuration, grpcOK.DurationMs = 0, 0, true, 0
	grpcOK.Direction, grpcOK.Outcome, grpcOK.Intermediate = record.Inbound, outcome.Excluded, true
	minimal := &record.Record{GRPCStatus: -1, Service: "unknown", Time: convStart}
	for name, r := range map[string]*record.Record{"http": httpRec, "tcp": tcpRec, "zeros": &grpcOK, "minimal": minimal} {
		t.Run(name, func(t *testing.T) {
			b, err := record.Proto.Append([]byte("prefix"), r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatal("Proto.Append does not append")
			}
			var p recordpb.Record
			if err := proto.Unmarshal(b[len("prefix"):], &p); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&p, record.ToProto(r)) {
				t.Errorf("round trip changed the message:\n got %v\nwant %v", &p, record.ToProto(r))
			}
			got := fromProto(&p)
			want := *r
			want.DownstreamLocalPort, want.MalformedCookies = 0, nil
			want.Cookies = withoutHashes(want.Cookies)
			got.Cookies = withoutHashes(got.Cookies)
			if len(want.ResponseFlags) == 0 {
				want.ResponseFlags = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("proto round trip:\n got %+v\nwant %+v", got, want)
			}
			// The JSON encoding of the record carries the same values.
			jb, err := record.JSON.Append(nil, r)
			if err != nil {
				t.Fatal(err)
			}
			checkJSONValues(t, &got, decodeJSONRecord(t, jb))
		})
	}
}

func TestEncodings(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want record.Encoding
		ct   string
	}{
		{"json", record.JSON, "application/json"},
		{"proto", record.Proto, "application/x-protobuf; messageType=meshtel.accesslog.v1.Record"},
	} {
		e, err := record.ParseEncoding(tt.in)
		if err != nil || e != tt.want || e.String() != tt.in || e.ContentType() != tt.ct {
			t.Errorf("ParseEncoding(%q) = %v, %v (content type %q)", tt.in, e, err, e.ContentType())
		}
	}
	if _, err := record.ParseEncoding("avro"); err == nil || !strings.Contains(err.Error(), `"avro"`) {
		t.Errorf("ParseEncoding(avro) error %v", err)
	}
	// The message type named in the content type is the one encoded.
	if got := (&recordpb.Record{}).ProtoReflect().Descriptor().FullName(); !strings.HasSuffix(record.Proto.ContentType(), "messageType="+string(got)) {
		t.Errorf("content type %q does not name %s", record.Proto.ContentType(), got)
	}
}

// TestProtoCarriesEveryField checks that the fully populated record sets
// every field of the proto message, so a field added to record.proto
// without ToProto filling it is caught.
func TestProtoCarriesEveryField(t *testing.T) {
	httpRec, _ := goldenRecords(t)
	r := *httpRec
	r.Intermediate = true // false is the zero value
	p := record.ToProto(&r)
	m := p.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Name() == "kind" { // KIND_HTTP is the zero value
			continue
		}
		if !m.Has(fd) {
			t.Errorf("ToProto leaves %s unset for a fully populated record", fd.Name())
		}
	}
	cookieFields := (&recordpb.Cookie{}).ProtoReflect().Descriptor().Fields()
	for i := 0; i < cookieFields.Len(); i++ {
		fd := cookieFields.Get(i)
		set := false
		for _, c := range p.GetCookies() {
			set = set || c.ProtoReflect().Has(fd)
		}
		if !set {
			t.Errorf("ToProto sets cookie field %s on no cookie", fd.Name())
		}
	}
}
