package accesslog

import (
	"net"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/pii"
	"github.com/meshtel/meshtel/record"
)

// Identity is what a stream's first message says about the Envoy that sent
// it; Envoy sends it only once per stream and it applies to every later
// message of that stream.
type Identity struct {
	NodeID  string
	Cluster string // node.cluster
	LogName string
	// Principal is the reporting Envoy's identity verified by mTLS, "" on
	// a plaintext or server-only TLS listener.
	Principal string
	// service is the catalog service named by Cluster (or one of its
	// aliases), resolved once per stream.
	service string
	// headersCut counts the records whose logged headers MaxHeaderBytes
	// cut since the server last collected it.
	headersCut int
	// masked counts the personal data masked since the server last
	// collected it.
	masked pii.Counts
}

// Converter turns Envoy log entries into Records. It is safe for
// concurrent use; per-stream state lives in Identity.
type Converter struct {
	// Catalog names services; nil names none (every service is then its
	// Envoys' node.cluster).
	Catalog *catalog.Catalog
	// KeepQuery keeps the query string in Record.Path. Off by default: query
	// strings carry e-mail addresses, tokens and other PII.
	KeepQuery bool
	// KeepPII keeps e-mail addresses, card numbers, JWTs and tokens in
	// Record.Path and Record.UserAgent. Off by default: they are masked
	// (package pii) before the record reaches any stage or Kafka.
	KeepPII bool
	// Classify sets Record.Outcome once every other field is filled; nil
	// leaves it Unknown. The SLI package supplies it, so this package needs
	// no knowledge of SLOs.
	Classify func(*record.Record) outcome.Outcome
	// MaxHeaderBytes caps the bytes of logged headers one record keeps
	// (x-request-id, user-agent, cookie, set-cookie, in that order); the
	// rest is cut, whole cookies at a time. 0 means DefaultMaxHeaderBytes;
	// negative, no cap.
	MaxHeaderBytes int
}

// Bind resolves the part of a stream's service naming that depends only on
// its identifier, so it is done once per stream rather than per entry.
func (c *Converter) Bind(id *Identity) {
	id.service = ""
	if s := c.Catalog.Lookup(id.Cluster); s != nil {
		id.service = s.Name
	}
}

// entry is what conversion reads from an Envoy log entry, as plain values:
// Converter.HTTP and TCP fill it from the decoded proto, the wire decoder
// (wire.go) straight from the bytes, and fill turns either into a Record,
// so the two paths cannot drift apart.
type entry struct {
	kind record.Kind

	startTime                         optTime
	routeName, upstreamCluster        string
	upstreamHost, downstreamRemote    string
	localPort                         uint32
	flags                             responseFlagBits
	duration, lastDownstreamTx        optDuration
	lastUpstreamRx                    optDuration
	tlsVersion                        datav3.TLSProperties_TLSVersion
	peerPrincipal                     string
	connTermination, upstreamFailure  string
	intermediate                      bool
	logType                           datav3.AccessLogType
	protocol                          datav3.HTTPAccessLogEntry_HTTPVersion
	method                            corev3.RequestMethod
	authority, path, originalPath     string
	userAgent, requestID              string
	requestBytes, responseBytes       uint64
	userAgentHeader, requestIDHeader  string
	cookieHeader, setCookieHeader     string
	responseCode                      optUint32
	responseCodeDetails               string
	trailerGRPCStatus, headGRPCStatus optString
}

// optTime is a Timestamp or a Duration, set when the message was present.
type optTime struct {
	set   bool
	sec   int64
	nanos int32
}

type optDuration = optTime

type optUint32 struct {
	set bool
	v   uint32
}

type optString struct {
	set bool
	v   string
}

// HTTP fills r from an HTTP entry. r is reset first; its slices are reused.
func (c *Converter) HTTP(r *record.Record, id *Identity, e *datav3.HTTPAccessLogEntry, now time.Time) {
	var f entry
	f.kind = record.HTTP
	f.common(e.GetCommonProperties())
	f.protocol = e.GetProtocolVersion()
	req := e.GetRequest()
	f.method = req.GetRequestMethod()
	f.authority = req.GetAuthority()
	f.path = req.GetPath()
	f.originalPath = req.GetOriginalPath()
	f.userAgent = req.GetUserAgent()
	f.requestID = req.GetRequestId()
	f.requestBytes = req.GetRequestBodyBytes()
	reqHeaders := req.GetRequestHeaders()
	f.userAgentHeader = reqHeaders["user-agent"]
	f.requestIDHeader = reqHeaders["x-request-id"]
	f.cookieHeader = reqHeaders["cookie"]
	resp := e.GetResponse()
	if code := resp.GetResponseCode(); code != nil {
		f.responseCode = optUint32{true, code.GetValue()}
	}
	f.responseBytes = resp.GetResponseBodyBytes()
	f.responseCodeDetails = resp.GetResponseCodeDetails()
	f.trailerGRPCStatus.v, f.trailerGRPCStatus.set = resp.GetResponseTrailers()["grpc-status"]
	f.headGRPCStatus.v, f.headGRPCStatus.set = resp.GetResponseHeaders()["grpc-status"]
	f.setCookieHeader = resp.GetResponseHeaders()["set-cookie"]
	c.fill(r, id, &f, now)
}

