package accesslog

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// TLSConfig configures TLS on the ALS listener (SPEC §1).
type TLSConfig struct {
	// CertFile is the PEM server certificate, leaf first. Required.
	CertFile string
	// KeyFile is the PEM private key of CertFile. Required.
	KeyFile string
	// ClientCAFile is a PEM bundle of the CAs that sign Envoys' client
	// certificates. Set, every client must present a certificate one of
	// them signed (mTLS); empty, clients are not authenticated.
	ClientCAFile string
	// AllowedSANs restricts which verified clients may log; it needs
	// ClientCAFile. An entry containing "://" matches URI SANs
	// case-sensitively, any other entry DNS SANs case-insensitively; a
	// trailing "*" matches any remainder, a leading "*." in a DNS entry
	// exactly one label. Empty allows every certificate the CAs signed.
	AllowedSANs []string
	// ReloadInterval is how often Run looks for changed files. Default 1s.
	ReloadInterval time.Duration
	// Registerer receives alsd_als_peers_refused_total; nil registers nowhere.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// TLS is the ALS listener's TLS: server certificate, optional client
// verification and SAN allow-list. Its files are read again whenever
// their contents change (Run polls them), so a renewed certificate, key or
// CA bundle applies to the next handshake without a restart, however it
// was written: replaced by rename, rewritten in place, or swapped in by
// Kubernetes' "..data" symlink. Connections already open keep the
// material they were established with.
//
// Refusals are counted in alsd_als_peers_refused_total: "handshake" for
// a connection whose handshake failed (no certificate, unknown CA,
// expired), "san" for a stream of a verified client the allow-list does
// not name.
type TLS struct {
	cfg     TLSConfig
	log     *slog.Logger
	sans    []sanPattern
	refused *prometheus.CounterVec
	current atomic.Pointer[tls.Config]

	mu      sync.Mutex // serializes Reload
	loaded  [sha256.Size]byte
	failed  string // the contents and error last logged as unusable
	logMu   sync.Mutex
	lastLog map[string]time.Time
}

// NewTLS reads and checks the files and the allow-list.
func NewTLS(cfg TLSConfig) (*TLS, error) {
	switch {
	case cfg.CertFile == "" && cfg.KeyFile == "":
		return nil, errors.New("tls: no certificate and key")
	case cfg.CertFile == "":
		return nil, fmt.Errorf("tls: key %q without its certificate", cfg.KeyFile)
	case cfg.KeyFile == "":
		return nil, fmt.Errorf("tls: certificate %q without its key", cfg.CertFile)
	case len(cfg.AllowedSANs) > 0 && cfg.ClientCAFile == "":
		return nil, errors.New("tls: allowed SANs need a client CA: without one, clients present no certificate to match")
	}
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &TLS{cfg: cfg, log: cfg.Logger, refused: newPeersRefused(cfg.Registerer), lastLog: map[string]time.Time{}}
	for _, s := range cfg.AllowedSANs {
		p, err := parseSANPattern(s)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		t.sans = append(t.sans, p)
	}
	files, sum, err := t.read()
	if err != nil {
		return nil, err
	}
	c, err := t.build(files)
	if err != nil {
		return nil, err
	}
	t.current.Store(c)
	t.loaded = sum
	return t, nil
}

// Mutual reports whether clients must present a verified certificate.
func (t *TLS) Mutual() bool { return t.cfg.ClientCAFile != "" }

// ServerOptions are the gRPC server options that serve this TLS: the
// transport credentials and the allow-list check. Add them to
// ServerConfig.ServerOptions.
func (t *TLS) ServerOptions() []grpc.ServerOption {
	base := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return t.current.Load(), nil },
	}
	return []grpc.ServerOption{
		grpc.Creds(countingCreds{credentials.NewTLS(base), t}),
		grpc.ChainStreamInterceptor(t.checkSAN),
	}
}

