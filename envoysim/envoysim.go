package envoysim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshtel/meshtel/catalog"
)

// Config configures a Simulator.
type Config struct {
	// Target is the alsd ALS address. Required.
	Target string
	// Catalog lists the services to simulate; nil or empty simulates a
	// small built-in set.
	Catalog *catalog.Catalog
	// Sidecars is the number of simulated Envoys per service. Default 2.
	Sidecars int
	// Streams is the number of worker-thread streams per Envoy. Default 2.
	Streams int
	// Rate is the total entries per second; 0 sends as fast as alsd takes.
	Rate float64
	// BatchSize is the number of entries per message. Default 100: Envoy
	// flushes its buffer every second or when it is full.
	BatchSize int
	// Total stops the simulator after this many entries; 0 runs until ctx ends.
	Total int64
	// BadRatios sets the share of failed requests (0 to 1) of the named
	// services, replacing the simulator's mix: 1 is a total outage, 0 a
	// spotless service. Every name must be a simulated service.
	BadRatios map[string]float64
	// Seed makes the traffic reproducible; 0 picks one.
	Seed uint64
	// DialOptions replace the default insecure transport (TLS, say).
	DialOptions []grpc.DialOption
	// Protocol is how the Envoys log. Default ALS; OTLP sends the same
	// traffic as OpenTelemetry logs, in Vocabulary (default Meshtel).
	Protocol   Protocol
	Vocabulary Vocabulary
}

// Simulator speaks ALS like a fleet of Envoy sidecars: one gRPC stream per
// (Envoy, worker thread), the identifier on each stream's first message
// only, batches of HTTP or TCP entries with realistic status, flag, gRPC
// status, latency and cookie mixes, health checks, intermediate entries,
// query strings carrying PII, and each caller's outbound calls to its
// upstreams (plus one undeclared call, see callee). It is alsd's load
// generator and demo traffic.
type Simulator struct {
	cfg      Config
	services []simService
	sent     atomic.Int64
	msgs     atomic.Int64
}

type simService struct {
	name        string
	cluster     string // node.cluster the sidecars report: the name or an alias
	tcp         bool
	grpc        bool
	port        int
	healthCheck string
	upstreams   []string
	routes      []string
	// badRatio is the share of requests the service fails; medianLatency
	// the middle of its log-normal latency. Most services are healthy, a
	// few burn budget, as in a real mesh.
	badRatio      float64
	medianLatency time.Duration
}

// simHealth are the failure ratios services are given in turn.
var simHealth = []float64{0.0003, 0.0008, 0.0002, 0.004, 0.0005, 0.0012}

// Stats summarises a run.
type Stats struct {
	Entries  int64
	Messages int64
	Elapsed  time.Duration
}

