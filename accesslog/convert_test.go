package accesslog

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/pii"
	"github.com/meshtel/meshtel/record"
)

// Cookie values planted in convert and encoding tests: neither may appear
// in any Record, encoding or error text.
const (
	secretSID  = "S3cr3t!Session~Val42"
	secretPref = "Pr3f!Value~NeverLeaves"
)

var convStart = time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)

func convCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Parse("convert.yaml", []byte(`
services:
  - http_service: web
    port: 8080
    healthcheck: /status
    aliases: [web.default, frontend]
  - cluster: reviews
    port: 9080
    aliases: [reviews.bookinfo]
  - tcp_service: cache
    port: 6379
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sockAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

// fullCommon sets every AccessLogCommon field the converter reads.
func fullCommon() *datav3.AccessLogCommon {
	return &datav3.AccessLogCommon{
		StartTime:                  timestamppb.New(convStart),
		DownstreamRemoteAddress:    sockAddr("10.0.0.7", 51234),
		DownstreamLocalAddress:     sockAddr("10.0.0.1", 8080),
		UpstreamRemoteAddress:      sockAddr("10.0.0.9", 9080),
		UpstreamCluster:            "outbound|9080|v1|reviews.bookinfo.svc.cluster.local",
		RouteName:                  "default",
		ResponseFlags:              &datav3.ResponseFlags{UpstreamConnectionFailure: true, UpstreamRetryLimitExceeded: true},
		Duration:                   durationpb.New(12500 * time.Microsecond),
		TimeToLastDownstreamTxByte: durationpb.New(99 * time.Millisecond),
		TimeToLastUpstreamRxByte:   durationpb.New(11 * time.Millisecond),
		// Timings that feed no field: they must not be taken instead.
		TimeToLastRxByte:               durationpb.New(3 * time.Millisecond),
		TimeToFirstUpstreamRxByte:      durationpb.New(7 * time.Millisecond),
		UpstreamTransportFailureReason: "delayed connect error: 111",
		ConnectionTerminationDetails:   "idle timeout",
		AccessLogType:                  datav3.AccessLogType_DownstreamEnd,
		TlsProperties: &datav3.TLSProperties{
			TlsVersion: datav3.TLSProperties_TLSv1_3,
			PeerCertificateProperties: &datav3.TLSProperties_CertificateProperties{
				Subject: "CN=web",
				SubjectAltName: []*datav3.TLSProperties_CertificateProperties_SubjectAltName{
					{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Dns{Dns: "web.default.svc"}},
					{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: "spiffe://cluster/ns/web/sa/web"}},
				},
			},
		},
	}
}

// fullHTTPEntry is an HTTP entry with every field the converter reads.
func fullHTTPEntry() *datav3.HTTPAccessLogEntry {
	return &datav3.HTTPAccessLogEntry{
		CommonProperties: fullCommon(),
		ProtocolVersion:  datav3.HTTPAccessLogEntry_HTTP2,
		Request: &datav3.HTTPRequestProperties{
			RequestMethod:    corev3.RequestMethod_GET,
			Authority:        "www.example.com",
			Path:             "/v1/pins?email=someone@example.org",
			OriginalPath:     "/api/v1/pins?email=someone@example.org#frag",
			UserAgent:        "curl/8.0",
			RequestId:        "6b1f2c3d-0000-4000-8000-000000000001",
			RequestBodyBytes: 512,
			// Header bytes are not body bytes.
			RequestHeadersBytes: 77,
			RequestHeaders: map[string]string{
				"cookie":       "sid=" + secretSID + "; theme=dark",
				"user-agent":   "header-agent",
				"x-request-id": "header-id",
			},
		},
		Response: &datav3.HTTPResponseProperties{
			ResponseCode:         wrapperspb.UInt32(503),
			ResponseBodyBytes:    1024,
			ResponseHeadersBytes: 88,
			ResponseCodeDetails:  "upstream_reset_before_response_started{connection_failure}",
			ResponseHeaders: map[string]string{
				"grpc-status": "2",
				"set-cookie": "sid=" + secretSID + "; Path=/; Domain=.Example.COM; Expires=Wed, 25 Nov 2026 11:00:00 GMT; Secure; HttpOnly; SameSite=Lax, " +
					"pref=" + secretPref + "; Max-Age=3600; Partitioned; Secure",
			},
			ResponseTrailers: map[string]string{"grpc-status": "14"},
		},
	}
}

func fullTCPEntry() *datav3.TCPAccessLogEntry {
	c := fullCommon()
	c.DownstreamLocalAddress = sockAddr("10.0.0.1", 6379)
	c.UpstreamCluster = "inbound|6379||"
	c.ResponseFlags = &datav3.ResponseFlags{UpstreamConnectionTermination: true}
	c.AccessLogType = datav3.AccessLogType_TcpConnectionEnd
	return &datav3.TCPAccessLogEntry{
		CommonProperties:     c,
		ConnectionProperties: &datav3.ConnectionProperties{ReceivedBytes: 4096, SentBytes: 65536},
	}
}

var convIdentity = Identity{NodeID: "sidecar~10.0.0.1~web-7f~default", Cluster: "web.default", LogName: "als",
	Principal: "spiffe://cluster/ns/web/sa/web-envoy"}

// convert runs c.HTTP on a fresh Record with a bound copy of id.
func convertHTTP(c *Converter, id Identity, e *datav3.HTTPAccessLogEntry) *record.Record {
	c.Bind(&id)
	var r record.Record
	c.HTTP(&r, &id, e, convStart.Add(time.Hour))
	return &r
}

func convertTCP(c *Converter, id Identity, e *datav3.TCPAccessLogEntry) *record.Record {
	c.Bind(&id)
	var r record.Record
	c.TCP(&r, &id, e, convStart.Add(time.Hour))
	return &r
}

// withoutHashes drops the process-salted value hashes, which a test cannot
// predict.
func withoutHashes(obs []httpcookie.Observation) []httpcookie.Observation {
	out := make([]httpcookie.Observation, len(obs))
	for i, o := range obs {
		o.ValueHash = 0
		out[i] = o
	}
	return out
}

func TestConvertHTTPFullEntry(t *testing.T) {
	c := &Converter{Catalog: convCatalog(t), Classify: func(r *record.Record) outcome.Outcome { return outcome.Bad }}
	got := convertHTTP(c, convIdentity, fullHTTPEntry())
	want := record.Record{
		Time:                    convStart,
		Kind:                    record.HTTP,
		Service:                 "web", // web.default is an alias of web
		NodeID:                  convIdentity.NodeID,
		LogName:                 "als",
		RouteName:               "default",
		UpstreamCluster:         "outbound|9080|v1|reviews.bookinfo.svc.cluster.local",
		UpstreamHost:            "10.0.0.9:9080",
		DownstreamRemoteAddress: "10.0.0.7:51234",
		DownstreamLocalPort:     8080,
		Protocol:                "HTTP/2",
		Method:                  "GET",
		Authority:               "www.example.com",
		Path:                    "/api/v1/pins", // original_path, query and fragment dropped
		Status:                  503,
		GRPCStatus:              14, // trailers win over headers
		ResponseFlags:           []string{"UF", "URX"},
		DurationMs:              12.5,
		HasDuration:             true,
		UpstreamDurationMs:      11,
		HasUpstreamDuration:     true,
		RequestBytes:            512,
		ResponseBytes:           1024,
		UserAgent:               "curl/8.0",
		RequestID:               "6b1f2c3d-0000-4000-8000-000000000001",
		TLSVersion:              "TLSv1_3",
		PeerPrincipal:           "spiffe://cluster/ns/web/sa/web", // URI SAN over an earlier DNS SAN
		ReporterPrincipal:       convIdentity.Principal,
		Direction:               record.Outbound,
		PeerService:             "reviews",
		ResponseCodeDetails:     "upstream_reset_before_response_started{connection_failure}",
		ConnectionTermination:   "idle timeout",
		UpstreamFailure:         "delayed connect error: 111",
		Outcome:                 outcome.Bad,
		Cookies: []httpcookie.Observation{
			{Name: "sid", Source: httpcookie.Request, ValueClass: httpcookie.Opaque},
			{Name: "theme", Source: httpcookie.Request, ValueClass: httpcookie.Classify("dark")},
			// Expires is one hour after the entry's start time.
			{Name: "sid", Source: httpcookie.Response, Domain: "example.com", Path: "/", Secure: true, HTTPOnly: true,
				SameSite: "Lax", MaxAgeS: 3600, HasMaxAge: true, ValueClass: httpcookie.Opaque},
			{Name: "pref", Source: httpcookie.Response, Secure: true, Partitioned: true, MaxAgeS: 3600, HasMaxAge: true,
				ValueClass: httpcookie.Opaque},
		},
	}
	gotCookies := withoutHashes(got.Cookies)
	g := *got
	g.Cookies, g.MalformedCookies = gotCookies, nil
	if !reflect.DeepEqual(g, want) {
		t.Errorf("HTTP record:\n got %+v\nwant %+v", g, want)
	}
	if len(got.MalformedCookies) != 0 {
		t.Errorf("malformed cookies %v, want none", got.MalformedCookies)
	}
	assertNoSecrets(t, got)
}

// assertNoSecrets checks that no planted cookie value is in r, in either
// encoding, or in r printed with %+v (as a careless log line would).
func assertNoSecrets(t *testing.T, r *record.Record) {
	t.Helper()
	pb, err := proto.Marshal(record.ToProto(r))
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"record": fmt.Sprintf("%+v", *r),
		"json":   string(record.AppendJSON(nil, r)),
		"proto":  string(pb),
	}
	for name, out := range outputs {
		for _, secret := range []string{secretSID, secretPref} {
			if strings.Contains(out, secret) {
				t.Errorf("cookie value %q leaked into the %s: %s", secret, name, out)
			}
		}
	}
}

func TestConvertTCPFullEntry(t *testing.T) {
	c := &Converter{Catalog: convCatalog(t)}
	got := convertTCP(c, Identity{NodeID: "router~10.0.0.2~gw~ns", Cluster: "gateway", LogName: "tcp"}, fullTCPEntry())
	want := record.Record{
		Time:                    convStart,
		Kind:                    record.TCP,
		Service:                 "cache", // gateway names no service; port 6379 does
		NodeID:                  "router~10.0.0.2~gw~ns",
		LogName:                 "tcp",
		RouteName:               "default",
		UpstreamCluster:         "inbound|6379||",
		UpstreamHost:            "10.0.0.9:9080",
		DownstreamRemoteAddress: "10.0.0.7:51234",
		DownstreamLocalPort:     6379,
		GRPCStatus:              -1,
		ResponseFlags:           []string{"UC"},
		DurationMs:              12.5,
		HasDuration:             true,
		UpstreamDurationMs:      11,
		HasUpstreamDuration:     true,
		RequestBytes:            4096,
		ResponseBytes:           65536,
		TLSVersion:              "TLSv1_3",
		PeerPrincipal:           "spiffe://cluster/ns/web/sa/web",
		Direction:               record.Inbound,
		ConnectionTermination:   "idle timeout",
		UpstreamFailure:         "delayed connect error: 111",
	}
	g := *got
	g.Cookies, g.MalformedCookies = nil, nil
	if !reflect.DeepEqual(g, want) {
		t.Errorf("TCP record:\n got %+v\nwant %+v", g, want)
	}
	if len(got.Cookies) != 0 {
		t.Errorf("TCP record has cookies %v", got.Cookies)
	}
}

// TestConvertMasksPII: paths and user agents are masked before the record
// reaches anyone (SPEC §2), counted per kind in the stream's identity, and
// kept as logged with KeepPII.
func TestConvertMasksPII(t *testing.T) {
	const (
		card = "4111111111111111"
		jwt  = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	)
	e := fullHTTPEntry()
	e.Request.OriginalPath = "/users/jane.doe%40example.com/cards/" + card + "/reset/" + jwt
	e.Request.UserAgent = "probe/1.0 (ops: jane.doe@example.com)"
	for _, tt := range []struct {
		keep          bool
		path, ua      string
		email, masked uint32
	}{
		{false, "/users/{email}/cards/{card}/reset/{jwt}", "probe/1.0 (ops: {email})", 2, 4},
		{true, e.Request.OriginalPath, e.Request.UserAgent, 0, 0},
	} {
		c := &Converter{Catalog: convCatalog(t), KeepPII: tt.keep}
		id := convIdentity
		c.Bind(&id)
		var r record.Record
		c.HTTP(&r, &id, e, convStart)
		if r.Path != tt.path || r.UserAgent != tt.ua {
			t.Errorf("KeepPII=%v: path %q, user agent %q; want %q, %q", tt.keep, r.Path, r.UserAgent, tt.path, tt.ua)
		}
		var total uint32
		for _, n := range id.masked {
			total += n
		}
		if id.masked[pii.Email] != tt.email || total != tt.masked {
			t.Errorf("KeepPII=%v: masked %v, want %d e-mails of %d masks", tt.keep, id.masked, tt.email, tt.masked)
		}
	}
}

// TestConvertHTTPFieldSources changes one input at a time and checks the
// SPEC §2 field it feeds.
func TestConvertHTTPFieldSources(t *testing.T) {
	tests := []struct {
		name      string
		keepQuery bool
		mutate    func(e *datav3.HTTPAccessLogEntry)
		check     func(r *record.Record) string
	}{
		{"path without original_path", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Request.OriginalPath = "" },
			func(r *record.Record) string { return want(r.Path, "/v1/pins") }},
		{"query kept with KeepQuery", true, nil,
			func(r *record.Record) string { return want(r.Path, "/api/v1/pins?email={email}") }},
		{"fragment alone stripped", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Request.OriginalPath = "/a#b?c" },
			func(r *record.Record) string { return want(r.Path, "/a") }},
		{"bare question mark stripped", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Request.OriginalPath = "/a?" },
			func(r *record.Record) string { return want(r.Path, "/a") }},
		{"no path", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Request.OriginalPath, e.Request.Path = "", "" },
			func(r *record.Record) string { return want(r.Path, "") }},
		{"duration falls back to time_to_last_downstream_tx_byte", false,
			func(e *datav3.HTTPAccessLogEntry) { e.CommonProperties.Duration = nil },
			func(r *record.Record) string { return wantDur(r.DurationMs, r.HasDuration, 99, true) }},
		{"no duration at all", false,
			func(e *datav3.HTTPAccessLogEntry) {
				e.CommonProperties.Duration, e.CommonProperties.TimeToLastDownstreamTxByte = nil, nil
			},
			func(r *record.Record) string { return wantDur(r.DurationMs, r.HasDuration, 0, false) }},
		{"zero duration is known", false,
			func(e *datav3.HTTPAccessLogEntry) { e.CommonProperties.Duration = durationpb.New(0) },
			func(r *record.Record) string { return wantDur(r.DurationMs, r.HasDuration, 0, true) }},
		{"sub-millisecond duration", false,
			func(e *datav3.HTTPAccessLogEntry) {
				e.CommonProperties.Duration = &durationpb.Duration{Seconds: 2, Nanos: 250_000}
			},
			func(r *record.Record) string { return wantDur(r.DurationMs, r.HasDuration, 2000.25, true) }},
		{"no upstream duration", false,
			func(e *datav3.HTTPAccessLogEntry) { e.CommonProperties.TimeToLastUpstreamRxByte = nil },
			func(r *record.Record) string { return wantDur(r.UpstreamDurationMs, r.HasUpstreamDuration, 0, false) }},
		{"no response code", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Response.ResponseCode = nil },
			func(r *record.Record) string { return want(r.Status, 0) }},
		{"no response at all", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Response = nil },
			func(r *record.Record) string {
				return want(fmt.Sprint(r.Status, r.GRPCStatus, r.ResponseBytes, len(r.Cookies)), "0 -1 0 2")
			}},
		{"grpc_status from headers without trailers", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Response.ResponseTrailers = nil },
			func(r *record.Record) string { return want(r.GRPCStatus, 2) }},
		{"grpc_status 0 is kept", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Response.ResponseTrailers["grpc-status"] = "0" },
			func(r *record.Record) string { return want(r.GRPCStatus, 0) }},
		{"grpc_status absent", false,
			func(e *datav3.HTTPAccessLogEntry) {
				e.Response.ResponseTrailers = nil
				delete(e.Response.ResponseHeaders, "grpc-status")
			},
			func(r *record.Record) string { return want(r.GRPCStatus, -1) }},
		{"grpc_status not a number", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Response.ResponseTrailers["grpc-status"] = "UNAVAILABLE" },
			func(r *record.Record) string { return want(r.GRPCStatus, -1) }},
		{"grpc_status negative", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Response.ResponseTrailers["grpc-status"] = "-1" },
			func(r *record.Record) string { return want(r.GRPCStatus, -1) }},
		{"grpc_status beyond 32 bits", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Response.ResponseTrailers["grpc-status"] = "4294967310" },
			func(r *record.Record) string { return want(r.GRPCStatus, -1) }},
		{"grpc_status with spaces", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Response.ResponseTrailers["grpc-status"] = " 4 " },
			func(r *record.Record) string { return want(r.GRPCStatus, 4) }},
		{"user agent and request id from headers", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Request.UserAgent, e.Request.RequestId = "", "" },
			func(r *record.Record) string { return want(r.UserAgent+" "+r.RequestID, "header-agent header-id") }},
		{"method unspecified", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Request.RequestMethod = corev3.RequestMethod_METHOD_UNSPECIFIED },
			func(r *record.Record) string { return want(r.Method, "") }},
		{"method OPTIONS", false,
			func(e *datav3.HTTPAccessLogEntry) { e.Request.RequestMethod = corev3.RequestMethod_OPTIONS },
			func(r *record.Record) string { return want(r.Method, "OPTIONS") }},
		{"HTTP/1.0", false,
			func(e *datav3.HTTPAccessLogEntry) { e.ProtocolVersion = datav3.HTTPAccessLogEntry_HTTP10 },
			func(r *record.Record) string { return want(r.Protocol, "HTTP/1.0") }},
		{"HTTP/1.1", false,
			func(e *datav3.HTTPAccessLogEntry) { e.ProtocolVersion = datav3.HTTPAccessLogEntry_HTTP11 },
			func(r *record.Record) string { return want(r.Protocol, "HTTP/1.1") }},
		{"HTTP/3", false,
			func(e *datav3.HTTPAccessLogEntry) { e.ProtocolVersion = datav3.HTTPAccessLogEntry_HTTP3 },
			func(r *record.Record) string { return want(r.Protocol, "HTTP/3") }},
		{"protocol unspecified", false,
			func(e *datav3.HTTPAccessLogEntry) {
				e.ProtocolVersion = datav3.HTTPAccessLogEntry_PROTOCOL_UNSPECIFIED
			},
			func(r *record.Record) string { return want(r.Protocol, "") }},
		{"no start time: receive time", false,
			func(e *datav3.HTTPAccessLogEntry) { e.CommonProperties.StartTime = nil },
			func(r *record.Record) string { return want(r.Time, convStart.Add(time.Hour)) }},
		{"no upstream cluster", false,
			func(e *datav3.HTTPAccessLogEntry) { e.CommonProperties.UpstreamCluster = "" },
			func(r *record.Record) string {
				return want(fmt.Sprint(r.UpstreamCluster == "", r.Direction, r.PeerService == ""), "true  true")
			}},
		{"pipe addresses", false,
			func(e *datav3.HTTPAccessLogEntry) {
				e.CommonProperties.DownstreamRemoteAddress = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/envoy.sock"}}}
			},
			func(r *record.Record) string { return want(r.DownstreamRemoteAddress, "/run/envoy.sock") }},
		{"internal listener upstream", false,
			func(e *datav3.HTTPAccessLogEntry) {
				e.CommonProperties.UpstreamRemoteAddress = &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{
					EnvoyInternalAddress: &corev3.EnvoyInternalAddress{AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: "tunnel"}}}}
			},
			func(r *record.Record) string { return want(r.UpstreamHost, "tunnel") }},
		{"IPv6 address", false,
			func(e *datav3.HTTPAccessLogEntry) {
				e.CommonProperties.UpstreamRemoteAddress = sockAddr("fd00::9", 443)
			},
			func(r *record.Record) string { return want(r.UpstreamHost, "[fd00::9]:443") }},
		{"no upstream host", false,
			func(e *datav3.HTTPAccessLogEntry) { e.CommonProperties.UpstreamRemoteAddress = nil },
			func(r *record.Record) string { return want(r.UpstreamHost, "") }},
		{"no TLS", false,
			func(e *datav3.HTTPAccessLogEntry) { e.CommonProperties.TlsProperties = nil },
			func(r *record.Record) string { return want(r.TLSVersion+"|"+r.PeerPrincipal, "|") }},
		{"DNS SAN without URI SAN", false,
			func(e *datav3.HTTPAccessLogEntry) {
				p := e.CommonProperties.TlsProperties.PeerCertificateProperties
				p.SubjectAltName = p.SubjectAltName[:1]
			},
			func(r *record.Record) string { return want(r.PeerPrincipal, "web.default.svc") }},
		{"URI SAN first", false,
			func(e *datav3.HTTPAccessLogEntry) {
				p := e.CommonProperties.TlsProperties.PeerCertificateProperties
				p.SubjectAltName[0], p.SubjectAltName[1] = p.SubjectAltName[1], p.SubjectAltName[0]
			},
			func(r *record.Record) string { return want(r.PeerPrincipal, "spiffe://cluster/ns/web/sa/web") }},
		{"no SANs: subject", false,
			func(e *datav3.HTTPAccessLogEntry) {
				e.CommonProperties.TlsProperties.PeerCertificateProperties.SubjectAltName = nil
			},
			func(r *record.Record) string { return want(r.PeerPrincipal, "CN=web") }},
		{"no peer certificate", false,
			func(e *datav3.HTTPAccessLogEntry) { e.CommonProperties.TlsProperties.PeerCertificateProperties = nil },
			func(r *record.Record) string { return want(r.TLSVersion+"|"+r.PeerPrincipal, "TLSv1_3|") }},
		{"no cookies", false,
			func(e *datav3.HTTPAccessLogEntry) {
				delete(e.Request.RequestHeaders, "cookie")
				delete(e.Response.ResponseHeaders, "set-cookie")
			},
			func(r *record.Record) string { return want(len(r.Cookies), 0) }},
	}
	cat := convCatalog(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fullHTTPEntry()
			if tt.mutate != nil {
				tt.mutate(e)
			}
			r := convertHTTP(&Converter{Catalog: cat, KeepQuery: tt.keepQuery}, convIdentity, e)
			if msg := tt.check(r); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func want[T comparable](got, want T) string {
	if got != want {
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	return ""
}

func wantDur(got float64, has bool, want float64, wantHas bool) string {
	if got != want || has != wantHas {
		return fmt.Sprintf("got %v (set %v), want %v (set %v)", got, has, want, wantHas)
	}
	return ""
}

func TestConvertTLSVersions(t *testing.T) {
	tests := map[datav3.TLSProperties_TLSVersion]string{
		datav3.TLSProperties_VERSION_UNSPECIFIED: "",
		datav3.TLSProperties_TLSv1:               "TLSv1",
		datav3.TLSProperties_TLSv1_1:             "TLSv1_1",
		datav3.TLSProperties_TLSv1_2:             "TLSv1_2",
		datav3.TLSProperties_TLSv1_3:             "TLSv1_3",
	}
	if n := datav3.TLSProperties_TLSv1.Descriptor().Values().Len(); n != len(tests) {
		t.Errorf("Envoy knows %d TLS versions, the test %d", n, len(tests))
	}
	for v, name := range tests {
		e := fullHTTPEntry()
		e.CommonProperties.TlsProperties.TlsVersion = v
		if got := convertHTTP(&Converter{}, convIdentity, e).TLSVersion; got != name {
			t.Errorf("%v: tls_version %q, want %q", v, got, name)
		}
	}
}

// envoyFlagCodes are the short codes Envoy prints in %RESPONSE_FLAGS% for
// each field of ResponseFlags, from Envoy's ResponseFlagUtils
// (source/common/stream_info/utility.h), in Envoy's printing order.
var envoyFlagCodes = []struct{ field, code string }{
	{"failed_local_healthcheck", "LH"},
	{"no_healthy_upstream", "UH"},
	{"upstream_request_timeout", "UT"},
	{"local_reset", "LR"},
	{"upstream_remote_reset", "UR"},
	{"upstream_connection_failure", "UF"},
	{"upstream_connection_termination", "UC"},
	{"upstream_overflow", "UO"},
	{"no_route_found", "NR"},
	{"delay_injected", "DI"},
	{"fault_injected", "FI"},
	{"rate_limited", "RL"},
	{"unauthorized_details", "UAEX"},
	{"rate_limit_service_error", "RLSE"},
	{"downstream_connection_termination", "DC"},
	{"upstream_retry_limit_exceeded", "URX"},
	{"stream_idle_timeout", "SI"},
	{"invalid_envoy_request_headers", "IH"},
	{"downstream_protocol_error", "DPE"},
	{"upstream_max_stream_duration_reached", "UMSDR"},
	{"response_from_cache_filter", "RFCF"},
	{"no_filter_config_found", "NFCF"},
	{"duration_timeout", "DT"},
	{"upstream_protocol_error", "UPE"},
	{"no_cluster_found", "NC"},
	{"overload_manager", "OM"},
	{"dns_resolution_failure", "DF"},
	// Envoy prints "DR" (DOWNSTREAM_REMOTE_RESET in
	// source/common/stream_info/utility.h); SPEC §3 calls it "DRR". The
	// record follows Envoy; the SLI classifier accepts both.
	{"downstream_remote_reset", "DR"},
}

// setFlag sets the named ResponseFlags field: true for a bool, an empty
// message for unauthorized_details (presence is the flag).
func setFlag(t *testing.T, f *datav3.ResponseFlags, name string) {
	t.Helper()
	m := f.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		t.Fatalf("ResponseFlags has no field %q", name)
	}
	if fd.Kind() == protoreflect.MessageKind {
		m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
		return
	}
	m.Set(fd, protoreflect.ValueOfBool(true))
}

func TestConvertResponseFlags(t *testing.T) {
	fields := (&datav3.ResponseFlags{}).ProtoReflect().Descriptor().Fields()
	if fields.Len() != len(envoyFlagCodes) {
		t.Errorf("ResponseFlags has %d fields, the code table %d: a new Envoy flag needs its code", fields.Len(), len(envoyFlagCodes))
	}
	c := &Converter{}
	all := &datav3.ResponseFlags{}
	var allCodes []string
	for _, fc := range envoyFlagCodes {
		t.Run(fc.field, func(t *testing.T) {
			flags := &datav3.ResponseFlags{}
			setFlag(t, flags, fc.field)
			e := fullHTTPEntry()
			e.CommonProperties.ResponseFlags = flags
			if got := convertHTTP(c, convIdentity, e).ResponseFlags; !reflect.DeepEqual(got, []string{fc.code}) {
				t.Errorf("response_flags %q, want [%s]", got, fc.code)
			}
			tcp := fullTCPEntry()
			tcp.CommonProperties.ResponseFlags = flags
			if got := convertTCP(c, convIdentity, tcp).ResponseFlags; !reflect.DeepEqual(got, []string{fc.code}) {
				t.Errorf("TCP response_flags %q, want [%s]", got, fc.code)
			}
		})
		setFlag(t, all, fc.field)
		allCodes = append(allCodes, fc.code)
	}
	e := fullHTTPEntry()
	e.CommonProperties.ResponseFlags = all
	if got := convertHTTP(c, convIdentity, e).ResponseFlags; !reflect.DeepEqual(got, allCodes) {
		t.Errorf("all flags: %q, want %q", got, allCodes)
	}
	e.CommonProperties.ResponseFlags = &datav3.ResponseFlags{}
	if got := convertHTTP(c, convIdentity, e).ResponseFlags; len(got) != 0 {
		t.Errorf("no flags set: %q", got)
	}
}

func TestConvertIntermediate(t *testing.T) {
	final := map[datav3.AccessLogType]bool{
		datav3.AccessLogType_NotSet:           true,
		datav3.AccessLogType_DownstreamEnd:    true,
		datav3.AccessLogType_TcpConnectionEnd: true,
		datav3.AccessLogType_UdpSessionEnd:    true,
	}
	values := datav3.AccessLogType_NotSet.Descriptor().Values()
	if values.Len() < 15 {
		t.Fatalf("only %d access log types", values.Len())
	}
	c := &Converter{}
	for i := 0; i < values.Len(); i++ {
		typ := datav3.AccessLogType(values.Get(i).Number())
		for _, flagged := range []bool{false, true} {
			wantIntermediate := flagged || !final[typ]
			e := fullHTTPEntry()
			e.CommonProperties.AccessLogType, e.CommonProperties.IntermediateLogEntry = typ, flagged
			if got := convertHTTP(c, convIdentity, e).Intermediate; got != wantIntermediate {
				t.Errorf("HTTP %v intermediate_log_entry=%v: intermediate %v, want %v", typ, flagged, got, wantIntermediate)
			}
			tcp := fullTCPEntry()
			tcp.CommonProperties.AccessLogType, tcp.CommonProperties.IntermediateLogEntry = typ, flagged
			if got := convertTCP(c, convIdentity, tcp).Intermediate; got != wantIntermediate {
				t.Errorf("TCP %v intermediate_log_entry=%v: intermediate %v, want %v", typ, flagged, got, wantIntermediate)
			}
		}
	}
	// No common properties at all: an Envoy < 1.26 final entry.
	var r record.Record
	id := convIdentity
	c.HTTP(&r, &id, &datav3.HTTPAccessLogEntry{}, convStart)
	if r.Intermediate {
		t.Error("entry without common properties is intermediate")
	}
}

func TestConvertServiceNaming(t *testing.T) {
	cat := convCatalog(t)
	tests := []struct {
		name      string
		cat       *catalog.Catalog
		cluster   string
		localPort uint32
		want      string
	}{
		{"cluster names a service", cat, "reviews", 0, "reviews"},
		{"cluster is an alias", cat, "web.default", 0, "web"},
		{"cluster wins over port", cat, "reviews", 8080, "reviews"},
		{"alias wins over port", cat, "frontend", 6379, "web"},
		{"port of a catalog service", cat, "ingress-gateway", 9080, "reviews"},
		{"port without cluster", cat, "", 6379, "cache"},
		{"unknown cluster and port", cat, "ingress-gateway", 1234, "ingress-gateway"},
		{"unknown cluster without port", cat, "legacy", 0, "legacy"},
		{"nothing names it", cat, "", 1234, "unknown"},
		{"nothing at all", cat, "", 0, "unknown"},
		{"names are case-sensitive", cat, "Reviews", 0, "Reviews"},
		{"nil catalog keeps cluster", nil, "reviews.bookinfo", 9080, "reviews.bookinfo"},
		{"nil catalog without cluster", nil, "", 9080, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Converter{Catalog: tt.cat}
			id := Identity{Cluster: tt.cluster}
			e := fullHTTPEntry()
			if tt.localPort == 0 {
				e.CommonProperties.DownstreamLocalAddress = nil
			} else {
				e.CommonProperties.DownstreamLocalAddress = sockAddr("10.0.0.1", tt.localPort)
			}
			if got := convertHTTP(c, id, e).Service; got != tt.want {
				t.Errorf("HTTP service %q, want %q", got, tt.want)
			}
			tcp := fullTCPEntry()
			tcp.CommonProperties.DownstreamLocalAddress = e.CommonProperties.DownstreamLocalAddress
			if got := convertTCP(c, id, tcp).Service; got != tt.want {
				t.Errorf("TCP service %q, want %q", got, tt.want)
			}
		})
	}
}

// TestConvertRebind checks that an Identity bound for one cluster and then
// re-bound for another names the second one's service (a stream whose
// later identifier names another cluster).
func TestConvertRebind(t *testing.T) {
	c := &Converter{Catalog: convCatalog(t)}
	id := Identity{Cluster: "reviews"}
	c.Bind(&id)
	id.Cluster = "legacy"
	c.Bind(&id)
	e := fullHTTPEntry()
	e.CommonProperties.DownstreamLocalAddress = nil
	var r record.Record
	c.HTTP(&r, &id, e, convStart)
	if r.Service != "legacy" {
		t.Errorf("service %q after re-binding to legacy", r.Service)
	}
}

func TestConvertDirection(t *testing.T) {
	tests := []struct {
		cluster   string
		direction record.Direction
		peer      string
	}{
		{"inbound|8080||", record.Inbound, ""},
		{"inbound|8080|http|web.default.svc.cluster.local", record.Inbound, ""},
		{"outbound|9080|v1|reviews.bookinfo.svc.cluster.local", record.Outbound, "reviews"}, // via alias reviews.bookinfo
		{"outbound|9080||reviews.default.svc.cluster.local", record.Outbound, "reviews"},    // first label is the service
		{"outbound|8080||frontend.shop.svc.cluster.local", record.Outbound, "web"},          // first label is an alias
		{"outbound|8080||web.default", record.Outbound, "web"},                              // whole host is an alias
		{"outbound|80||httpbin.org", record.Outbound, "httpbin"},                            // unknown: first label
		{"outbound|9080|v1|reviews", record.Outbound, "reviews"},
		{"outbound|9080||", record.Outbound, ""},
		{"outbound|", record.Outbound, ""},
		{"some_service", record.DirectionUnknown, ""},
		{"inbound", record.DirectionUnknown, ""},
		{"Outbound|80||x", record.DirectionUnknown, ""},
		{"", record.DirectionUnknown, ""},
	}
	cat := convCatalog(t)
	for _, tt := range tests {
		e := fullHTTPEntry()
		e.CommonProperties.UpstreamCluster = tt.cluster
		r := convertHTTP(&Converter{Catalog: cat}, convIdentity, e)
		if r.Direction != tt.direction || r.PeerService != tt.peer {
			t.Errorf("%q: direction %q peer_service %q, want %q %q", tt.cluster, r.Direction, r.PeerService, tt.direction, tt.peer)
		}
		tcp := fullTCPEntry()
		tcp.CommonProperties.UpstreamCluster = tt.cluster
		r = convertTCP(&Converter{Catalog: cat}, convIdentity, tcp)
		if r.Direction != tt.direction || r.PeerService != tt.peer {
			t.Errorf("TCP %q: direction %q peer_service %q, want %q %q", tt.cluster, r.Direction, r.PeerService, tt.direction, tt.peer)
		}
	}
}

func TestConvertCookies(t *testing.T) {
	tests := []struct {
		name      string
		cookie    string
		setCookie string
		want      []httpcookie.Observation
		malformed []httpcookie.Malformed
	}{
		{
			name:   "request cookies",
			cookie: "sid=" + secretSID + "; n=12345; id=0b6a4c3e-8f1d-4c2a-9e7b-5d3f2a1c0e9b",
			want: []httpcookie.Observation{
				{Name: "sid", Source: httpcookie.Request, ValueClass: httpcookie.Opaque},
				{Name: "n", Source: httpcookie.Request, ValueClass: httpcookie.Numeric},
				{Name: "id", Source: httpcookie.Request, ValueClass: httpcookie.UUID},
			},
		},
		{
			name:   "malformed request cookie does not hide the others",
			cookie: "=" + secretSID + "; ok=" + secretPref + "; bad",
			want: []httpcookie.Observation{
				{Name: "ok", Source: httpcookie.Request, ValueClass: httpcookie.Opaque},
			},
			malformed: []httpcookie.Malformed{httpcookie.NoName, httpcookie.NoEquals},
		},
		{
			// Envoy folds repeated Set-Cookie headers with commas; the
			// commas inside Expires dates do not split.
			name: "folded set-cookie with Expires dates",
			setCookie: "sid=" + secretSID + "; Expires=Wed, 25 Nov 2026 10:30:00 GMT; Path=/app, " +
				"old=" + secretPref + "; Expires=Tue, 24 Nov 2026 10:00:00 GMT, " +
				"legacy=x; expires=Wednesday, 25-Nov-26 12:00:00 GMT; SameSite=Strict",
			want: []httpcookie.Observation{
				{Name: "sid", Source: httpcookie.Response, Path: "/app", MaxAgeS: 1800, HasMaxAge: true, ValueClass: httpcookie.Opaque},
				{Name: "old", Source: httpcookie.Response, MaxAgeS: 0, HasMaxAge: true, ValueClass: httpcookie.Opaque},
				{Name: "legacy", Source: httpcookie.Response, SameSite: "Strict", MaxAgeS: 7200, HasMaxAge: true, ValueClass: httpcookie.Classify("x")},
			},
		},
		{
			name:      "Max-Age wins over Expires and deletion",
			setCookie: "a=1; Max-Age=60; Expires=Wed, 25 Nov 2026 20:00:00 GMT, b=2; Max-Age=0",
			want: []httpcookie.Observation{
				{Name: "a", Source: httpcookie.Response, MaxAgeS: 60, HasMaxAge: true, ValueClass: httpcookie.Numeric},
				{Name: "b", Source: httpcookie.Response, MaxAgeS: 0, HasMaxAge: true, ValueClass: httpcookie.Numeric},
			},
		},
		{
			name:      "both headers",
			cookie:    "sid=" + secretSID,
			setCookie: "sid=" + secretPref + "; HttpOnly",
			want: []httpcookie.Observation{
				{Name: "sid", Source: httpcookie.Request, ValueClass: httpcookie.Opaque},
				{Name: "sid", Source: httpcookie.Response, HTTPOnly: true, ValueClass: httpcookie.Opaque},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fullHTTPEntry()
			e.Request.RequestHeaders = map[string]string{}
			e.Response.ResponseHeaders = map[string]string{}
			if tt.cookie != "" {
				e.Request.RequestHeaders["cookie"] = tt.cookie
			}
			if tt.setCookie != "" {
				e.Response.ResponseHeaders["set-cookie"] = tt.setCookie
			}
			r := convertHTTP(&Converter{}, convIdentity, e)
			if got := withoutHashes(r.Cookies); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("cookies\n got %+v\nwant %+v", got, tt.want)
			}
			if !reflect.DeepEqual(r.MalformedCookies, tt.malformed) && (len(r.MalformedCookies) != 0 || len(tt.malformed) != 0) {
				t.Errorf("malformed %v, want %v", r.MalformedCookies, tt.malformed)
			}
			assertNoSecrets(t, r)
		})
	}
}

func TestConvertClassifySeesFinishedRecord(t *testing.T) {
	var seen record.Record
	c := &Converter{Catalog: convCatalog(t), Classify: func(r *record.Record) outcome.Outcome {
		seen = *r
		return outcome.Excluded
	}}
	r := convertHTTP(c, convIdentity, fullHTTPEntry())
	if r.Outcome != outcome.Excluded {
		t.Errorf("outcome %q", r.Outcome)
	}
	if seen.Service != "web" || seen.Direction != record.Outbound || seen.PeerService != "reviews" || seen.Status != 503 || len(seen.Cookies) != 4 {
		t.Errorf("classifier saw an unfinished record: %+v", seen)
	}
	if r := convertHTTP(&Converter{}, convIdentity, fullHTTPEntry()); r.Outcome != outcome.Unknown {
		t.Errorf("outcome %q without a classifier", r.Outcome)
	}
}

// TestRecordReuse converts a full entry and then a sparse one into the same
// Record: nothing of the first may survive into the second.
func TestRecordReuse(t *testing.T) {
	sparseHTTP := &datav3.HTTPAccessLogEntry{
		CommonProperties: &datav3.AccessLogCommon{StartTime: timestamppb.New(convStart)},
		Request:          &datav3.HTTPRequestProperties{Path: "/x"},
	}
	sparseTCP := &datav3.TCPAccessLogEntry{
		CommonProperties: &datav3.AccessLogCommon{StartTime: timestamppb.New(convStart)},
	}
	c := &Converter{Catalog: convCatalog(t)}
	sparseID := Identity{Cluster: "legacy"}
	c.Bind(&sparseID)
	id := convIdentity
	c.Bind(&id)

	steps := []struct {
		name string
		conv func(r *record.Record)
	}{
		{"sparse HTTP", func(r *record.Record) { c.HTTP(r, &sparseID, sparseHTTP, convStart) }},
		{"sparse TCP", func(r *record.Record) { c.TCP(r, &sparseID, sparseTCP, convStart) }},
	}
	for _, step := range steps {
		for _, first := range []func(r *record.Record){
			func(r *record.Record) { c.HTTP(r, &id, fullHTTPEntry(), convStart) },
			func(r *record.Record) { c.TCP(r, &id, fullTCPEntry(), convStart) },
		} {
			var fresh, reused record.Record
			step.conv(&fresh)
			first(&reused)
			step.conv(&reused)
			if !recordsEqual(&fresh, &reused) {
				t.Errorf("%s into a used Record:\n got %+v\nwant %+v", step.name, reused, fresh)
			}
			if a, b := record.AppendJSON(nil, &fresh), record.AppendJSON(nil, &reused); string(a) != string(b) {
				t.Errorf("%s JSON of a used Record:\n got %s\nwant %s", step.name, b, a)
			}
		}
	}
}

// recordsEqual compares records treating nil and empty slices alike.
func recordsEqual(a, b *record.Record) bool {
	x, y := *a, *b
	for _, r := range []*record.Record{&x, &y} {
		if len(r.ResponseFlags) == 0 {
			r.ResponseFlags = nil
		}
		if len(r.Cookies) == 0 {
			r.Cookies = nil
		}
		r.Cookies = withoutHashes(r.Cookies)
		if len(r.MalformedCookies) == 0 {
			r.MalformedCookies = nil
		}
	}
	return reflect.DeepEqual(x, y)
}