// Run reloads the files every ReloadInterval until ctx ends. A file that
// does not parse (a renewal half written, a key not yet matching its new
// certificate) is logged once and retried; the previous material stays
// in use meanwhile.
func (t *TLS) Run(ctx context.Context) error {
	tick := time.NewTicker(t.cfg.ReloadInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			_, _ = t.Reload()
		}
	}
}

// Reload reads the files now and, if their contents changed and parse,
// uses them for new handshakes. changed reports whether new material is
// in use; err why changed contents were not taken.
func (t *TLS) Reload() (changed bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	files, sum, err := t.read()
	if err == nil && sum == t.loaded {
		return false, nil
	}
	if err == nil {
		var c *tls.Config
		if c, err = t.build(files); err == nil {
			t.current.Store(c)
			t.loaded = sum
			t.failed = ""
			t.log.Info("TLS files reloaded", "cert", t.cfg.CertFile, "not_after", c.Certificates[0].Leaf.NotAfter.UTC().Format(time.RFC3339))
			return true, nil
		}
	}
	if failed := fmt.Sprintf("%x %v", sum, err); failed != t.failed {
		t.failed = failed
		t.log.Warn("TLS files changed but cannot be used; keeping the previous certificate", "err", err)
	}
	return false, err
}

type tlsFiles struct{ cert, key, ca []byte }