// New prepares a simulator; Run starts it.
func New(cfg Config) (*Simulator, error) {
	if cfg.Target == "" {
		return nil, errors.New("simulator: no target address")
	}
	if cfg.Sidecars <= 0 {
		cfg.Sidecars = 2
	}
	if cfg.Streams <= 0 {
		cfg.Streams = 2
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	if len(cfg.DialOptions) == 0 {
		cfg.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	s := &Simulator{cfg: cfg}
	if cfg.Catalog != nil {
		for _, svc := range cfg.Catalog.Services {
			ss := simService{
				name: svc.Name, cluster: svc.Name, tcp: svc.Kind == catalog.TCPService,
				grpc: strings.Contains(svc.Name, "grpc"), port: svc.Port, healthCheck: svc.HealthCheck,
				upstreams: svc.Upstreams, routes: []string{"default", "api", "static"},
			}
			if len(svc.Aliases) > 0 {
				ss.cluster = svc.Aliases[0]
			}
			if l := svc.SLOs.Latency; l != nil {
				ss.medianLatency = l.Threshold / 8
			}
			s.services = append(s.services, ss)
		}
	}
	if len(s.services) == 0 {
		s.services = []simService{
			{name: "frontend", cluster: "frontend", port: 8080, healthCheck: "/healthz", upstreams: []string{"backend"}, routes: []string{"default", "api"}},
			{name: "backend", cluster: "backend", port: 9000, routes: []string{"default"}},
			{name: "cache", cluster: "cache", port: 6379, tcp: true},
		}
	}
	for i := range s.services {
		s.services[i].badRatio = simHealth[i%len(simHealth)]
		if s.services[i].medianLatency == 0 {
			s.services[i].medianLatency = 40 * time.Millisecond
		}
	}
	if err := s.setBadRatios(cfg.BadRatios); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Simulator) setBadRatios(ratios map[string]float64) error {
	for name, r := range ratios {
		if r < 0 || r > 1 || math.IsNaN(r) {
			return fmt.Errorf("simulator: bad ratio %v of %q is outside 0 to 1", r, name)
		}
		i := slices.IndexFunc(s.services, func(svc simService) bool { return svc.name == name })
		if i < 0 {
			names := make([]string, len(s.services))
			for j, svc := range s.services {
				names[j] = svc.name
			}
			return fmt.Errorf("simulator: no simulated service %q (simulating %s)", name, strings.Join(names, ", "))
		}
		s.services[i].badRatio = r
	}
	return nil
}

// Sent returns the entries sent so far.
func (s *Simulator) Sent() int64 { return s.sent.Load() }

// Run sends traffic until ctx ends or Total entries are sent. It returns
// the first stream error other than ctx's end.
func (s *Simulator) Run(ctx context.Context) (Stats, error) {
	if s.cfg.Protocol == OTLP {
		return s.runOTLP(ctx)
	}
	conn, err := grpc.NewClient(s.cfg.Target, s.cfg.DialOptions...)
	if err != nil {
		return Stats{}, fmt.Errorf("simulator: dial %s: %w", s.cfg.Target, err)
	}
	defer conn.Close()
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := len(s.services) * s.cfg.Sidecars * s.cfg.Streams
	var wg sync.WaitGroup
	errc := make(chan error, n)
	i := 0
	for si := range s.services {
		for sc := range s.cfg.Sidecars {
			for st := range s.cfg.Streams {
				wg.Add(1)
				rng := rand.New(rand.NewPCG(s.cfg.Seed, uint64(i)))
				go func(svc *simService, sidecar, stream int) {
					defer wg.Done()
					if err := s.stream(ctx, conn, svc, sidecar, rng, float64(n)); err != nil {
						errc <- err
						cancel()
					}
				}(&s.services[si], sc, st)
				i++
			}
		}
	}
	wg.Wait()
	close(errc)
	stats := Stats{Entries: s.sent.Load(), Messages: s.msgs.Load(), Elapsed: time.Since(start)}
	return stats, <-errc
}

func (s *Simulator) stream(ctx context.Context, conn *grpc.ClientConn, svc *simService, sidecar int, rng *rand.Rand, streams float64) error {
	ip := fmt.Sprintf("10.%d.%d.%d", rng.IntN(250)+1, rng.IntN(250)+1, sidecar+1)
	envoy := NewEnvoy(conn, EnvoyConfig{
		NodeID:  fmt.Sprintf("sidecar~%s~%s-%x~mesh.svc.cluster.local", ip, strings.ReplaceAll(svc.name, "_", "-"), rng.Uint32()),
		Cluster: svc.cluster,
		LogName: "als",
	})
	gen := &entryGen{svc: svc, rng: rng, ip: ip, services: s.services}
	// Entries are generated once into a pool and re-sent with fresh
	// timestamps, so the generator stays cheap next to what it measures.
	const pool = 2048
	var httpPool []*datav3.HTTPAccessLogEntry
	var tcpPool []*datav3.TCPAccessLogEntry
	for range pool {
		if svc.tcp {
			tcpPool = append(tcpPool, gen.tcp())
		} else {
			httpPool = append(httpPool, gen.http())
		}
	}
	var interval time.Duration
	if s.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(s.cfg.BatchSize) * streams / s.cfg.Rate)
	}
	next := time.Now()
	for pos := 0; ctx.Err() == nil; {
		batch := s.take()
		if batch == 0 {
			break
		}
		now := timestamppb.Now()
		var send func() error
		if svc.tcp {
			entries := make([]*datav3.TCPAccessLogEntry, batch)
			for i := range entries {
				entries[i] = tcpPool[(pos+i)%pool]
				entries[i].CommonProperties.StartTime = now
			}
			send = func() error { return envoy.SendTCP(ctx, entries...) }
		} else {
			entries := make([]*datav3.HTTPAccessLogEntry, batch)
			for i := range entries {
				entries[i] = httpPool[(pos+i)%pool]
				entries[i].CommonProperties.StartTime = now
			}
			send = func() error { return envoy.SendHTTP(ctx, entries...) }
		}
		err := flush(send)
		pos += int(batch)
		if err != nil {
			s.sent.Add(-batch)
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("simulator: send: %w", err)
		}
		s.msgs.Add(1)
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
	}
	if ctx.Err() != nil {
		envoy.Reset()
		return nil
	}
	// Like Envoy, the simulator never reads a response; half-closing tells
	// alsd the stream is done.
	if err := envoy.CloseStream(); err != nil {
		return fmt.Errorf("simulator: close stream: %w", err)
	}
	return nil
}

