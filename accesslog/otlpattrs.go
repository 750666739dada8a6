package accesslog

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"

	"github.com/meshtel/meshtel/accesslog/envoytext"
	"github.com/meshtel/meshtel/record"
)

// The attribute vocabularies of OTLP access logs (SPEC §7). Every log
// record attribute whose key one of them names fills a field of the
// entry; when several name the same field, the first vocabulary wins,
// then the text body (vocabulary 4) fills what is still missing. Envoy
// prints every value as a string and "-" when it has none: "-" and ""
// are absent, numbers are parsed, and typed values (int, double, bool,
// string arrays) are accepted too. A value of the wrong type, or a number
// that does not parse, leaves its field absent.

// attrField is an entry field an OTLP attribute fills.
type attrField uint8

const (
	fStatus attrField = iota
	fMethod
	fPath
	fAuthority
	fProtocol
	fDuration
	fUpstreamDuration
	fResponseFlags
	fUpstreamCluster
	fUpstreamHost
	fRouteName
	fRequestBytes
	fResponseBytes
	fGRPCStatus
	fRequestID
	fUserAgent
	fDownstreamRemote
	fDownstreamLocal
	fPeerPrincipal
	fResponseCodeDetails
	fConnTermination
	fUpstreamFailure
	fCookie
	fSetCookie
	fKind
	fTLSVersion
	fAccessLogType
	fIntermediate
	fStartTime
	fClientPort // semconv client.port, joined to client.address
	numAttrFields
)

// Vocabularies, in the order they win.
const (
	vocabMeshtel uint8 = 1 + iota // SPEC §2's field names
	vocabGateway                  // Envoy Gateway's default attributes
	vocabSemconv                  // OpenTelemetry semantic conventions v1.44
	vocabText                     // Envoy's default text format in the body
)

type attrKey struct {
	field attrField
	vocab uint8
}

// otlpAttributes maps attribute keys to what they fill. Keys two
// vocabularies share (method, protocol, upstream_host, …) are listed once,
// under the first.
var otlpAttributes = map[string]attrKey{
	// 1. meshtel: SPEC §2's names, and the raw cookie headers. access_log_type
	// (Envoy's %ACCESS_LOG_TYPE%), intermediate and tls_version are
	// additions: without the first, Envoy's periodic and upstream entries
	// would count as requests.
	"status": {fStatus, vocabMeshtel}, "method": {fMethod, vocabMeshtel}, "path": {fPath, vocabMeshtel},
	"authority": {fAuthority, vocabMeshtel}, "protocol": {fProtocol, vocabMeshtel},
	"duration_ms": {fDuration, vocabMeshtel}, "upstream_duration_ms": {fUpstreamDuration, vocabMeshtel},
	"response_flags": {fResponseFlags, vocabMeshtel}, "upstream_cluster": {fUpstreamCluster, vocabMeshtel},
	"upstream_host": {fUpstreamHost, vocabMeshtel}, "route_name": {fRouteName, vocabMeshtel},
	"request_bytes": {fRequestBytes, vocabMeshtel}, "response_bytes": {fResponseBytes, vocabMeshtel},
	"grpc_status": {fGRPCStatus, vocabMeshtel}, "request_id": {fRequestID, vocabMeshtel},
	"user_agent": {fUserAgent, vocabMeshtel}, "downstream_remote_address": {fDownstreamRemote, vocabMeshtel},
	"downstream_local_address": {fDownstreamLocal, vocabMeshtel}, "peer_principal": {fPeerPrincipal, vocabMeshtel},
	"response_code_details":             {fResponseCodeDetails, vocabMeshtel},
	"connection_termination_details":    {fConnTermination, vocabMeshtel},
	"upstream_transport_failure_reason": {fUpstreamFailure, vocabMeshtel},
	"cookie":                            {fCookie, vocabMeshtel}, "set_cookie": {fSetCookie, vocabMeshtel}, "kind": {fKind, vocabMeshtel},
	"access_log_type": {fAccessLogType, vocabMeshtel}, "intermediate": {fIntermediate, vocabMeshtel},
	"tls_version": {fTLSVersion, vocabMeshtel},

	// 2. Envoy Gateway's defaults, where they differ from the above.
	"response_code": {fStatus, vocabGateway}, "x-envoy-origin-path": {fPath, vocabGateway},
	"bytes_received": {fRequestBytes, vocabGateway}, "bytes_sent": {fResponseBytes, vocabGateway},
	"duration": {fDuration, vocabGateway}, "x-envoy-upstream-service-time": {fUpstreamDuration, vocabGateway},
	"user-agent": {fUserAgent, vocabGateway}, "x-request-id": {fRequestID, vocabGateway},
	":authority": {fAuthority, vocabGateway}, "start_time": {fStartTime, vocabGateway},

	// 3. OpenTelemetry semantic conventions; the body sizes and client.port
	// are additions.
	"http.request.method": {fMethod, vocabSemconv}, "url.path": {fPath, vocabSemconv},
	"http.response.status_code": {fStatus, vocabSemconv}, "server.address": {fAuthority, vocabSemconv},
	"client.address": {fDownstreamRemote, vocabSemconv}, "client.port": {fClientPort, vocabSemconv},
	"user_agent.original": {fUserAgent, vocabSemconv}, "network.protocol.version": {fProtocol, vocabSemconv},
	"http.request.header.cookie": {fCookie, vocabSemconv}, "http.response.header.set-cookie": {fSetCookie, vocabSemconv},
	"rpc.grpc.status_code":   {fGRPCStatus, vocabSemconv},
	"http.request.body.size": {fRequestBytes, vocabSemconv}, "http.response.body.size": {fResponseBytes, vocabSemconv},
}