// TCP fills r from a TCP entry. r is reset first; its slices are reused.
func (c *Converter) TCP(r *record.Record, id *Identity, e *datav3.TCPAccessLogEntry, now time.Time) {
	var f entry
	f.kind = record.TCP
	f.common(e.GetCommonProperties())
	f.requestBytes = e.GetConnectionProperties().GetReceivedBytes()
	f.responseBytes = e.GetConnectionProperties().GetSentBytes()
	c.fill(r, id, &f, now)
}

func (f *entry) common(p *datav3.AccessLogCommon) {
	if ts := p.GetStartTime(); ts != nil {
		f.startTime = optTime{true, ts.GetSeconds(), ts.GetNanos()}
	}
	f.routeName = p.GetRouteName()
	f.upstreamCluster = p.GetUpstreamCluster()
	f.upstreamHost = addressString(p.GetUpstreamRemoteAddress())
	f.downstreamRemote = addressString(p.GetDownstreamRemoteAddress())
	f.localPort = p.GetDownstreamLocalAddress().GetSocketAddress().GetPortValue()
	f.flags = responseFlagsOf(p.GetResponseFlags())
	f.duration = optDurationOf(p.GetDuration())
	f.lastDownstreamTx = optDurationOf(p.GetTimeToLastDownstreamTxByte())
	f.lastUpstreamRx = optDurationOf(p.GetTimeToLastUpstreamRxByte())
	if tls := p.GetTlsProperties(); tls != nil {
		f.tlsVersion = tls.GetTlsVersion()
		f.peerPrincipal = principal(tls.GetPeerCertificateProperties())
	}
	f.connTermination = p.GetConnectionTerminationDetails()
	f.upstreamFailure = p.GetUpstreamTransportFailureReason()
	f.intermediate = p.GetIntermediateLogEntry()
	f.logType = p.GetAccessLogType()
}

func optDurationOf(d *durationpb.Duration) optDuration {
	if d == nil {
		return optDuration{}
	}
	return optDuration{true, d.GetSeconds(), d.GetNanos()}
}

// fill turns f into r. r is reset first; its slices are reused.
func (c *Converter) fill(r *record.Record, id *Identity, f *entry, now time.Time) {
	r.Reset()
	r.Kind = f.kind
	r.NodeID = id.NodeID
	r.LogName = id.LogName
	r.ReporterPrincipal = id.Principal
	if f.startTime.set {
		r.Time = time.Unix(f.startTime.sec, int64(f.startTime.nanos)).UTC()
	} else {
		r.Time = now.UTC()
	}
	r.RouteName = f.routeName
	r.UpstreamCluster = f.upstreamCluster
	r.UpstreamHost = f.upstreamHost
	r.DownstreamRemoteAddress = f.downstreamRemote
	r.DownstreamLocalPort = int(f.localPort)
	r.ResponseFlags = f.flags.appendCodes(r.ResponseFlags)
	if f.duration.set {
		r.DurationMs, r.HasDuration = durationMs(f.duration), true
	} else if f.lastDownstreamTx.set {
		r.DurationMs, r.HasDuration = durationMs(f.lastDownstreamTx), true
	}
	if f.lastUpstreamRx.set {
		r.UpstreamDurationMs, r.HasUpstreamDuration = durationMs(f.lastUpstreamRx), true
	}
	if f.tlsVersion != datav3.TLSProperties_VERSION_UNSPECIFIED {
		r.TLSVersion = f.tlsVersion.String()
	}
	r.PeerPrincipal = f.peerPrincipal
	r.ConnectionTermination = f.connTermination
	r.UpstreamFailure = f.upstreamFailure
	r.Intermediate = f.intermediate || !finalType(f.logType)
	r.RequestBytes = f.requestBytes
	r.ResponseBytes = f.responseBytes
	if f.kind == record.HTTP {
		c.fillHTTP(r, id, f)
	}
	c.finish(r, id)
}

