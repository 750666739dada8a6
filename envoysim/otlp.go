package envoysim

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Vocabulary is one way Envoy's access logs arrive as OpenTelemetry log
// records (SPEC §7): which attributes, or which body, carry the fields.
type Vocabulary string

// The vocabularies of SPEC §7.
const (
	// Meshtel: the record's field names as attributes, as dashgen's
	// envoy/<service>.otel.yaml configures Envoy's OpenTelemetry logger.
	Meshtel Vocabulary = "meshtel"
	// Gateway: Envoy Gateway's default OpenTelemetry attributes.
	Gateway Vocabulary = "gateway"
	// Semconv: OpenTelemetry's HTTP semantic conventions, with typed
	// values, as a collector pipeline would rewrite them.
	Semconv Vocabulary = "semconv"
	// Text: no attributes, a body in Envoy's default text format, as Istio
	// sends it.
	Text Vocabulary = "text"
)

// Vocabularies lists every Vocabulary.
var Vocabularies = []Vocabulary{Meshtel, Gateway, Semconv, Text}

// ParseVocabulary reads a vocabulary's name.
func ParseVocabulary(s string) (Vocabulary, error) {
	for _, v := range Vocabularies {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("vocabulary %q: want meshtel, gateway, semconv or text", s)
}

// OTLPResource is the resource Envoy's OpenTelemetry access logger puts
// around its records: its built-in labels, node.cluster, node.id and the
// log name.
func OTLPResource(nodeID, cluster, logName string) *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		kv("log_name", logName), kv("zone_name", ""), kv("cluster_name", cluster), kv("node_name", nodeID),
	}}
}

// HTTP renders e as the log record Envoy sends when its OpenTelemetry
// access logger is configured with v: every value a string as Envoy's
// command operators print it ("-" for none, durations in whole
// milliseconds), except Semconv's typed values.
func (v Vocabulary) HTTP(e *datav3.HTTPAccessLogEntry) *logspb.LogRecord {
	o := httpOps(e)
	return v.render(&o)
}

// TCP renders e as HTTP does.
func (v Vocabulary) TCP(e *datav3.TCPAccessLogEntry) *logspb.LogRecord {
	o := commonOps(e.GetCommonProperties())
	o.tcp = true
	o.bytesIn = strconv.FormatUint(e.GetConnectionProperties().GetReceivedBytes(), 10)
	o.bytesOut = strconv.FormatUint(e.GetConnectionProperties().GetSentBytes(), 10)
	o.reqBytes, o.respBytes = e.GetConnectionProperties().GetReceivedBytes(), e.GetConnectionProperties().GetSentBytes()
	return v.render(&o)
}

func (v Vocabulary) render(o *ops) *logspb.LogRecord {
	lr := &logspb.LogRecord{TimeUnixNano: uint64(o.start.UnixNano())}
	switch v {
	case Meshtel:
		lr.Attributes = o.meshtel()
	case Gateway:
		lr.Attributes = o.gateway()
	case Semconv:
		lr.Attributes = o.semconv()
	case Text:
		lr.Body = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: o.text()}}
	}
	return lr
}