// maxOTLPAttributes caps the attributes of one log record or resource:
// the vocabularies have fewer than 30 keys, and a record with thousands
// is not an access log.
const maxOTLPAttributes = 512

// valueKind is the case of an OTLP AnyValue.
type valueKind uint8

const (
	vNone valueKind = iota
	vString
	vBool
	vInt
	vDouble
	vArray
	vKvlist
	vBytes
)

// attrValue is an OTLP AnyValue as read from the wire: its case, and its
// string, scalar or still encoded (array, kvlist) contents, aliasing the
// frame.
type attrValue struct {
	kind valueKind
	s    string // string_value
	raw  []byte // the encoded ArrayValue or KeyValueList
	n    uint64 // bool_value, int_value, or double_value's bits
}

// present reports whether v counts as a value: Envoy prints "-" for none.
func (v attrValue) present() bool {
	switch v.kind {
	case vNone:
		return false
	case vString:
		return v.s != "" && v.s != "-"
	case vArray:
		return len(v.raw) > 0
	}
	return true
}

// otlpRecord gathers what one log record's attributes and body say, field
// by field, before they are parsed into an entry.
type otlpRecord struct {
	vals                   [numAttrFields]attrValue
	vocab                  [numAttrFields]uint8 // which vocabulary set vals[f]; 0: none
	timeNano, observedNano uint64
	body                   attrValue
	attrs                  int
	// dashProtocol: a protocol attribute printed "-", which Envoy's
	// %PROTOCOL% does for TCP proxies only.
	dashProtocol bool
	// bad says why the record cannot be read; badKey names the attribute.
	bad, badKey string
}

func (r *otlpRecord) reset() {
	*r = otlpRecord{}
}

// offer sets v as k's field unless a value of the same or an earlier
// vocabulary is there; "-" and "" are no value.
func (r *otlpRecord) offer(k attrKey, v attrValue) {
	if !v.present() {
		return
	}
	if r.vocab[k.field] == 0 || k.vocab < r.vocab[k.field] {
		r.vals[k.field], r.vocab[k.field] = v, k.vocab
	}
}