// flush sends a batch as Envoy flushes it: when alsd had ended the stream
// with OK (--max-stream-age), on a new one. An error status stops the run.
func flush(send func() error) error {
	err := send()
	if ended := (*StreamEndedError)(nil); errors.As(err, &ended) && ended.Status == nil {
		err = send()
	}
	return err
}

// take reserves the next batch of entries against Total: BatchSize, fewer
// at the end, 0 when Total is reached.
func (s *Simulator) take() int64 {
	batch := int64(s.cfg.BatchSize)
	if s.cfg.Total <= 0 {
		s.sent.Add(batch)
		return batch
	}
	left := s.cfg.Total - s.sent.Add(batch) + batch
	if left <= 0 {
		s.sent.Add(-batch)
		return 0
	}
	if left < batch {
		s.sent.Add(left - batch)
		batch = left
	}
	return batch
}

// entryGen builds plausible entries for one sidecar of one service.
type entryGen struct {
	svc      *simService
	services []simService
	rng      *rand.Rand
	ip       string
	seq      int
	peer     *simService // the callee of the entry being built; nil: inbound
}

var (
	simUserAgents = []string{"Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0", "curl/8.5.0", "grpc-go/1.70.0", "okhttp/4.12.0", "kube-probe/1.31"}
	simPaths      = []string{"/", "/api/v1/pins", "/api/v1/users/42", "/static/app.js", "/login", "/search"}
	simQueries    = []string{"", "", "?page=2", "?email=jane.doe@example.com", "?q=shoes&utm_source=mail"}
)

func (g *entryGen) address(ip string, port int) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)}}}}
}

func (g *entryGen) common() *datav3.AccessLogCommon {
	g.seq++
	c := &datav3.AccessLogCommon{
		DownstreamRemoteAddress: g.address(fmt.Sprintf("10.1.%d.%d", g.rng.IntN(250), g.rng.IntN(250)), 30000+g.rng.IntN(30000)),
		DownstreamLocalAddress:  g.address(g.ip, g.svc.port),
		UpstreamRemoteAddress:   g.address("127.0.0.1", g.svc.port),
		UpstreamCluster:         fmt.Sprintf("inbound|%d||", g.svc.port),
		AccessLogType:           datav3.AccessLogType_DownstreamEnd,
	}
	if len(g.svc.routes) > 0 {
		c.RouteName = g.svc.routes[g.rng.IntN(len(g.svc.routes))]
	}
	// A sidecar also logs its own outbound calls: the caller's view, which
	// fails and lasts as the callee does.
	if g.peer = g.callee(); g.peer != nil {
		port := cmp.Or(g.peer.port, 9000)
		c.UpstreamCluster = fmt.Sprintf("outbound|%d||%s.mesh.svc.cluster.local", port, g.peer.name)
		c.UpstreamRemoteAddress = g.address(fmt.Sprintf("10.2.0.%d", g.rng.IntN(250)+1), port)
	}
	// Latency: log-normal with a long tail.
	ms := math.Exp(g.rng.NormFloat64()*0.7 + math.Log(float64(g.target().medianLatency)/float64(time.Millisecond)))
	c.Duration = durationpb.New(time.Duration(ms * float64(time.Millisecond)))
	c.TimeToLastUpstreamRxByte = durationpb.New(time.Duration(ms * 0.9 * float64(time.Millisecond)))
	c.TlsProperties = &datav3.TLSProperties{
		TlsVersion: datav3.TLSProperties_TLSv1_3,
		PeerCertificateProperties: &datav3.TLSProperties_CertificateProperties{
			SubjectAltName: []*datav3.TLSProperties_CertificateProperties_SubjectAltName{{
				San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: "spiffe://cluster.local/ns/mesh/sa/caller"}}},
		},
	}
	switch r := g.rng.IntN(100); {
	case r < 3:
		c.IntermediateLogEntry = true
		c.AccessLogType = datav3.AccessLogType_DownstreamPeriodic
	case r < 5:
		c.AccessLogType = datav3.AccessLogType_UpstreamEnd
	}
	return c
}