// ops are the texts of Envoy's command operators for one entry: what
// %RESPONSE_CODE%, %DURATION%, … print, "-" for nothing.
type ops struct {
	tcp                                                    bool
	start                                                  time.Time
	method, path, protocol, code, flags, details           string
	termination, failure, bytesIn, bytesOut                string
	duration, upstreamDuration, userAgent, requestID       string
	authority, upstreamHost, cluster, local, remote, route string
	cookie, setCookie, grpcStatus, peerURISAN              string
	logType, tlsVersion                                    string

	// Typed values, for Semconv.
	status, grpc        int64
	hasStatus, hasGRPC  bool
	reqBytes, respBytes uint64
	rawPath, rawRemote  string
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func commonOps(c *datav3.AccessLogCommon) ops {
	o := ops{
		start:  c.GetStartTime().AsTime().UTC(),
		method: "-", path: "-", protocol: "-", code: "0", userAgent: "-", requestID: "-", authority: "-",
		cookie: "-", setCookie: "-", grpcStatus: "-",
		flags:            dash(strings.Join(flagCodes(c.GetResponseFlags()), ",")),
		details:          "-",
		termination:      dash(c.GetConnectionTerminationDetails()),
		failure:          dash(c.GetUpstreamTransportFailureReason()),
		duration:         millis(c.GetDuration()),
		upstreamDuration: millis(c.GetTimeToLastUpstreamRxByte()),
		upstreamHost:     dash(socketAddress(c.GetUpstreamRemoteAddress().GetSocketAddress())),
		cluster:          dash(c.GetUpstreamCluster()),
		local:            dash(socketAddress(c.GetDownstreamLocalAddress().GetSocketAddress())),
		remote:           dash(socketAddress(c.GetDownstreamRemoteAddress().GetSocketAddress())),
		route:            dash(c.GetRouteName()),
		peerURISAN:       "-",
		logType:          c.GetAccessLogType().String(),
		tlsVersion:       "-",
		rawRemote:        c.GetDownstreamRemoteAddress().GetSocketAddress().GetAddress(),
	}
	if c.GetDuration() == nil {
		o.duration = millis(c.GetTimeToLastDownstreamTxByte())
	}
	if tls := c.GetTlsProperties(); tls != nil {
		if v := tls.GetTlsVersion(); v != datav3.TLSProperties_VERSION_UNSPECIFIED {
			o.tlsVersion = strings.ReplaceAll(v.String(), "_", ".")
		}
		for _, san := range tls.GetPeerCertificateProperties().GetSubjectAltName() {
			if u := san.GetUri(); u != "" {
				o.peerURISAN = u
				break
			}
		}
	}
	return o
}

func httpOps(e *datav3.HTTPAccessLogEntry) ops {
	o := commonOps(e.GetCommonProperties())
	req, resp := e.GetRequest(), e.GetResponse()
	if m := req.GetRequestMethod(); m != 0 {
		o.method = m.String()
	}
	o.rawPath = req.GetOriginalPath()
	if o.rawPath == "" {
		o.rawPath = req.GetPath()
	}
	o.path = dash(o.rawPath)
	switch e.GetProtocolVersion() {
	case datav3.HTTPAccessLogEntry_HTTP10:
		o.protocol = "HTTP/1.0"
	case datav3.HTTPAccessLogEntry_HTTP11:
		o.protocol = "HTTP/1.1"
	case datav3.HTTPAccessLogEntry_HTTP2:
		o.protocol = "HTTP/2"
	case datav3.HTTPAccessLogEntry_HTTP3:
		o.protocol = "HTTP/3"
	}
	if c := resp.GetResponseCode(); c != nil {
		o.code, o.status, o.hasStatus = strconv.FormatUint(uint64(c.GetValue()), 10), int64(c.GetValue()), true
	}
	o.details = dash(resp.GetResponseCodeDetails())
	o.bytesIn, o.bytesOut = strconv.FormatUint(req.GetRequestBodyBytes(), 10), strconv.FormatUint(resp.GetResponseBodyBytes(), 10)
	o.reqBytes, o.respBytes = req.GetRequestBodyBytes(), resp.GetResponseBodyBytes()
	o.userAgent = dash(req.GetRequestHeaders()["user-agent"])
	if ua := req.GetUserAgent(); ua != "" {
		o.userAgent = ua
	}
	o.requestID = dash(req.GetRequestHeaders()["x-request-id"])
	if id := req.GetRequestId(); id != "" {
		o.requestID = id
	}
	o.authority = dash(req.GetAuthority())
	o.cookie = dash(req.GetRequestHeaders()["cookie"])
	o.setCookie = dash(resp.GetResponseHeaders()["set-cookie"])
	gs, ok := resp.GetResponseTrailers()["grpc-status"]
	if !ok {
		gs, ok = resp.GetResponseHeaders()["grpc-status"]
	}
	if n, err := strconv.ParseInt(gs, 10, 32); ok && err == nil {
		o.grpcStatus, o.grpc, o.hasGRPC = gs, n, true
	}
	return o
}

// millis is %DURATION%: whole milliseconds, truncated.
func millis(d *durationpb.Duration) string {
	if d == nil {
		return "-"
	}
	return strconv.FormatInt(d.AsDuration().Milliseconds(), 10)
}

func socketAddress(sa interface {
	GetAddress() string
	GetPortValue() uint32
}) string {
	if sa.GetAddress() == "" {
		return ""
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
}

// flagNames are ResponseFlags' fields with the short codes Envoy prints,
// in Envoy's order.
var flagNames = []struct{ field, code string }{
	{"failed_local_healthcheck", "LH"}, {"no_healthy_upstream", "UH"}, {"upstream_request_timeout", "UT"},
	{"local_reset", "LR"}, {"upstream_remote_reset", "UR"}, {"upstream_connection_failure", "UF"},
	{"upstream_connection_termination", "UC"}, {"upstream_overflow", "UO"}, {"no_route_found", "NR"},
	{"delay_injected", "DI"}, {"fault_injected", "FI"}, {"rate_limited", "RL"}, {"unauthorized_details", "UAEX"},
	{"rate_limit_service_error", "RLSE"}, {"downstream_connection_termination", "DC"},
	{"upstream_retry_limit_exceeded", "URX"}, {"stream_idle_timeout", "SI"}, {"invalid_envoy_request_headers", "IH"},
	{"downstream_protocol_error", "DPE"}, {"upstream_max_stream_duration_reached", "UMSDR"},
	{"response_from_cache_filter", "RFCF"}, {"no_filter_config_found", "NFCF"}, {"duration_timeout", "DT"},
	{"upstream_protocol_error", "UPE"}, {"no_cluster_found", "NC"}, {"overload_manager", "OM"},
	{"dns_resolution_failure", "DF"}, {"downstream_remote_reset", "DR"},
}

func flagCodes(f *datav3.ResponseFlags) []string {
	if f == nil {
		return nil
	}
	m := f.ProtoReflect()
	var codes []string
	for _, n := range flagNames {
		if m.Has(m.Descriptor().Fields().ByName(protoreflect.Name(n.field))) {
			codes = append(codes, n.code)
		}
	}
	return codes
}

func kv(key, value string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: value}}}
}

