package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/internal/testpki"
)

// pki is a test CA with the files alsd's TLS flags name.
type pki struct {
	*testpki.CA
	t       *testing.T
	dir     string
	cert    string // server certificate file
	key     string // its key
	caFile  string // the CA, as --tls-client-ca
	missing string // a path that does not exist
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{CA: testpki.NewCA(t, "test CA"), t: t, dir: t.TempDir()}
	f := p.WriteFiles(t, p.dir, testpki.Localhost())
	p.cert, p.key, p.caFile = f.Cert, f.Key, f.CA
	p.missing = filepath.Join(p.dir, "missing.pem")
	return p
}

func (p *pki) write(name string, b []byte) string {
	return testpki.WriteFile(p.t, filepath.Join(p.dir, name), b)
}

// dial returns credentials trusting the CA, with a client certificate
// for uri when uri is not empty.
func (p *pki) dial(uri string) grpc.DialOption {
	p.t.Helper()
	var client *testpki.Leaf
	if uri != "" {
		client = &testpki.Leaf{CommonName: "leaf", URIs: []string{uri}}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(p.ClientConfig(p.t, client)))
}

// TestTLSExitCodes covers SPEC §1's TLS flag mistakes, each exiting 2
// with the flag or file named.
func TestTLSExitCodes(t *testing.T) {
	p := newPKI(t)
	garbage := p.write("garbage.pem", []byte("no certificate here\n"))
	unreadable := p.write("unreadable.pem", p.PEM)
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		msg  string
	}{
		{"allowed-sans without client CA", []string{"--tls-cert", p.cert, "--tls-key", p.key, "--allowed-sans", "a.example.com"}, nil, "--allowed-sans needs --tls-client-ca"},
		{"allowed-sans alone", []string{"--allowed-sans", "spiffe://cluster.local/*"}, nil, "--allowed-sans needs --tls-client-ca"},
		{"allowed-sans from env without client CA", []string{"--tls-cert", p.cert, "--tls-key", p.key}, map[string]string{"ALSD_ALLOWED_SANS": "a.example.com"}, "--allowed-sans"},
		{"cert without key", []string{"--tls-cert", p.cert}, nil, "--tls-key"},
		{"key without cert", []string{"--tls-key", p.key}, nil, "--tls-cert"},
		{"client CA without cert", []string{"--tls-client-ca", p.caFile}, nil, "--tls-client-ca"},
		{"missing cert", []string{"--tls-cert", p.missing, "--tls-key", p.key}, nil, "--tls-cert: open " + p.missing},
		{"missing client CA", []string{"--tls-cert", p.cert, "--tls-key", p.key, "--tls-client-ca", p.missing}, nil, "--tls-client-ca: open " + p.missing},
		{"key is not a key", []string{"--tls-cert", p.cert, "--tls-key", garbage}, nil, "garbage.pem"},
		{"client CA without certificates", []string{"--tls-cert", p.cert, "--tls-key", p.key, "--tls-client-ca", garbage}, nil, "garbage.pem"},
		{"star inside a SAN", []string{"--tls-cert", p.cert, "--tls-key", p.key, "--tls-client-ca", p.caFile, "--allowed-sans", "ok.example.com,a.*.example.com"}, nil, `"a.*.example.com"`},
		{"bad header cap", []string{"--max-header-bytes", "lots"}, nil, "max-header-bytes"},
		{"bad otlp endpoint", []string{"--otlp-endpoint", "grpc://collector:4317"}, nil, "--otlp-endpoint"},
	}
	if os.Geteuid() != 0 { // root reads any file
		tests = append(tests, struct {
			name string
			args []string
			env  map[string]string
			msg  string
		}{"unreadable key", []string{"--tls-cert", p.cert, "--tls-key", unreadable}, nil, "--tls-key: open " + unreadable})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"--state-dir", t.TempDir(), "--als-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, tt.args...)
			code := run(context.Background(), args, &stdout, &stderr, func(k string) string { return tt.env[k] })
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.msg) {
				t.Errorf("stderr does not mention %q:\n%s", tt.msg, stderr.String())
			}
		})
	}
}