// setText fills the fields still missing from an Envoy text-format body.
func (r *otlpRecord) setText(l *envoytext.Line) {
	for _, t := range [...]struct {
		f attrField
		s string
	}{
		{fStartTime, l.StartTime}, {fMethod, l.Method}, {fPath, l.Path}, {fProtocol, l.Protocol},
		{fStatus, l.ResponseCode}, {fResponseFlags, l.ResponseFlags}, {fResponseCodeDetails, l.ResponseCodeDetails},
		{fConnTermination, l.ConnectionTermination}, {fUpstreamFailure, l.UpstreamTransportFailureReason},
		{fRequestBytes, l.BytesReceived}, {fResponseBytes, l.BytesSent}, {fDuration, l.Duration},
		{fUpstreamDuration, l.UpstreamServiceTime}, {fUserAgent, l.UserAgent}, {fRequestID, l.RequestID},
		{fAuthority, l.Authority}, {fUpstreamHost, l.UpstreamHost}, {fUpstreamCluster, l.UpstreamCluster},
		{fDownstreamLocal, l.DownstreamLocalAddress}, {fDownstreamRemote, l.DownstreamRemoteAddress},
		{fRouteName, l.RouteName},
	} {
		v := attrValue{kind: vString, s: t.s}
		if r.vocab[t.f] == 0 && v.present() {
			r.vals[t.f], r.vocab[t.f] = v, vocabText
		}
	}
	// A TCP proxy's line has no request: "- - -".
	if l.Method == "-" && l.Path == "-" && l.Protocol == "-" && r.vocab[fKind] == 0 {
		r.vals[fKind], r.vocab[fKind] = attrValue{kind: vString, s: "tcp"}, vocabText
	}
}

// otlpFields parses an otlpRecord into an entry.
type otlpFields struct {
	r       *otlpRecord
	e       *entry
	scratch []byte // joined arrays and formatted numbers, until own
	n       int    // fields that parsed
}

// toEntry fills e from r and returns how many fields parsed; r's strings
// must be valid UTF-8 (the decoder checks them).
func (r *otlpRecord) toEntry(e *entry, scratch []byte) (int, []byte) {
	p := otlpFields{r: r, e: e, scratch: scratch[:0]}
	*e = entry{}
	if v, ok := p.str(fKind); ok {
		if strings.EqualFold(v, "tcp") {
			e.kind = record.TCP
		}
	} else if r.dashProtocol && r.vocab[fProtocol] == 0 && r.vocab[fMethod] == 0 {
		e.kind = record.TCP
	}
	p.time()
	e.routeName, _ = p.str(fRouteName)
	e.upstreamCluster, _ = p.str(fUpstreamCluster)
	e.upstreamHost, _ = p.str(fUpstreamHost)
	p.addresses()
	e.flags = p.flags()
	e.duration = p.ms(fDuration)
	e.lastUpstreamRx = p.ms(fUpstreamDuration)
	if v, ok := p.str(fTLSVersion); ok {
		e.tlsVersion = tlsVersionOf(v)
	}
	e.peerPrincipal, _ = p.str(fPeerPrincipal)
	e.connTermination, _ = p.str(fConnTermination)
	e.upstreamFailure, _ = p.str(fUpstreamFailure)
	e.intermediate = p.bool(fIntermediate)
	if v, ok := p.str(fAccessLogType); ok {
		e.logType = datav3.AccessLogType(datav3.AccessLogType_value[v])
	}
	e.requestBytes, _ = p.uint(fRequestBytes, math.MaxUint64)
	e.responseBytes, _ = p.uint(fResponseBytes, math.MaxUint64)
	if e.kind == record.HTTP {
		p.http()
	}
	return p.n, p.scratch
}

