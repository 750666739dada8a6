package accesslog

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/record"
)

// testCA is a certificate authority made at test time.
type testCA struct {
	cert   *x509.Certificate
	key    crypto.Signer
	pem    []byte
	serial atomic.Int64
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.serial.Store(1)
	return ca
}

// leafOpts describes a certificate to issue.
type leafOpts struct {
	cn      string
	uris    []string
	dns     []string
	ips     []net.IP
	expired bool
	server  bool
}

// issue returns a PEM certificate and key signed by ca.
func (ca *testCA) issue(t testing.TB, o leafOpts) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial.Add(1)),
		Subject:      pkix.Name{CommonName: o.cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     o.dns,
		IPAddresses:  o.ips,
	}
	if o.server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if o.expired {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	}
	for _, u := range o.uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func (ca *testCA) serverCert(t testing.TB) (certPEM, keyPEM []byte) {
	return ca.issue(t, leafOpts{cn: "alsd", dns: []string{"localhost"}, ips: []net.IP{net.IPv4(127, 0, 0, 1)}, server: true})
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsFixture writes a server certificate and key signed by ca, and ca
// itself as client CA, into a temporary directory.
func tlsFixture(t testing.TB, ca *testCA) (cert, key, clientCA string) {
	t.Helper()
	dir := t.TempDir()
	c, k := ca.serverCert(t)
	cert, key, clientCA = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	writeFile(t, cert, c)
	writeFile(t, key, k)
	writeFile(t, clientCA, ca.pem)
	return cert, key, clientCA
}

// seen collects what the stages saw: service and reporter principal of
// every accepted record.
type seen struct {
	mu      sync.Mutex
	records []string // "service principal"
}

func (s *seen) stage(records []record.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range records {
		s.records = append(s.records, records[i].Service+" "+records[i].ReporterPrincipal)
	}
}

func (s *seen) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.records
	s.records = nil
	return out
}

// serveTest runs a Server on 127.0.0.1 until the test ends.
func serveTest(t *testing.T, cfg ServerConfig) (*Server, string) {
	t.Helper()
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, lis); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return srv, lis.Addr().String()
}

// mtlsClient returns client credentials trusting serverCA, presenting
// certPEM/keyPEM when given.
func mtlsClient(t testing.TB, serverCA *testCA, certPEM, keyPEM []byte) grpc.DialOption {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(serverCA.pem)
	c := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(c))
}

// sendOne opens a stream, sends one message of n entries claiming
// cluster, half-closes and returns alsd's answer.
func sendOne(t testing.TB, addr string, dial grpc.DialOption, cluster string, n int) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, dial)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := alsv3.NewAccessLogServiceClient(conn).StreamAccessLogs(ctx)
	if err != nil {
		return err
	}
	entries := make([]*datav3.HTTPAccessLogEntry, n)
	for i := range entries {
		entries[i] = &datav3.HTTPAccessLogEntry{
			CommonProperties: &datav3.AccessLogCommon{StartTime: timestamppb.Now()},
			Request:          &datav3.HTTPRequestProperties{RequestMethod: corev3.RequestMethod_GET, Path: "/"},
			Response:         &datav3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(200)},
		}
	}
	msg := &alsv3.StreamAccessLogsMessage{
		Identifier: &alsv3.StreamAccessLogsMessage_Identifier{Node: &corev3.Node{Id: "sidecar~" + cluster, Cluster: cluster}, LogName: "als"},
		LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries}},
	}
	if err := stream.Send(msg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err = stream.CloseAndRecv()
	return err
}