// TestListenerWarnings: alsd says at start who may send access logs.
func TestListenerWarnings(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name    string
		args    []string
		want    string
		notWant []string
	}{
		{"plaintext", nil, "the ALS listener is plaintext and unauthenticated", []string{"TLS without"}},
		{"TLS only", []string{"--tls-cert", p.cert, "--tls-key", p.key}, "ALS log senders are unauthenticated (TLS without --tls-client-ca)", []string{"plaintext"}},
		{"mTLS", []string{"--tls-cert", p.cert, "--tls-key", p.key, "--tls-client-ca", p.caFile}, "every certificate the client CA signed", []string{"plaintext", "unauthenticated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startAlsd(t, append([]string{"--state-dir", t.TempDir()}, tt.args...)...)
			a.stop(t, os.Interrupt)
			log := a.log()
			if !strings.Contains(log, tt.want) {
				t.Errorf("log lacks %q:\n%s", tt.want, log)
			}
			for _, n := range tt.notWant {
				if strings.Contains(log, n) {
					t.Errorf("log mentions %q:\n%s", n, log)
				}
			}
		})
	}
}

func sendVia(t *testing.T, addr string, dial grpc.DialOption, cluster string) error {
	t.Helper()
	e, err := envoysim.Dial(addr, envoysim.EnvoyConfig{NodeID: "sidecar~" + cluster, Cluster: cluster, DialOptions: []grpc.DialOption{dial}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.SendHTTP(ctx, numbered(cluster, 0, 5)...); err != nil {
		return err
	}
	return e.Close()
}

// TestMTLSListener runs alsd with mTLS, an allow-list and a catalog that
// binds a service to its identity, and checks each refusal's code and
// metric.
func TestMTLSListener(t *testing.T) {
	p := newPKI(t)
	cat := p.write("mesh.yaml", []byte(`
services:
  - http_service: checkout
    port: 8080
    spiffe: [spiffe://cluster.local/ns/shop/sa/checkout]
  - http_service: payments
    port: 8081
    spiffe: [spiffe://cluster.local/ns/pay/sa/payments]
`))
	a := startAlsd(t, "--state-dir", t.TempDir(), "--catalog", cat, "--tls-cert", p.cert, "--tls-key", p.key, "--tls-client-ca", p.caFile,
		"--allowed-sans", "spiffe://cluster.local/ns/shop/*", "--allowed-sans", "*.mesh.example.com")
	checkout := p.dial("spiffe://cluster.local/ns/shop/sa/checkout")
	if err := sendVia(t, a.als, checkout, "checkout"); err != nil {
		t.Fatalf("allowed client: %v", err)
	}
	if err := sendVia(t, a.als, checkout, "payments"); err != nil {
		t.Fatalf("records for another service end no stream: %v", err)
	}
	if err := sendVia(t, a.als, p.dial("spiffe://cluster.local/ns/pay/sa/payments"), "payments"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("client outside --allowed-sans: %v, want PermissionDenied", err)
	}
	if err := sendVia(t, a.als, p.dial(""), "checkout"); status.Code(err) != codes.Unavailable {
		t.Errorf("client without a certificate: %v, want Unavailable", err)
	}
	if err := sendVia(t, a.als, grpc.WithTransportCredentials(insecure.NewCredentials()), "checkout"); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext client: %v, want Unavailable", err)
	}
	for _, m := range []struct {
		series string
		want   float64
	}{
		{`alsd_als_peers_refused_total{reason="san"}`, 1},
		{`alsd_als_peers_refused_total{reason="identity"}`, 5},
		{`alsd_als_peers_refused_total{reason="handshake"}`, 2},
		{`alsd_records_total{kind="http",outcome="good"}`, 5},
	} {
		waitMetric(t, a, m.series, m.want)
	}
	a.stop(t, os.Interrupt)
	if n := a.accepted(t); n != 5 {
		t.Errorf("accepted %d records, want the 5 of checkout", n)
	}
}

// collector is an OTLP/gRPC trace receiver on 127.0.0.1 that keeps the
// span names it receives.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
}

func (c *collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.names = append(c.names, s.GetName())
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (c *collector) spans() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.names, " ")
}

// TestOTLPExport runs alsd with --otlp-endpoint against a collector: the
// batch spans arrive, flushed at shutdown at the latest.
func TestOTLPExport(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	g := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(g, col)
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()

	a := startAlsd(t, "--state-dir", t.TempDir(), "--otlp-endpoint", lis.Addr().String())
	if err := sendVia(t, a.als, grpc.WithTransportCredentials(insecure.NewCredentials()), "web"); err != nil {
		t.Fatal(err)
	}
	a.stop(t, os.Interrupt)
	if got := col.spans(); !regexp.MustCompile(`\bals\.batch\b`).MatchString(got) {
		t.Errorf("collector received spans %q, want an als.batch span", got)
	}
}