func kvInt(key string, value int64) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: value}}}
}

func kvStrings(key string, values []string) *commonpb.KeyValue {
	arr := &commonpb.ArrayValue{}
	for _, v := range values {
		arr.Values = append(arr.Values, &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}})
	}
	return &commonpb.KeyValue{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: arr}}}
}

// meshtel is dashgen's configuration: SPEC §7's first vocabulary.
func (o *ops) meshtel() []*commonpb.KeyValue {
	attrs := []*commonpb.KeyValue{
		kv("method", o.method), kv("path", o.path), kv("authority", o.authority), kv("protocol", o.protocol),
		kv("status", o.code), kv("grpc_status", o.grpcStatus), kv("response_flags", o.flags),
		kv("response_code_details", o.details), kv("connection_termination_details", o.termination),
		kv("upstream_transport_failure_reason", o.failure), kv("duration_ms", o.duration),
		kv("upstream_duration_ms", o.upstreamDuration), kv("request_bytes", o.bytesIn), kv("response_bytes", o.bytesOut),
		kv("upstream_cluster", o.cluster), kv("upstream_host", o.upstreamHost), kv("route_name", o.route),
		kv("request_id", o.requestID), kv("user_agent", o.userAgent), kv("downstream_remote_address", o.remote),
		kv("downstream_local_address", o.local), kv("peer_principal", o.peerURISAN), kv("cookie", o.cookie),
		kv("set_cookie", o.setCookie), kv("access_log_type", o.logType), kv("tls_version", o.tlsVersion),
	}
	if o.tcp {
		attrs = append(attrs, kv("kind", "tcp"))
	}
	return attrs
}