func refused(reg *prometheus.Registry, reason string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != MetricPeersRefused {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// TestMTLSMatrix connects real gRPC clients with every kind of client
// certificate to an mTLS listener with an allow-list.
func TestMTLSMatrix(t *testing.T) {
	t.Parallel()
	ca, otherCA := newTestCA(t, "mesh CA"), newTestCA(t, "other CA")
	cert, key, clientCA := tlsFixture(t, ca)
	reg := prometheus.NewRegistry()
	tl, err := NewTLS(TLSConfig{
		CertFile: cert, KeyFile: key, ClientCAFile: clientCA, Registerer: reg,
		AllowedSANs: []string{"spiffe://cluster.local/ns/shop/*", "*.mesh.example.com", "Ingress.Example.ORG"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got seen
	_, addr := serveTest(t, ServerConfig{
		Converter: &Converter{}, Stages: []Stage{got.stage}, Registerer: reg, ServerOptions: tl.ServerOptions(),
	})

	client := func(o leafOpts) grpc.DialOption {
		c, k := ca.issue(t, o)
		return mtlsClient(t, ca, c, k)
	}
	otherC, otherK := otherCA.issue(t, leafOpts{cn: "web", uris: []string{"spiffe://cluster.local/ns/shop/sa/web"}})
	tests := []struct {
		name      string
		dial      grpc.DialOption
		code      codes.Code
		reason    string // the refusal counted, "" when accepted
		principal string
	}{
		{"no certificate", mtlsClient(t, ca, nil, nil), codes.Unavailable, "handshake", ""},
		{"wrong CA", mtlsClient(t, ca, otherC, otherK), codes.Unavailable, "handshake", ""},
		{"expired", client(leafOpts{cn: "old", uris: []string{"spiffe://cluster.local/ns/shop/sa/web"}, expired: true}), codes.Unavailable, "handshake", ""},
		{"plaintext client", grpc.WithTransportCredentials(insecure.NewCredentials()), codes.Unavailable, "handshake", ""},
		{"allowed URI, trailing * across /", client(leafOpts{cn: "checkout", uris: []string{"spiffe://cluster.local/ns/shop/sa/checkout"}}), codes.OK, "", "spiffe://cluster.local/ns/shop/sa/checkout"},
		{"URI of another namespace", client(leafOpts{cn: "pay", uris: []string{"spiffe://cluster.local/ns/pay/sa/payments"}}), codes.PermissionDenied, "san", ""},
		{"URI match is case-sensitive", client(leafOpts{cn: "shop", uris: []string{"spiffe://cluster.local/NS/shop/sa/web"}}), codes.PermissionDenied, "san", ""},
		{"URI entries do not match DNS SANs", client(leafOpts{cn: "dns", dns: []string{"spiffe.cluster.local"}}), codes.PermissionDenied, "san", ""},
		{"wildcard: one label", client(leafOpts{cn: "w", dns: []string{"web-1.mesh.example.com"}}), codes.OK, "", "web-1.mesh.example.com"},
		{"wildcard: not two labels", client(leafOpts{cn: "w", dns: []string{"a.b.mesh.example.com"}}), codes.PermissionDenied, "san", ""},
		{"wildcard: not zero labels", client(leafOpts{cn: "w", dns: []string{"mesh.example.com"}}), codes.PermissionDenied, "san", ""},
		{"DNS match ignores case", client(leafOpts{cn: "i", dns: []string{"INGRESS.example.org"}}), codes.OK, "", "INGRESS.example.org"},
		{"any SAN of the certificate may match", client(leafOpts{cn: "m", dns: []string{"x.other.org", "api.mesh.example.com"}}), codes.OK, "", "x.other.org"},
		{"URI SAN is the principal", client(leafOpts{cn: "both", uris: []string{"spiffe://cluster.local/ns/shop/sa/cart"}, dns: []string{"cart.mesh.example.com"}}), codes.OK, "", "spiffe://cluster.local/ns/shop/sa/cart"},
		{"no SAN at all", client(leafOpts{cn: "bare"}), codes.PermissionDenied, "san", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := map[string]float64{}
			for _, r := range []string{"handshake", "san", "identity"} {
				before[r] = refused(reg, r)
			}
			err := sendOne(t, addr, tt.dial, "web", 3)
			if status.Code(err) != tt.code {
				t.Fatalf("status %v, want %v", err, tt.code)
			}
			// The server counts a failed handshake as it closes the
			// connection: the client may see the failure first.
			for _, r := range []string{"handshake", "san", "identity"} {
				want := before[r]
				if r == tt.reason {
					want++
				}
				deadline := time.Now().Add(3 * time.Second)
				for refused(reg, r) < want && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if got := refused(reg, r); got != want {
					t.Errorf("%s{reason=%q} = %v, want %v", MetricPeersRefused, r, got, want)
				}
			}
			records := got.take()
			if tt.code != codes.OK {
				if len(records) != 0 {
					t.Errorf("a refused peer's records were accepted: %v", records)
				}
				return
			}
			want := strings.Repeat("web "+tt.principal+",", 3)
			if g := strings.Join(records, ",") + ","; g != want {
				t.Errorf("records %q, want 3 × %q", records, "web "+tt.principal)
			}
		})
	}
}

// TestTLSWithoutClientCA serves TLS without client certificates: anyone
// may log, and no principal is recorded.
func TestTLSWithoutClientCA(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "mesh CA")
	cert, key, _ := tlsFixture(t, ca)
	tl, err := NewTLS(TLSConfig{CertFile: cert, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	if tl.Mutual() {
		t.Error("Mutual() without a client CA")
	}
	var got seen
	_, addr := serveTest(t, ServerConfig{Converter: &Converter{}, Stages: []Stage{got.stage}, ServerOptions: tl.ServerOptions()})
	c, k := ca.issue(t, leafOpts{cn: "web", uris: []string{"spiffe://cluster.local/ns/shop/sa/web"}})
	for _, dial := range []grpc.DialOption{mtlsClient(t, ca, nil, nil), mtlsClient(t, ca, c, k)} {
		if err := sendOne(t, addr, dial, "web", 1); err != nil {
			t.Fatal(err)
		}
	}
	if records := got.take(); strings.Join(records, ",") != "web ,web " {
		t.Errorf("records %q: want two, without a reporter principal", records)
	}
	if err := sendOne(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials()), "web", 1); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext client on a TLS listener: %v", err)
	}
}

func TestSANPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		san     string
		uri     bool
		want    bool
	}{
		{"spiffe://cluster.local/ns/shop/sa/web", "spiffe://cluster.local/ns/shop/sa/web", true, true},
		{"spiffe://cluster.local/ns/shop/sa/web", "spiffe://cluster.local/ns/shop/sa/web2", true, false},
		{"spiffe://cluster.local/ns/shop/sa/web", "spiffe://cluster.local/ns/shop/sa/Web", true, false},
		{"spiffe://cluster.local/*", "spiffe://cluster.local/ns/a/sa/b", true, true},
		{"spiffe://cluster.local/*", "spiffe://cluster.local", true, false},
		{"spiffe://cluster.local/ns/*", "spiffe://cluster.local/ns/", true, true},
		{"spiffe://*.local/ns", "spiffe://a.local/ns", true, false}, // no one-label wildcard in URIs (and rejected by parse)
		{"web.example.com", "WEB.Example.com", false, true},
		{"Web.Example.com", "web.example.com", false, true},
		{"web.example.com", "web.example.com.evil.org", false, false},
		{"web-*", "web-1.ns.svc", false, true},
		{"web-*", "WEB-2", false, true},
		{"web-*", "api-web-1", false, false},
		{"*.example.com", "a.example.com", false, true},
		{"*.example.com", "a.b.example.com", false, false},
		{"*.example.com", ".example.com", false, false},
		{"*.example.com", "example.com", false, false},
		{"*.example.*", "a.example.org", false, true},
		{"*.example.*", "a.b.example.org", false, false},
		{"*", "anything.at.all", false, true},
		{"spiffe://cluster.local/ns/shop/sa/web", "spiffe://cluster.local/ns/shop/sa/web", false, false}, // URI entry, DNS SAN
		{"web.example.com", "web.example.com", true, false},                                              // DNS entry, URI SAN
	}
	for _, tt := range tests {
		p, err := parseSANPattern(tt.pattern)
		if err != nil {
			if tt.want {
				t.Errorf("parse %q: %v", tt.pattern, err)
			}
			continue
		}
		leaf := &x509.Certificate{}
		if tt.uri {
			u, err := url.Parse(tt.san)
			if err != nil {
				t.Fatal(err)
			}
			leaf.URIs = []*url.URL{u}
		} else {
			leaf.DNSNames = []string{tt.san}
		}
		if got := allowedSAN([]sanPattern{p}, leaf); got != tt.want {
			t.Errorf("%q matches SAN %q (uri=%v): %v, want %v", tt.pattern, tt.san, tt.uri, got, tt.want)
		}
	}
}

func TestNewTLSErrors(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "mesh CA")
	cert, key, clientCA := tlsFixture(t, ca)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	writeFile(t, garbage, []byte("not a certificate\n"))
	_, otherK := ca.serverCert(t)
	otherKey := filepath.Join(dir, "other.key")
	writeFile(t, otherKey, otherK)
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name string
		cfg  TLSConfig
		want string
	}{
		{"cert without key", TLSConfig{CertFile: cert}, "without its key"},
		{"key without cert", TLSConfig{KeyFile: key}, "without its certificate"},
		{"SANs without client CA", TLSConfig{CertFile: cert, KeyFile: key, AllowedSANs: []string{"a.example.com"}}, "client CA"},
		{"unreadable cert", TLSConfig{CertFile: missing, KeyFile: key}, "missing.pem"},
		{"unreadable CA", TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: missing}, "missing.pem"},
		{"key of another cert", TLSConfig{CertFile: cert, KeyFile: otherKey}, "other.key"},
		{"CA without certificates", TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: garbage}, "garbage.pem"},
		{"star inside", TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: clientCA, AllowedSANs: []string{"a.*.example.com"}}, `"a.*.example.com"`},
		{"star inside URI", TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: clientCA, AllowedSANs: []string{"spiffe://*.local/x"}}, `"spiffe://*.local/x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTLS(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %s", err, tt.want)
			}
		})
	}
}

// servedSerial is the serial number of the certificate alsd presents to a
// new connection; it fails when the handshake fails.
func servedSerial(addr string, ca *testCA, client *tls.Certificate) (int64, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	c := &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"h2"}}
	if client != nil {
		c.Certificates = []tls.Certificate{*client}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, c)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	// TLS 1.3 servers reject a client certificate after the client's
	// handshake is done: a read shows it.
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := conn.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, err
	}
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

// TestTLSReload replaces the certificate, key and client CA on disk in
// each way they are replaced in practice; new handshakes must use the new
// files, without a restart.
func TestTLSReload(t *testing.T) {
	t.Parallel()
	type files struct{ cert, key, ca string }
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string, cert, key, ca []byte) files
		swap  func(t *testing.T, dir string, f files, cert, key, ca []byte)
	}{
		{
			name: "rename",
			setup: func(t *testing.T, dir string, cert, key, ca []byte) files {
				f := files{filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")}
				writeFile(t, f.cert, cert)
				writeFile(t, f.key, key)
				writeFile(t, f.ca, ca)
				return f
			},
			swap: func(t *testing.T, dir string, f files, cert, key, ca []byte) {
				for _, x := range []struct {
					path string
					b    []byte
				}{{f.key, key}, {f.cert, cert}, {f.ca, ca}} {
					tmp := x.path + ".new"
					writeFile(t, tmp, x.b)
					if err := os.Rename(tmp, x.path); err != nil {
						t.Fatal(err)
					}
				}
			},
		},
		{
			name: "in-place rewrite",
			setup: func(t *testing.T, dir string, cert, key, ca []byte) files {
				f := files{filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")}
				writeFile(t, f.cert, cert)
				writeFile(t, f.key, key)
				writeFile(t, f.ca, ca)
				return f
			},
			swap: func(t *testing.T, dir string, f files, cert, key, ca []byte) {
				info, _ := os.Stat(f.cert)
				writeFile(t, f.cert, cert)
				writeFile(t, f.key, key)
				writeFile(t, f.ca, ca)
				// Keep the modification time: only the contents tell.
				for _, p := range []string{f.cert, f.key, f.ca} {
					if err := os.Chtimes(p, info.ModTime(), info.ModTime()); err != nil {
						t.Fatal(err)
					}
				}
			},
		},
		{
			name: "kubernetes symlink swap",
			setup: func(t *testing.T, dir string, cert, key, ca []byte) files {
				k8sVersion(t, dir, "..2026_11_25_10_00_00.1", cert, key, ca)
				if err := os.Symlink("..2026_11_25_10_00_00.1", filepath.Join(dir, "..data")); err != nil {
					t.Fatal(err)
				}
				f := files{filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")}
				for _, p := range []string{f.cert, f.key, f.ca} {
					if err := os.Symlink(filepath.Join("..data", filepath.Base(p)), p); err != nil {
						t.Fatal(err)
					}
				}
				return f
			},
			swap: func(t *testing.T, dir string, f files, cert, key, ca []byte) {
				// What the kubelet does: a new timestamped directory, a
				// temporary link to it renamed over ..data, the old
				// directory removed.
				k8sVersion(t, dir, "..2026_11_25_11_00_00.2", cert, key, ca)
				tmp := filepath.Join(dir, "..data_tmp")
				if err := os.Symlink("..2026_11_25_11_00_00.2", tmp); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
					t.Fatal(err)
				}
				if err := os.RemoveAll(filepath.Join(dir, "..2026_11_25_10_00_00.1")); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ca1, ca2 := newTestCA(t, "CA 1"), newTestCA(t, "CA 2")
			c1, k1 := ca1.serverCert(t)
			f := tt.setup(t, dir, c1, k1, ca1.pem)
			tl, err := NewTLS(TLSConfig{CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.ca, ReloadInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = tl.Run(ctx) }()
			_, addr := serveTest(t, ServerConfig{Converter: &Converter{}, ServerOptions: tl.ServerOptions()})

			cl1 := clientPair(t, ca1)
			cl2 := clientPair(t, ca2)
			first, err := servedSerial(addr, ca1, &cl1)
			if err != nil {
				t.Fatalf("handshake with the first files: %v", err)
			}
			if _, err := servedSerial(addr, ca1, &cl2); err == nil {
				t.Fatal("a client of CA 2 was accepted before CA 2 was configured")
			}

			// A half-done renewal, a key that does not match the new
			// certificate: the old material stays in use.
			c2, k2 := ca2.serverCert(t)
			if tt.name == "in-place rewrite" {
				writeFile(t, f.cert, c2)
				if _, err := tl.Reload(); err == nil {
					t.Error("Reload took a certificate without its key")
				}
				if got, err := servedSerial(addr, ca1, &cl1); err != nil || got != first {
					t.Fatalf("after a half-done renewal: serial %d, %v; want the old %d", got, err, first)
				}
			}

			tt.swap(t, dir, f, c2, k2, ca2.pem)
			deadline := time.Now().Add(10 * time.Second)
			for {
				got, err := servedSerial(addr, ca2, &cl2)
				if err == nil && got != first {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("new files not in use after 10s: serial %d, err %v", got, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := servedSerial(addr, ca2, &cl1); err == nil {
				t.Error("a client of the replaced CA 1 is still accepted")
			}
		})
	}
}

func k8sVersion(t *testing.T, dir, name string, cert, key, ca []byte) {
	t.Helper()
	d := filepath.Join(dir, name)
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(d, "tls.crt"), cert)
	writeFile(t, filepath.Join(d, "tls.key"), key)
	writeFile(t, filepath.Join(d, "ca.crt"), ca)
}

func clientPair(t *testing.T, ca *testCA) tls.Certificate {
	t.Helper()
	c, k := ca.issue(t, leafOpts{cn: "envoy", uris: []string{"spiffe://cluster.local/ns/shop/sa/web"}})
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// TestIdentityBinding: a service whose catalog entry lists spiffe
// identities takes records only from them; others are refused and counted.
func TestIdentityBinding(t *testing.T) {
	t.Parallel()
	cat, err := catalog.Parse("bind.yaml", []byte(`