func (p *otlpFields) http() {
	e := p.e
	if v, ok := p.str(fProtocol); ok {
		e.protocol = httpVersionOf(v)
	}
	if v, ok := p.str(fMethod); ok {
		e.method = corev3.RequestMethod(corev3.RequestMethod_value[v])
	}
	e.authority, _ = p.str(fAuthority)
	e.path, _ = p.str(fPath)
	e.userAgent, _ = p.str(fUserAgent)
	e.requestID, _ = p.str(fRequestID)
	e.cookieHeader, _ = p.list(fCookie, "; ")
	e.setCookieHeader, _ = p.list(fSetCookie, ",")
	if v, ok := p.uint(fStatus, math.MaxUint32); ok {
		e.responseCode = optUint32{true, uint32(v)}
	}
	e.responseCodeDetails, _ = p.str(fResponseCodeDetails)
	if v, ok := p.uint(fGRPCStatus, math.MaxInt32); ok {
		start := len(p.scratch)
		p.scratch = strconv.AppendUint(p.scratch, v, 10)
		e.trailerGRPCStatus = optString{true, aliasString(p.scratch[start:])}
	}
}

// time is the request start: the record's time_unix_nano (Envoy's start
// time), else a start_time attribute or text, else its observed time.
func (p *otlpFields) time() {
	ns := p.r.timeNano
	if ns == 0 {
		if v, ok := p.str(fStartTime); ok {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.UnixNano() > 0 {
				ns = uint64(t.UnixNano())
			}
		}
	}
	if ns == 0 {
		ns = p.r.observedNano
	}
	if ns != 0 && ns <= math.MaxInt64 {
		p.e.startTime = optTime{true, int64(ns / 1e9), int32(ns % 1e9)}
	}
}

// addresses fills the downstream addresses; semconv's client.address is
// an address without its port, which client.port completes.
func (p *otlpFields) addresses() {
	e := p.e
	e.downstreamRemote, _ = p.str(fDownstreamRemote)
	if p.r.vocab[fDownstreamRemote] == vocabSemconv && e.downstreamRemote != "" {
		if port, ok := p.uint(fClientPort, math.MaxUint16); ok {
			start := len(p.scratch)
			if strings.IndexByte(e.downstreamRemote, ':') >= 0 {
				p.scratch = append(append(append(p.scratch, '['), e.downstreamRemote...), ']')
			} else {
				p.scratch = append(p.scratch, e.downstreamRemote...)
			}
			p.scratch = strconv.AppendUint(append(p.scratch, ':'), port, 10)
			e.downstreamRemote = aliasString(p.scratch[start:])
		}
	}
	if local, ok := p.str(fDownstreamLocal); ok {
		if i := strings.LastIndexByte(local, ':'); i >= 0 {
			if port, err := strconv.ParseUint(local[i+1:], 10, 16); err == nil {
				e.localPort = uint32(port)
			}
		}
	}
}

// str is a string field's value.
func (p *otlpFields) str(f attrField) (string, bool) {
	v := p.r.vals[f]
	if v.kind != vString || !v.present() {
		return "", false
	}
	p.n++
	return v.s, true
}

// uint is a whole number up to max: a decimal string, an int, or a double
// without a fraction.
func (p *otlpFields) uint(f attrField, max uint64) (uint64, bool) {
	v := p.r.vals[f]
	var n uint64
	switch v.kind {
	case vString:
		var err error
		if n, err = strconv.ParseUint(v.s, 10, 64); err != nil {
			return 0, false
		}
	case vInt:
		if int64(v.n) < 0 {
			return 0, false
		}
		n = v.n
	case vDouble:
		d := math.Float64frombits(v.n)
		if d < 0 || d >= math.MaxUint64 || d != math.Trunc(d) {
			return 0, false
		}
		n = uint64(d)
	default:
		return 0, false
	}
	if n > max {
		return 0, false
	}
	p.n++
	return n, true
}

// maxDurationMs bounds durations: a day, far beyond any request, and
// far within what optDuration holds.
const maxDurationMs = 24 * 3600 * 1000