// read reads the files and hashes their contents together: a content hash
// sees every way of replacing them, including an in-place rewrite that
// keeps the size and modification time.
func (t *TLS) read() (tlsFiles, [sha256.Size]byte, error) {
	var f tlsFiles
	h := sha256.New()
	for _, x := range []struct {
		path string
		dst  *[]byte
	}{{t.cfg.CertFile, &f.cert}, {t.cfg.KeyFile, &f.key}, {t.cfg.ClientCAFile, &f.ca}} {
		if x.path == "" {
			continue
		}
		b, err := os.ReadFile(x.path)
		if err != nil {
			return f, [sha256.Size]byte{}, fmt.Errorf("tls: %w", err)
		}
		*x.dst = b
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return f, sum, nil
}

// build makes the per-handshake config from the files' contents.
func (t *TLS) build(f tlsFiles) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %q and key %q: %w", t.cfg.CertFile, t.cfg.KeyFile, err)
	}
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2"}, // gRPC clients insist on ALPN
		// A resumed session skips client verification, so a ticket
		// issued before a CA rotation would outlive it. ALS connections
		// are long-lived: full handshakes cost nothing that matters.
		SessionTicketsDisabled: true,
	}
	if t.cfg.ClientCAFile != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(f.ca) {
			return nil, fmt.Errorf("tls: client CA %q: no PEM certificates in it", t.cfg.ClientCAFile)
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// checkSAN ends streams of verified clients the allow-list does not name.
func (t *TLS) checkSAN(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if len(t.sans) == 0 {
		return handler(srv, ss)
	}
	leaf := verifiedLeaf(ss.Context())
	if leaf != nil && allowedSAN(t.sans, leaf) {
		return handler(srv, ss)
	}
	t.refused.WithLabelValues("san").Inc()
	name := "a client without a verified certificate"
	if leaf != nil {
		name = fmt.Sprintf("client certificate %q (URI SANs %v, DNS SANs %v)", leaf.Subject.String(), leaf.URIs, leaf.DNSNames)
	}
	t.warnRarely("san", "ALS stream refused: the client certificate matches no allowed SAN", "peer", peerAddr(ss.Context()), "client", name)
	return status.Errorf(codes.PermissionDenied, "%s may not send access logs here: no allowed SAN matches", name)
}

// warnRarely logs at most once per second per kind, so a fleet retrying
// with a bad certificate does not flood the log; the metric counts all.
func (t *TLS) warnRarely(kind, msg string, args ...any) {
	t.logMu.Lock()
	now := time.Now()
	skip := now.Sub(t.lastLog[kind]) < time.Second
	if !skip {
		t.lastLog[kind] = now
	}
	t.logMu.Unlock()
	if !skip {
		t.log.Warn(msg, args...)
	}
}

// countingCreds counts and logs failed handshakes.
type countingCreds struct {
	credentials.TransportCredentials
	t *TLS
}

func (c countingCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	// A connection closed before its ClientHello is a port probe, not a
	// refused peer.
	if err != nil && !errors.Is(err, io.EOF) {
		c.t.refused.WithLabelValues("handshake").Inc()
		c.t.warnRarely("handshake", "ALS connection refused: TLS handshake failed", "peer", conn.RemoteAddr().String(), "err", err)
	}
	return out, info, err
}

func (c countingCreds) Clone() credentials.TransportCredentials {
	return countingCreds{c.TransportCredentials.Clone(), c.t}
}

// verifiedLeaf is the client certificate of an mTLS-verified peer, or nil.
func verifiedLeaf(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return info.State.VerifiedChains[0][0]
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// sanPattern is one --allowed-sans entry.
type sanPattern struct {
	uri bool
	// label: the entry starts with "*." (DNS only): the SAN's first label
	// is any one label, and the rest is matched against text.
	label bool
	// prefix: the entry ends with "*": text matches any SAN it prefixes.
	prefix bool
	text   string // DNS entries lower-cased
}

func parseSANPattern(s string) (sanPattern, error) {
	p := sanPattern{uri: strings.Contains(s, "://")}
	text := s
	if !p.uri {
		text = strings.ToLower(text)
		if rest, ok := strings.CutPrefix(text, "*."); ok {
			p.label, text = true, rest
		}
	}
	if rest, ok := strings.CutSuffix(text, "*"); ok {
		p.prefix, text = true, rest
	}
	if strings.Contains(text, "*") {
		return sanPattern{}, fmt.Errorf("allowed SAN %q: \"*\" may only end an entry or start a DNS entry as \"*.\"", s)
	}
	if text == "" && !p.prefix {
		return sanPattern{}, fmt.Errorf("allowed SAN %q matches nothing", s)
	}
	p.text = text
	return p, nil
}

func (p sanPattern) match(san string) bool {
	if !p.uri {
		san = strings.ToLower(san)
	}
	if p.label {
		label, rest, ok := strings.Cut(san, ".")
		if !ok || label == "" {
			return false
		}
		san = rest
	}
	if p.prefix {
		return strings.HasPrefix(san, p.text)
	}
	return san == p.text
}

// allowedSAN reports whether any pattern matches any of leaf's SANs of
// the pattern's kind.
func allowedSAN(patterns []sanPattern, leaf *x509.Certificate) bool {
	for _, p := range patterns {
		if p.uri {
			for _, u := range leaf.URIs {
				if p.match(u.String()) {
					return true
				}
			}
			continue
		}
		for _, d := range leaf.DNSNames {
			if p.match(d) {
				return true
			}
		}
	}
	return false
}

// MetricPeersRefused counts ALS peers refused, by reason: "handshake",
// "san" or "identity" (SPEC §5).
const MetricPeersRefused = "alsd_als_peers_refused_total"

// newPeersRefused returns the refusal counter registered on reg. TLS and
// Server both count into it, so the second one to register takes the
// first one's collector.
func newPeersRefused(reg prometheus.Registerer) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricPeersRefused,
		Help: "ALS peers refused: connections whose TLS handshake failed (handshake), streams of clients no allowed SAN matches (san), records of a service the reporting identity may not log for (identity).",
	}, []string{"reason"})
	if reg != nil {
		if err := reg.Register(v); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err) // the same name with other labels or help: a programming error, like MustRegister's
			}
			v = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	for _, r := range []string{"handshake", "san", "identity"} {
		v.WithLabelValues(r)
	}
	return v
}