func (c *Converter) fillHTTP(r *record.Record, id *Identity, f *entry) {
	r.Protocol = httpVersion(f.protocol)
	if f.method != corev3.RequestMethod_METHOD_UNSPECIFIED {
		r.Method = f.method.String()
	}
	r.Authority = f.authority
	r.Path = f.originalPath
	if r.Path == "" {
		r.Path = f.path
	}
	if !c.KeepQuery {
		r.Path = stripQuery(r.Path)
	}
	r.UserAgent = f.userAgent
	r.RequestID = f.requestID
	if r.UserAgent == "" {
		r.UserAgent = f.userAgentHeader
	}
	if r.RequestID == "" {
		r.RequestID = f.requestIDHeader
	}
	hb := c.headerBudget()
	r.RequestID = hb.text(r.RequestID)
	r.UserAgent = hb.text(r.UserAgent)

	if f.responseCode.set {
		r.Status = int(f.responseCode.v)
	}
	r.ResponseCodeDetails = f.responseCodeDetails
	// gRPC puts grpc-status in trailers; a trailers-only response (an error
	// before any message) carries it in the headers instead.
	if f.trailerGRPCStatus.set {
		r.GRPCStatus = parseGRPCStatus(f.trailerGRPCStatus.v)
	} else if f.headGRPCStatus.set {
		r.GRPCStatus = parseGRPCStatus(f.headGRPCStatus.v)
	}

	if h := hb.cookie(f.cookieHeader); h != "" {
		r.Cookies, r.MalformedCookies = httpcookie.ParseRequest(h, r.Cookies, r.MalformedCookies)
	}
	if h := hb.setCookie(f.setCookieHeader); h != "" {
		r.Cookies, r.MalformedCookies = httpcookie.ParseResponse(h, r.Time, r.Cookies, r.MalformedCookies)
	}
	if hb.cut {
		id.headersCut++
	}
}

// finish masks personal data and derives the fields that depend on the
// rest: service, direction, peer service and outcome. The classifier sees
// the masked path: health-check paths hold no personal data.
func (c *Converter) finish(r *record.Record, id *Identity) {
	if !c.KeepPII {
		r.Path = pii.Path(r.Path, &id.masked)
		r.UserAgent = pii.UserAgent(r.UserAgent, &id.masked)
	}
	cat := c.Catalog
	switch {
	case id.service != "":
		r.Service = id.service
	case r.DownstreamLocalPort != 0 && cat.ByPort(r.DownstreamLocalPort) != nil:
		r.Service = cat.ByPort(r.DownstreamLocalPort).Name
	case id.Cluster != "":
		r.Service = id.Cluster
	default:
		r.Service = "unknown"
	}
	switch {
	case strings.HasPrefix(r.UpstreamCluster, "inbound|"):
		r.Direction = record.Inbound
	case strings.HasPrefix(r.UpstreamCluster, "outbound|"):
		r.Direction = record.Outbound
		r.PeerService = peerService(cat, r.UpstreamCluster)
	}
	if c.Classify != nil {
		r.Outcome = c.Classify(r)
	}
}

// peerService names the destination of an Istio outbound cluster,
// "outbound|PORT|SUBSET|HOST": the catalog service HOST (or its
// "name.namespace" prefix) is an alias of, else HOST's first label.
func peerService(cat *catalog.Catalog, cluster string) string {
	host := cluster[strings.LastIndexByte(cluster, '|')+1:]
	if host == "" {
		return ""
	}
	first, rest, _ := strings.Cut(host, ".")
	namespace, _, _ := strings.Cut(rest, ".")
	for _, name := range [...]string{host, first + "." + namespace, first} {
		if s := cat.Lookup(name); s != nil {
			return s.Name
		}
	}
	return first
}

func finalType(t datav3.AccessLogType) bool {
	switch t {
	case datav3.AccessLogType_NotSet, datav3.AccessLogType_DownstreamEnd,
		datav3.AccessLogType_TcpConnectionEnd, datav3.AccessLogType_UdpSessionEnd:
		return true
	}
	return false
}

func stripQuery(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}

// parseGRPCStatus reads a grpc-status value; anything that is not a
// non-negative 32-bit number is absent, as the proto encoding has only 32
// bits for it.
func parseGRPCStatus(s string) int {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 0 {
		return -1
	}
	return int(n)
}

func durationMs(d optDuration) float64 {
	return float64(d.sec)*1e3 + float64(d.nanos)/1e6
}

func httpVersion(v datav3.HTTPAccessLogEntry_HTTPVersion) string {
	switch v {
	case datav3.HTTPAccessLogEntry_HTTP10:
		return "HTTP/1.0"
	case datav3.HTTPAccessLogEntry_HTTP11:
		return "HTTP/1.1"
	case datav3.HTTPAccessLogEntry_HTTP2:
		return "HTTP/2"
	case datav3.HTTPAccessLogEntry_HTTP3:
		return "HTTP/3"
	}
	return ""
}