// ms is a duration in milliseconds: a decimal string, an int or a double.
func (p *otlpFields) ms(f attrField) optDuration {
	v := p.r.vals[f]
	var d float64
	switch v.kind {
	case vString:
		var err error
		if d, err = strconv.ParseFloat(v.s, 64); err != nil {
			return optDuration{}
		}
	case vInt:
		d = float64(int64(v.n))
	case vDouble:
		d = math.Float64frombits(v.n)
	default:
		return optDuration{}
	}
	if !(d >= 0 && d <= maxDurationMs) { // also false for NaN
		return optDuration{}
	}
	p.n++
	ns := int64(math.Round(d * 1e6))
	return optDuration{true, ns / 1e9, int32(ns % 1e9)}
}

// bool is a bool, or the string "true".
func (p *otlpFields) bool(f attrField) bool {
	v := p.r.vals[f]
	switch {
	case v.kind == vBool:
		p.n++
		return v.n != 0
	case v.kind == vString && (v.s == "true" || v.s == "false"):
		p.n++
		return v.s == "true"
	}
	return false
}

// list is a string, or the strings of an array joined by sep: semconv
// sends each header line as an element.
func (p *otlpFields) list(f attrField, sep string) (string, bool) {
	v := p.r.vals[f]
	if v.kind == vString {
		return p.str(f)
	}
	if v.kind != vArray || !v.present() {
		return "", false
	}
	start := len(p.scratch)
	first := true
	if err := eachArrayString(v.raw, func(s string) {
		if !first {
			p.scratch = append(p.scratch, sep...)
		}
		p.scratch = append(p.scratch, s...)
		first = false
	}); err != nil || first {
		p.scratch = p.scratch[:start]
		return "", false
	}
	p.n++
	return aliasString(p.scratch[start:]), true
}

// flags are Envoy's short codes, comma-joined as %RESPONSE_FLAGS% prints
// them, or one per array element. Codes alsd does not know are left out.
func (p *otlpFields) flags() responseFlagBits {
	v := p.r.vals[fResponseFlags]
	var bits responseFlagBits
	add := func(s string) {
		for s != "" {
			code, rest, _ := strings.Cut(s, ",")
			s = rest
			if i, ok := flagIndex[strings.TrimSpace(code)]; ok {
				bits |= 1 << (i + 1)
			}
		}
	}
	switch v.kind {
	case vString:
		if !v.present() {
			return 0
		}
		add(v.s)
	case vArray:
		if eachArrayString(v.raw, add) != nil {
			return 0
		}
	default:
		return 0
	}
	p.n++
	return bits
}

// flagIndex is each short code's position in responseFlagCodes.
var flagIndex = func() map[string]int {
	m := make(map[string]int, len(responseFlagCodes))
	for i, rf := range responseFlagCodes {
		m[rf.code] = i
	}
	return m
}()

func httpVersionOf(s string) datav3.HTTPAccessLogEntry_HTTPVersion {
	switch strings.TrimPrefix(s, "HTTP/") {
	case "1.0":
		return datav3.HTTPAccessLogEntry_HTTP10
	case "1.1":
		return datav3.HTTPAccessLogEntry_HTTP11
	case "2", "2.0":
		return datav3.HTTPAccessLogEntry_HTTP2
	case "3", "3.0":
		return datav3.HTTPAccessLogEntry_HTTP3
	}
	return datav3.HTTPAccessLogEntry_PROTOCOL_UNSPECIFIED
}

// tlsVersionOf reads %DOWNSTREAM_TLS_VERSION% ("TLSv1.3") or the ALS
// enum's name ("TLSv1_3").
func tlsVersionOf(s string) datav3.TLSProperties_TLSVersion {
	var buf [16]byte
	if len(s) > len(buf) || !utf8.ValidString(s) {
		return datav3.TLSProperties_VERSION_UNSPECIFIED
	}
	b := buf[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			c = '_'
		}
		b = append(b, c)
	}
	return datav3.TLSProperties_TLSVersion(datav3.TLSProperties_TLSVersion_value[string(b)])
}