// gateway is Envoy Gateway's default set of attributes.
func (o *ops) gateway() []*commonpb.KeyValue {
	return []*commonpb.KeyValue{
		kv("start_time", o.start.Format("2006-01-02T15:04:05.000Z")), kv("method", o.method),
		kv("x-envoy-origin-path", o.path), kv("protocol", o.protocol), kv("response_code", o.code),
		kv("response_flags", o.flags), kv("response_code_details", o.details),
		kv("connection_termination_details", o.termination), kv("upstream_transport_failure_reason", o.failure),
		kv("bytes_received", o.bytesIn), kv("bytes_sent", o.bytesOut), kv("duration", o.duration),
		kv("x-envoy-upstream-service-time", o.upstreamDuration), kv("x-forwarded-for", "-"),
		kv("user-agent", o.userAgent), kv("x-request-id", o.requestID), kv(":authority", o.authority),
		kv("upstream_host", o.upstreamHost), kv("upstream_cluster", o.cluster), kv("upstream_local_address", "-"),
		kv("downstream_local_address", o.local), kv("downstream_remote_address", o.remote),
		kv("requested_server_name", "-"), kv("route_name", o.route),
	}
}

// semconv is OpenTelemetry's semantic conventions, typed.
func (o *ops) semconv() []*commonpb.KeyValue {
	var attrs []*commonpb.KeyValue
	if o.tcp {
		return []*commonpb.KeyValue{kv("client.address", o.rawRemote)}
	}
	path, _, _ := strings.Cut(o.rawPath, "?")
	attrs = append(attrs, kv("http.request.method", o.method), kv("url.path", path), kv("server.address", o.authority),
		kv("client.address", o.rawRemote), kv("user_agent.original", o.userAgent),
		kv("network.protocol.version", strings.TrimPrefix(o.protocol, "HTTP/")),
		kvInt("http.request.body.size", int64(o.reqBytes)), kvInt("http.response.body.size", int64(o.respBytes)))
	if _, port, err := net.SplitHostPort(o.remote); err == nil {
		if p, err := strconv.ParseInt(port, 10, 32); err == nil {
			attrs = append(attrs, kvInt("client.port", p))
		}
	}
	if o.hasStatus {
		attrs = append(attrs, kvInt("http.response.status_code", o.status))
	}
	if o.hasGRPC {
		attrs = append(attrs, kvInt("rpc.grpc.status_code", o.grpc))
	}
	if o.cookie != "-" {
		attrs = append(attrs, kvStrings("http.request.header.cookie", []string{o.cookie}))
	}
	if o.setCookie != "-" {
		attrs = append(attrs, kvStrings("http.response.header.set-cookie", splitSetCookie(o.setCookie)))
	}
	return attrs
}

// text is the line Istio's default text format prints.
func (o *ops) text() string {
	q := func(s string) string { return `"` + s + `"` }
	return strings.Join([]string{
		"[" + o.start.Format("2006-01-02T15:04:05.000Z") + "]", q(o.method + " " + o.path + " " + o.protocol),
		o.code, o.flags, o.details, o.termination, q(o.failure), o.bytesIn, o.bytesOut, o.duration, o.upstreamDuration,
		q("-"), q(o.userAgent), q(o.requestID), q(o.authority), q(o.upstreamHost), o.cluster, "-", o.local, o.remote, "-", o.route,
	}, " ") + "\n"
}

// splitSetCookie undoes Envoy's folding of Set-Cookie headers with ",":
// a comma starts a new header only where a name and '=' follow, which
// an Expires date never has.
func splitSetCookie(h string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(h); i++ {
		if h[i] != ',' {
			continue
		}
		rest := strings.TrimLeft(h[i+1:], " ")
		eq := strings.IndexByte(rest, '=')
		if eq > 0 && !strings.ContainsAny(rest[:eq], " ;,") {
			lines = append(lines, h[start:i])
			start = i + 1
		}
	}
	return append(lines, h[start:])
}