// callee picks the service an entry's sidecar calls, or nil for an inbound
// entry: one entry in four of a service with upstreams is an outbound call
// to one of them. The mesh's first caller also calls, one call in ten, a
// service it does not declare: the drift the dependency graph and
// `alsd report dependencies` are there to show.
func (g *entryGen) callee() *simService {
	if len(g.svc.upstreams) == 0 || g.rng.IntN(4) != 0 {
		return nil
	}
	name := g.svc.upstreams[g.rng.IntN(len(g.svc.upstreams))]
	if u := g.undeclared(); u != nil && g.rng.IntN(10) == 0 {
		return u
	}
	for i := range g.services {
		if g.services[i].name == name {
			return &g.services[i]
		}
	}
	// A callee not simulated (a Generator's upstream) answers like the
	// caller.
	return &simService{name: name, badRatio: g.svc.badRatio, medianLatency: g.svc.medianLatency}
}

// undeclared is the service the mesh's first caller calls without
// declaring it — the first other one it does not list, an HTTP one if
// there is — or nil for every other sidecar.
func (g *entryGen) undeclared() *simService {
	first := slices.IndexFunc(g.services, func(s simService) bool { return len(s.upstreams) > 0 })
	if first < 0 || g.services[first].name != g.svc.name {
		return nil
	}
	var tcp *simService
	for i := range g.services {
		s := &g.services[i]
		switch {
		case s.name == g.svc.name || slices.Contains(g.svc.upstreams, s.name):
		case !s.tcp:
			return s
		case tcp == nil:
			tcp = s
		}
	}
	return tcp
}

// target is the service that answers the entry being built: the callee of
// an outbound call, else the sidecar's own service.
func (g *entryGen) target() *simService {
	if g.peer != nil {
		return g.peer
	}
	return g.svc
}

func (g *entryGen) http() *datav3.HTTPAccessLogEntry {
	c := g.common()
	e := &datav3.HTTPAccessLogEntry{
		CommonProperties: c,
		ProtocolVersion:  datav3.HTTPAccessLogEntry_HTTP11,
		Request: &datav3.HTTPRequestProperties{
			RequestMethod:  corev3.RequestMethod_GET,
			Scheme:         "https",
			Authority:      "www.example.com",
			UserAgent:      simUserAgents[g.rng.IntN(len(simUserAgents))],
			RequestId:      fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", g.rng.Uint32(), g.rng.IntN(1<<16), g.rng.IntN(1<<12), g.rng.IntN(1<<12), g.rng.Uint64()&(1<<48-1)),
			RequestHeaders: map[string]string{},
		},
		Response: &datav3.HTTPResponseProperties{ResponseHeaders: map[string]string{}},
	}
	req, resp := e.Request, e.Response
	path := simPaths[g.rng.IntN(len(simPaths))]
	if g.rng.IntN(3) == 0 {
		req.RequestMethod = corev3.RequestMethod_POST
		req.RequestBodyBytes = uint64(g.rng.IntN(4096))
	}
	status := g.status(c, resp)
	if g.svc.healthCheck != "" && g.rng.IntN(10) == 0 && g.peer == nil {
		path = g.svc.healthCheck
		req.UserAgent = "kube-probe/1.31"
		status = 200
		c.ResponseFlags = nil
	}
	req.Path = path + simQueries[g.rng.IntN(len(simQueries))]
	if g.target().grpc {
		e.ProtocolVersion = datav3.HTTPAccessLogEntry_HTTP2
		req.RequestMethod = corev3.RequestMethod_POST
		req.Path = "/shop.Catalog/GetProduct"
		gs := 0
		switch {
		case status >= 500:
			gs = 14 // UNAVAILABLE
		case status == 404:
			gs = 5 // NOT_FOUND
		}
		status = 200
		resp.ResponseTrailers = map[string]string{"grpc-status": strconv.Itoa(gs)}
	}
	if status != 0 {
		resp.ResponseCode = wrapperspb.UInt32(uint32(status))
		resp.ResponseBodyBytes = uint64(200 + g.rng.IntN(20000))
		resp.ResponseCodeDetails = "via_upstream"
	}
	g.cookies(req, resp)
	req.RequestHeaders["user-agent"] = req.UserAgent
	return e
}