func addressString(a *corev3.Address) string {
	if a == nil {
		return ""
	}
	if sa := a.GetSocketAddress(); sa != nil {
		if p, ok := sa.GetPortSpecifier().(*corev3.SocketAddress_PortValue); ok {
			return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(p.PortValue), 10))
		}
		return sa.GetAddress()
	}
	if p := a.GetPipe(); p != nil {
		return p.GetPath()
	}
	if ia := a.GetEnvoyInternalAddress(); ia != nil {
		return ia.GetServerListenerName()
	}
	return ""
}

// principal is a certificate's identity: its first URI SAN (SPIFFE ID),
// else its first DNS SAN, else its subject.
func principal(p *datav3.TLSProperties_CertificateProperties) string {
	if p == nil {
		return ""
	}
	var dns string
	for _, san := range p.GetSubjectAltName() {
		if u := san.GetUri(); u != "" {
			return u
		}
		if d := san.GetDns(); d != "" && dns == "" {
			dns = d
		}
	}
	if dns != "" {
		return dns
	}
	return p.GetSubject()
}

// responseFlagCodes pairs Envoy's ResponseFlags fields with the short codes
// Envoy itself prints in %RESPONSE_FLAGS%.
var responseFlagCodes = []struct {
	code string
	set  func(*datav3.ResponseFlags) bool
}{
	{"LH", (*datav3.ResponseFlags).GetFailedLocalHealthcheck},
	{"UH", (*datav3.ResponseFlags).GetNoHealthyUpstream},
	{"UT", (*datav3.ResponseFlags).GetUpstreamRequestTimeout},
	{"LR", (*datav3.ResponseFlags).GetLocalReset},
	{"UR", (*datav3.ResponseFlags).GetUpstreamRemoteReset},
	{"UF", (*datav3.ResponseFlags).GetUpstreamConnectionFailure},
	{"UC", (*datav3.ResponseFlags).GetUpstreamConnectionTermination},
	{"UO", (*datav3.ResponseFlags).GetUpstreamOverflow},
	{"NR", (*datav3.ResponseFlags).GetNoRouteFound},
	{"DI", (*datav3.ResponseFlags).GetDelayInjected},
	{"FI", (*datav3.ResponseFlags).GetFaultInjected},
	{"RL", (*datav3.ResponseFlags).GetRateLimited},
	{"UAEX", func(f *datav3.ResponseFlags) bool { return f.GetUnauthorizedDetails() != nil }},
	{"RLSE", (*datav3.ResponseFlags).GetRateLimitServiceError},
	{"DC", (*datav3.ResponseFlags).GetDownstreamConnectionTermination},
	{"URX", (*datav3.ResponseFlags).GetUpstreamRetryLimitExceeded},
	{"SI", (*datav3.ResponseFlags).GetStreamIdleTimeout},
	{"IH", (*datav3.ResponseFlags).GetInvalidEnvoyRequestHeaders},
	{"DPE", (*datav3.ResponseFlags).GetDownstreamProtocolError},
	{"UMSDR", (*datav3.ResponseFlags).GetUpstreamMaxStreamDurationReached},
	{"RFCF", (*datav3.ResponseFlags).GetResponseFromCacheFilter},
	{"NFCF", (*datav3.ResponseFlags).GetNoFilterConfigFound},
	{"DT", (*datav3.ResponseFlags).GetDurationTimeout},
	{"UPE", (*datav3.ResponseFlags).GetUpstreamProtocolError},
	{"NC", (*datav3.ResponseFlags).GetNoClusterFound},
	{"OM", (*datav3.ResponseFlags).GetOverloadManager},
	{"DF", (*datav3.ResponseFlags).GetDnsResolutionFailure},
	// SPEC §3 writes "DRR"; Envoy itself prints "DR", and consumers of the
	// record compare with what Envoy prints elsewhere.
	{"DR", (*datav3.ResponseFlags).GetDownstreamRemoteReset},
}

// responseFlagBits has bit n set when ResponseFlags field n is: the
// fields are numbered in responseFlagCodes' order, from 1.
type responseFlagBits uint32

func responseFlagsOf(f *datav3.ResponseFlags) responseFlagBits {
	if f == nil {
		return 0
	}
	var bits responseFlagBits
	for i, rf := range responseFlagCodes {
		if rf.set(f) {
			bits |= 1 << (i + 1)
		}
	}
	return bits
}

// appendCodes appends the codes of the flags set, in responseFlagCodes'
// order.
func (b responseFlagBits) appendCodes(dst []string) []string {
	for i, rf := range responseFlagCodes {
		if b&(1<<(i+1)) != 0 {
			dst = append(dst, rf.code)
		}
	}
	return dst
}
