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
	"github.com/meshtel/meshtel/cookies"
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
	// Classify sets Record.Outcome once every other field is filled; nil
	// leaves it empty. The SLI package supplies it, so this package needs
	// no knowledge of SLOs.
	Classify func(*Record) string
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

// HTTP fills r from an HTTP entry. r is reset first; its slices are reused.
func (c *Converter) HTTP(r *Record, id *Identity, e *datav3.HTTPAccessLogEntry, now time.Time) {
	r.reset()
	r.Kind = HTTP
	c.common(r, id, e.GetCommonProperties(), now)
	r.Protocol = httpVersion(e.GetProtocolVersion())

	req := e.GetRequest()
	if m := req.GetRequestMethod(); m != corev3.RequestMethod_METHOD_UNSPECIFIED {
		r.Method = m.String()
	}
	r.Authority = req.GetAuthority()
	r.Path = req.GetOriginalPath()
	if r.Path == "" {
		r.Path = req.GetPath()
	}
	if !c.KeepQuery {
		r.Path = stripQuery(r.Path)
	}
	r.UserAgent = req.GetUserAgent()
	r.RequestID = req.GetRequestId()
	r.RequestBytes = req.GetRequestBodyBytes()
	reqHeaders := req.GetRequestHeaders()
	if r.UserAgent == "" {
		r.UserAgent = reqHeaders["user-agent"]
	}
	if r.RequestID == "" {
		r.RequestID = reqHeaders["x-request-id"]
	}
	hb := c.headerBudget()
	r.RequestID = hb.text(r.RequestID)
	r.UserAgent = hb.text(r.UserAgent)

	resp := e.GetResponse()
	if code := resp.GetResponseCode(); code != nil {
		r.Status = int(code.GetValue())
	}
	r.ResponseBytes = resp.GetResponseBodyBytes()
	r.ResponseCodeDetails = resp.GetResponseCodeDetails()
	// gRPC puts grpc-status in trailers; a trailers-only response (an error
	// before any message) carries it in the headers instead.
	if gs, ok := resp.GetResponseTrailers()["grpc-status"]; ok {
		r.GRPCStatus = parseGRPCStatus(gs)
	} else if gs, ok := resp.GetResponseHeaders()["grpc-status"]; ok {
		r.GRPCStatus = parseGRPCStatus(gs)
	}

	if h := hb.cookie(reqHeaders["cookie"]); h != "" {
		r.Cookies, r.MalformedCookies = cookies.ParseRequest(h, r.Cookies, r.MalformedCookies)
	}
	if h := hb.setCookie(resp.GetResponseHeaders()["set-cookie"]); h != "" {
		r.Cookies, r.MalformedCookies = cookies.ParseResponse(h, r.Time, r.Cookies, r.MalformedCookies)
	}
	if hb.cut {
		id.headersCut++
	}
	c.finish(r, id)
}

// TCP fills r from a TCP entry. r is reset first; its slices are reused.
func (c *Converter) TCP(r *Record, id *Identity, e *datav3.TCPAccessLogEntry, now time.Time) {
	r.reset()
	r.Kind = TCP
	c.common(r, id, e.GetCommonProperties(), now)
	r.RequestBytes = e.GetConnectionProperties().GetReceivedBytes()
	r.ResponseBytes = e.GetConnectionProperties().GetSentBytes()
	c.finish(r, id)
}

func (c *Converter) common(r *Record, id *Identity, p *datav3.AccessLogCommon, now time.Time) {
	r.NodeID = id.NodeID
	r.LogName = id.LogName
	r.ReporterPrincipal = id.Principal
	if ts := p.GetStartTime(); ts != nil {
		r.Time = ts.AsTime()
	} else {
		r.Time = now.UTC()
	}
	r.RouteName = p.GetRouteName()
	r.UpstreamCluster = p.GetUpstreamCluster()
	r.UpstreamHost = addressString(p.GetUpstreamRemoteAddress())
	r.DownstreamRemoteAddress = addressString(p.GetDownstreamRemoteAddress())
	r.DownstreamLocalPort = int(p.GetDownstreamLocalAddress().GetSocketAddress().GetPortValue())
	r.ResponseFlags = appendResponseFlags(r.ResponseFlags, p.GetResponseFlags())
	if d := p.GetDuration(); d != nil {
		r.DurationMs, r.HasDuration = durationMs(d), true
	} else if d := p.GetTimeToLastDownstreamTxByte(); d != nil {
		r.DurationMs, r.HasDuration = durationMs(d), true
	}
	if d := p.GetTimeToLastUpstreamRxByte(); d != nil {
		r.UpstreamDurationMs, r.HasUpstreamDuration = durationMs(d), true
	}
	if tls := p.GetTlsProperties(); tls != nil {
		if v := tls.GetTlsVersion(); v != datav3.TLSProperties_VERSION_UNSPECIFIED {
			r.TLSVersion = v.String()
		}
		r.PeerPrincipal = principal(tls.GetPeerCertificateProperties())
	}
	r.ConnectionTermination = p.GetConnectionTerminationDetails()
	r.UpstreamFailure = p.GetUpstreamTransportFailureReason()
	r.Intermediate = p.GetIntermediateLogEntry() || !finalType(p.GetAccessLogType())
}

// finish derives the fields that depend on the rest: service, direction,
// peer service and outcome.
func (c *Converter) finish(r *Record, id *Identity) {
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
		r.Direction = Inbound
	case strings.HasPrefix(r.UpstreamCluster, "outbound|"):
		r.Direction = Outbound
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

func durationMs(d *durationpb.Duration) float64 {
	return float64(d.GetSeconds())*1e3 + float64(d.GetNanos())/1e6
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

func appendResponseFlags(dst []string, f *datav3.ResponseFlags) []string {
	if f == nil {
		return dst
	}
	for _, rf := range responseFlagCodes {
		if rf.set(f) {
			dst = append(dst, rf.code)
		}
	}
	return dst
}