// status picks the entry's response code from its service's failure ratio,
// with the flags and details Envoy logs for such a failure; 0 is a client
// that went away first.
func (g *entryGen) status(c *datav3.AccessLogCommon, resp *datav3.HTTPResponseProperties) int {
	status := 200
	if g.rng.Float64() < g.target().badRatio {
		switch g.rng.IntN(3) {
		case 0:
			status = 503
			c.ResponseFlags = &datav3.ResponseFlags{UpstreamConnectionFailure: true, UpstreamRetryLimitExceeded: g.rng.IntN(2) == 0}
			resp.ResponseCodeDetails = "upstream_reset_before_response_started{connection_failure}"
			c.UpstreamTransportFailureReason = "delayed connect error: 111"
		case 1:
			status = 500
		default:
			status = 504
			c.ResponseFlags = &datav3.ResponseFlags{UpstreamRequestTimeout: true}
		}
	} else {
		switch r := g.rng.IntN(1000); {
		case r < 5:
			status = 0 // the client went away first: excluded, not bad
			c.ResponseFlags = &datav3.ResponseFlags{DownstreamConnectionTermination: true}
		case r < 60:
			status = 404
		case r < 80:
			status = 302
		}
	}
	return status
}

// cookies adds the Cookie and Set-Cookie headers browsers and services
// send: a session, analytics, now and then an e-mail in a cookie value and
// a long-lived third-party tracker.
func (g *entryGen) cookies(req *datav3.HTTPRequestProperties, resp *datav3.HTTPResponseProperties) {
	req.RequestHeaders["cookie"] = fmt.Sprintf("sid=%08x-%04x-4%03x-8%03x-%012x; theme=dark; _ga=GA1.2.%d.%d",
		g.rng.Uint32(), g.rng.IntN(1<<16), g.rng.IntN(1<<12), g.rng.IntN(1<<12), g.rng.Uint64()&(1<<48-1), g.rng.IntN(1e9), 1.7e9+g.rng.IntN(1e8))
	if g.rng.IntN(5) == 0 {
		req.RequestHeaders["cookie"] += "; user_email=jane.doe%40example.com"
	}
	if g.rng.IntN(4) == 0 {
		resp.ResponseHeaders["set-cookie"] = fmt.Sprintf(
			"sid=%016x; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=3600,csrf_token=%x; Path=/; Expires=%s; Secure,tracker=1; Domain=ads.example.net; SameSite=None; Max-Age=63072000",
			g.rng.Uint64(), g.rng.Uint64(), time.Now().Add(7*24*time.Hour).UTC().Format(http.TimeFormat))
	}
}

func (g *entryGen) tcp() *datav3.TCPAccessLogEntry {
	c := g.common()
	c.AccessLogType = datav3.AccessLogType_TcpConnectionEnd
	if c.IntermediateLogEntry {
		c.AccessLogType = datav3.AccessLogType_TcpPeriodic
	}
	if g.rng.Float64() < g.svc.badRatio {
		c.ResponseFlags = &datav3.ResponseFlags{UpstreamConnectionFailure: true}
	}
	return &datav3.TCPAccessLogEntry{
		CommonProperties: c,
		ConnectionProperties: &datav3.ConnectionProperties{
			ReceivedBytes: uint64(g.rng.IntN(1 << 16)),
			SentBytes:     uint64(g.rng.IntN(1 << 20)),
		},
	}
}

// GeneratorConfig describes the one service a Generator makes entries for.
type GeneratorConfig struct {
	Service     string   // catalog name and node.cluster; required
	Port        int      // the port the service listens on. Default 8080.
	HealthCheck string   // health-check path, sent now and then; "" for none
	Upstreams   []string // services it calls (outbound entries)
	Routes      []string // route names. Default ["default"].
	// BadRatio is the share of requests that fail.
	BadRatio float64
	// Seed makes the entries reproducible.
	Seed uint64
}

// Generator makes the simulator's entries one at a time, without a stream:
// realistic input for benchmarks and tests of the receivers.
type Generator struct{ g entryGen }

// NewGenerator returns a Generator for cfg's service.
func NewGenerator(cfg GeneratorConfig) *Generator {
	if cfg.Port == 0 {
		cfg.Port = 8080
	}
	if len(cfg.Routes) == 0 {
		cfg.Routes = []string{"default"}
	}
	svc := &simService{name: cfg.Service, cluster: cfg.Service, port: cfg.Port, healthCheck: cfg.HealthCheck,
		upstreams: cfg.Upstreams, routes: cfg.Routes, badRatio: cfg.BadRatio, medianLatency: 40 * time.Millisecond}
	return &Generator{g: entryGen{svc: svc, services: []simService{*svc}, rng: rand.New(rand.NewPCG(cfg.Seed, 2)), ip: "10.0.0.1"}}
}

// HTTP returns a new HTTP entry.
func (g *Generator) HTTP() *datav3.HTTPAccessLogEntry { return g.g.http() }

// TCP returns a new TCP entry.
func (g *Generator) TCP() *datav3.TCPAccessLogEntry { return g.g.tcp() }