services:
  - http_service: checkout
    port: 8080
    spiffe: [spiffe://cluster.local/ns/shop/sa/checkout]
  - http_service: payments
    port: 8081
    aliases: [payments.pay]
    spiffe: [spiffe://cluster.local/ns/pay/sa/payments, spiffe://cluster.local/ns/pay/sa/payments-canary]
  - http_service: web
    port: 8082
`))
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t, "mesh CA")
	cert, key, clientCA := tlsFixture(t, ca)
	reg := prometheus.NewRegistry()
	tl, err := NewTLS(TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: clientCA, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var got seen
	_, addr := serveTest(t, ServerConfig{Converter: &Converter{Catalog: cat}, Stages: []Stage{got.stage}, Registerer: reg, ServerOptions: tl.ServerOptions()})
	envoy := func(id string) grpc.DialOption {
		c, k := ca.issue(t, leafOpts{cn: "envoy", uris: []string{id}})
		return mtlsClient(t, ca, c, k)
	}
	checkout := envoy("spiffe://cluster.local/ns/shop/sa/checkout")
	canary := envoy("spiffe://cluster.local/ns/pay/sa/payments-canary")
	tests := []struct {
		name     string
		dial     grpc.DialOption
		cluster  string
		accepted bool
	}{
		{"own service", checkout, "checkout", true},
		{"another team's service", checkout, "payments", false},
		{"another team's service by alias", checkout, "payments.pay", false},
		{"second listed identity", canary, "payments.pay", true},
		{"service without spiffe list", checkout, "web", true},
		{"service outside the catalog", canary, "unlisted", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := refused(reg, "identity")
			// Refused records end no stream: Envoy would only reconnect
			// and send them again.
			if err := sendOne(t, addr, tt.dial, tt.cluster, 4); err != nil {
				t.Fatal(err)
			}
			records := got.take()
			wantRefused := before
			if tt.accepted {
				if len(records) != 4 {
					t.Errorf("accepted %d of 4 records: %v", len(records), records)
				}
			} else {
				wantRefused += 4
				if len(records) != 0 {
					t.Errorf("records of another identity accepted: %v", records)
				}
			}
			if g := refused(reg, "identity"); g != wantRefused {
				t.Errorf("%s{reason=identity} = %v, want %v", MetricPeersRefused, g, wantRefused)
			}
		})
	}
}

// TestIdentityBindingMixedBatch: an ingress Envoy names services by port,
// so one message may hold records of several services; only those of the
// services its identity may not log for are dropped.
func TestIdentityBindingMixedBatch(t *testing.T) {
	t.Parallel()
	cat, err := catalog.Parse("bind.yaml", []byte(`
services:
  - http_service: checkout
    port: 8080
    spiffe: [spiffe://cluster.local/ns/shop/sa/checkout, spiffe://cluster.local/ns/ingress/sa/gateway]
  - http_service: payments
    port: 8081
    spiffe: [spiffe://cluster.local/ns/pay/sa/payments]
`))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{Converter: &Converter{Catalog: cat}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	st := &streamState{keys: map[string][]byte{}, bind: binding{verified: true}}
	st.id.Principal = "spiffe://cluster.local/ns/ingress/sa/gateway"
	var entries []*datav3.HTTPAccessLogEntry
	for i, port := range []uint32{8080, 8081, 8080, 8081, 8081, 8080} {
		entries = append(entries, &datav3.HTTPAccessLogEntry{
			CommonProperties: &datav3.AccessLogCommon{
				DownstreamLocalAddress: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: "10.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}},
			},
			Request: &datav3.HTTPRequestProperties{RequestId: fmt.Sprint(i)},
		})
	}
	var kept []string
	srv.cfg.Stages = []Stage{func(rs []record.Record) {
		for _, r := range rs {
			kept = append(kept, r.Service+"/"+r.RequestID)
		}
	}}
	msg := &alsv3.StreamAccessLogsMessage{
		Identifier: &alsv3.StreamAccessLogsMessage_Identifier{Node: &corev3.Node{Id: "gw", Cluster: "ingress"}, LogName: "als"},
		LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries}},
	}
	if err := srv.handle(st, decodedBatch(t, msg, 100)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(kept, " "); got != "checkout/0 checkout/2 checkout/5" {
		t.Errorf("kept %q, want the checkout records in order", got)
	}
	if got := testutil.ToFloat64(srv.m.peersRefused.WithLabelValues("identity")); got != 3 {
		t.Errorf("refused %v, want 3", got)
	}
	if srv.Accepted() != 3 {
		t.Errorf("Accepted() = %d, want 3", srv.Accepted())
	}
}

// TestIdentityBindingNeedsMTLS: without verified client certificates
// there is no identity to bind, so records are taken (alsd warns at start
// that senders are unauthenticated).
func TestIdentityBindingNeedsMTLS(t *testing.T) {
	t.Parallel()
	cat, err := catalog.Parse("bind.yaml", []byte("services:\n  - http_service: checkout\n    port: 8080\n    spiffe: [spiffe://cluster.local/ns/shop/sa/checkout]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got seen
	_, addr := serveTest(t, ServerConfig{Converter: &Converter{Catalog: cat}, Stages: []Stage{got.stage}})
	if err := sendOne(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials()), "checkout", 2); err != nil {
		t.Fatal(err)
	}
	if records := got.take(); len(records) != 2 {
		t.Errorf("records %v, want 2", records)
	}
}

// TestNoSessionResumption: a resumed TLS session skips client certificate
// verification, so a session from before a CA rotation would outlive it;
// alsd never resumes.
func TestNoSessionResumption(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "mesh CA")
	cert, key, clientCA := tlsFixture(t, ca)
	tl, err := NewTLS(TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: clientCA})
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serveTest(t, ServerConfig{Converter: &Converter{}, ServerOptions: tl.ServerOptions()})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	c := &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"h2"},
		Certificates: []tls.Certificate{clientPair(t, ca)}, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for i := range 2 {
		conn, err := tls.Dial("tcp", addr, c)
		if err != nil {
			t.Fatal(err)
		}
		// TLS 1.3 tickets arrive after the handshake: read to take them.
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, _ = conn.Read(make([]byte, 64))
		if conn.ConnectionState().DidResume {
			t.Errorf("connection %d resumed a TLS session", i)
		}
		conn.Close()
	}
}

// TestTLSReloadUnreadable: a file that disappears keeps the previous
// material in use, is logged once however often it is retried, and is
// taken again once it is back.
func TestTLSReloadUnreadable(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "mesh CA")
	cert, key, _ := tlsFixture(t, ca)
	var logs bytes.Buffer
	var mu sync.Mutex
	tl, err := NewTLS(TLSConfig{CertFile: cert, KeyFile: key, Logger: newTestLogger(&logs, &mu)})
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serveTest(t, ServerConfig{Converter: &Converter{}, ServerOptions: tl.ServerOptions()})
	first, err := servedSerial(addr, ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if changed, err := tl.Reload(); changed || err == nil || !strings.Contains(err.Error(), key) {
			t.Fatalf("Reload without the key: changed %v, err %v", changed, err)
		}
	}
	if got, err := servedSerial(addr, ca, nil); err != nil || got != first {
		t.Fatalf("without the key file: serial %d, %v; want the previous %d", got, err, first)
	}
	mu.Lock()
	warnings := strings.Count(logs.String(), "cannot be used")
	mu.Unlock()
	if warnings != 1 {
		t.Errorf("%d warnings for one unreadable file, want 1:\n%s", warnings, logs.String())
	}
	c2, k2 := ca.serverCert(t)
	writeFile(t, cert, c2)
	writeFile(t, key, k2)
	if changed, err := tl.Reload(); !changed || err != nil {
		t.Fatalf("Reload with new files: changed %v, err %v", changed, err)
	}
	if got, err := servedSerial(addr, ca, nil); err != nil || got == first {
		t.Errorf("after the files came back: serial %d, %v", got, err)
	}
}
