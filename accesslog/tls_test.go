package accesslog

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/internal/poll"
	"github.com/meshtel/meshtel/internal/testpki"
	"github.com/meshtel/meshtel/record"
)

// tlsFixture writes a loopback server certificate and key signed by ca,
// and ca itself as client CA, into a temporary directory.
func tlsFixture(t testing.TB, ca *testpki.CA) (cert, key, clientCA string) {
	t.Helper()
	f := ca.WriteFiles(t, t.TempDir(), testpki.Localhost())
	return f.Cert, f.Key, f.CA
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

// tlsDial returns gRPC transport credentials of c.
func tlsDial(c *tls.Config) grpc.DialOption {
	return grpc.WithTransportCredentials(credentials.NewTLS(c))
}

// mtlsClient returns credentials trusting ca, presenting a certificate ca
// issues for client when client is not nil.
func mtlsClient(t testing.TB, ca *testpki.CA, client *testpki.Leaf) grpc.DialOption {
	t.Helper()
	return tlsDial(ca.ClientConfig(t, client))
}

// sendOne sends one message of n entries claiming cluster on a stream of
// its own, half-closes and returns alsd's answer.
func sendOne(t testing.TB, addr string, dial grpc.DialOption, cluster string, n int) error {
	t.Helper()
	e, err := envoysim.Dial(addr, envoysim.EnvoyConfig{NodeID: "sidecar~" + cluster, Cluster: cluster, DialOptions: []grpc.DialOption{dial}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	entries := make([]*datav3.HTTPAccessLogEntry, n)
	for i := range entries {
		entries[i] = &datav3.HTTPAccessLogEntry{
			CommonProperties: &datav3.AccessLogCommon{StartTime: timestamppb.Now()},
			Request:          &datav3.HTTPRequestProperties{RequestMethod: corev3.RequestMethod_GET, Path: "/"},
			Response:         &datav3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(200)},
		}
	}
	if err := e.SendHTTP(ctx, entries...); err != nil {
		return err
	}
	return e.Close()
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
	ca, otherCA := testpki.NewCA(t, "mesh CA"), testpki.NewCA(t, "other CA")
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

	client := func(l testpki.Leaf) grpc.DialOption { return mtlsClient(t, ca, &l) }
	wrongCA := ca.ClientConfig(t, nil)
	wrongCA.Certificates = []tls.Certificate{otherCA.Pair(t, testpki.Leaf{CommonName: "web", URIs: []string{"spiffe://cluster.local/ns/shop/sa/web"}})}
	tests := []struct {
		name      string
		dial      grpc.DialOption
		code      codes.Code
		reason    string // the refusal counted, "" when accepted
		principal string
	}{
		{"no certificate", mtlsClient(t, ca, nil), codes.Unavailable, "handshake", ""},
		{"wrong CA", tlsDial(wrongCA), codes.Unavailable, "handshake", ""},
		{"expired", client(testpki.Leaf{CommonName: "old", URIs: []string{"spiffe://cluster.local/ns/shop/sa/web"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}), codes.Unavailable, "handshake", ""},
		{"plaintext client", grpc.WithTransportCredentials(insecure.NewCredentials()), codes.Unavailable, "handshake", ""},
		{"allowed URI, trailing * across /", client(testpki.Leaf{CommonName: "checkout", URIs: []string{"spiffe://cluster.local/ns/shop/sa/checkout"}}), codes.OK, "", "spiffe://cluster.local/ns/shop/sa/checkout"},
		{"URI of another namespace", client(testpki.Leaf{CommonName: "pay", URIs: []string{"spiffe://cluster.local/ns/pay/sa/payments"}}), codes.PermissionDenied, "san", ""},
		{"URI match is case-sensitive", client(testpki.Leaf{CommonName: "shop", URIs: []string{"spiffe://cluster.local/NS/shop/sa/web"}}), codes.PermissionDenied, "san", ""},
		{"URI entries do not match DNS SANs", client(testpki.Leaf{CommonName: "dns", DNSNames: []string{"spiffe.cluster.local"}}), codes.PermissionDenied, "san", ""},
		{"wildcard: one label", client(testpki.Leaf{CommonName: "w", DNSNames: []string{"web-1.mesh.example.com"}}), codes.OK, "", "web-1.mesh.example.com"},
		{"wildcard: not two labels", client(testpki.Leaf{CommonName: "w", DNSNames: []string{"a.b.mesh.example.com"}}), codes.PermissionDenied, "san", ""},
		{"wildcard: not zero labels", client(testpki.Leaf{CommonName: "w", DNSNames: []string{"mesh.example.com"}}), codes.PermissionDenied, "san", ""},
		{"DNS match ignores case", client(testpki.Leaf{CommonName: "i", DNSNames: []string{"INGRESS.example.org"}}), codes.OK, "", "INGRESS.example.org"},
		{"any SAN of the certificate may match", client(testpki.Leaf{CommonName: "m", DNSNames: []string{"x.other.org", "api.mesh.example.com"}}), codes.OK, "", "x.other.org"},
		{"URI SAN is the principal", client(testpki.Leaf{CommonName: "both", URIs: []string{"spiffe://cluster.local/ns/shop/sa/cart"}, DNSNames: []string{"cart.mesh.example.com"}}), codes.OK, "", "spiffe://cluster.local/ns/shop/sa/cart"},
		{"no SAN at all", client(testpki.Leaf{CommonName: "bare"}), codes.PermissionDenied, "san", ""},
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
				poll.Wait(3*time.Second, func() bool { return refused(reg, r) >= want })
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
	ca := testpki.NewCA(t, "mesh CA")
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
	web := testpki.Leaf{CommonName: "web", URIs: []string{"spiffe://cluster.local/ns/shop/sa/web"}}
	for _, dial := range []grpc.DialOption{mtlsClient(t, ca, nil), mtlsClient(t, ca, &web)} {
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
	ca := testpki.NewCA(t, "mesh CA")
	cert, key, clientCA := tlsFixture(t, ca)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	testpki.WriteFile(t, garbage, []byte("not a certificate\n"))
	_, otherK := ca.Issue(t, testpki.Localhost())
	otherKey := filepath.Join(dir, "other.key")
	testpki.WriteFile(t, otherKey, otherK)
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
func servedSerial(addr string, ca *testpki.CA, client *tls.Certificate) (int64, error) {
	c := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", NextProtos: []string{"h2"}}
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
				testpki.WriteFile(t, f.cert, cert)
				testpki.WriteFile(t, f.key, key)
				testpki.WriteFile(t, f.ca, ca)
				return f
			},
			swap: func(t *testing.T, dir string, f files, cert, key, ca []byte) {
				for _, x := range []struct {
					path string
					b    []byte
				}{{f.key, key}, {f.cert, cert}, {f.ca, ca}} {
					tmp := x.path + ".new"
					testpki.WriteFile(t, tmp, x.b)
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
				testpki.WriteFile(t, f.cert, cert)
				testpki.WriteFile(t, f.key, key)
				testpki.WriteFile(t, f.ca, ca)
				return f
			},
			swap: func(t *testing.T, dir string, f files, cert, key, ca []byte) {
				info, _ := os.Stat(f.cert)
				testpki.WriteFile(t, f.cert, cert)
				testpki.WriteFile(t, f.key, key)
				testpki.WriteFile(t, f.ca, ca)
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
			ca1, ca2 := testpki.NewCA(t, "CA 1"), testpki.NewCA(t, "CA 2")
			c1, k1 := ca1.Issue(t, testpki.Localhost())
			f := tt.setup(t, dir, c1, k1, ca1.PEM)
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
			c2, k2 := ca2.Issue(t, testpki.Localhost())
			if tt.name == "in-place rewrite" {
				testpki.WriteFile(t, f.cert, c2)
				if _, err := tl.Reload(); err == nil {
					t.Error("Reload took a certificate without its key")
				}
				if got, err := servedSerial(addr, ca1, &cl1); err != nil || got != first {
					t.Fatalf("after a half-done renewal: serial %d, %v; want the old %d", got, err, first)
				}
			}

			tt.swap(t, dir, f, c2, k2, ca2.PEM)
			poll.UntilState(t, 10*time.Second, "the new files in use", func() (bool, string) {
				got, err := servedSerial(addr, ca2, &cl2)
				return err == nil && got != first, fmt.Sprintf("serial %d, err %v", got, err)
			})
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
	testpki.WriteFile(t, filepath.Join(d, "tls.crt"), cert)
	testpki.WriteFile(t, filepath.Join(d, "tls.key"), key)
	testpki.WriteFile(t, filepath.Join(d, "ca.crt"), ca)
}

func clientPair(t *testing.T, ca *testpki.CA) tls.Certificate {
	t.Helper()
	return ca.Pair(t, testpki.Leaf{CommonName: "envoy", URIs: []string{"spiffe://cluster.local/ns/shop/sa/web"}})
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
	ca := testpki.NewCA(t, "mesh CA")
	cert, key, clientCA := tlsFixture(t, ca)
	reg := prometheus.NewRegistry()
	tl, err := NewTLS(TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: clientCA, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var got seen
	_, addr := serveTest(t, ServerConfig{Converter: &Converter{Catalog: cat}, Stages: []Stage{got.stage}, Registerer: reg, ServerOptions: tl.ServerOptions()})
	envoy := func(id string) grpc.DialOption {
		return mtlsClient(t, ca, &testpki.Leaf{CommonName: "envoy", URIs: []string{id}})
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
	ca := testpki.NewCA(t, "mesh CA")
	cert, key, clientCA := tlsFixture(t, ca)
	tl, err := NewTLS(TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: clientCA})
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serveTest(t, ServerConfig{Converter: &Converter{}, ServerOptions: tl.ServerOptions()})
	c := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", NextProtos: []string{"h2"},
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
	ca := testpki.NewCA(t, "mesh CA")
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
	c2, k2 := ca.Issue(t, testpki.Localhost())
	testpki.WriteFile(t, cert, c2)
	testpki.WriteFile(t, key, k2)
	if changed, err := tl.Reload(); !changed || err != nil {
		t.Fatalf("Reload with new files: changed %v, err %v", changed, err)
	}
	if got, err := servedSerial(addr, ca, nil); err != nil || got == first {
		t.Errorf("after the files came back: serial %d, %v", got, err)
	}
}
