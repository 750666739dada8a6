package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

func parse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", certPEM)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIssue verifies what Issue makes the way a TLS peer would: against
// the CA, for the usage and name asked.
func TestIssue(t *testing.T) {
	ca, other := NewCA(t, "mesh CA"), NewCA(t, "other CA")
	tests := []struct {
		name    string
		leaf    Leaf
		verify  *CA
		usage   x509.ExtKeyUsage
		dnsName string
		wantErr string // the type of Verify's error; "": it verifies
		uris    []string
	}{
		{"server for localhost", Localhost(), ca, x509.ExtKeyUsageServerAuth, "localhost", "", nil},
		{"server for 127.0.0.1", Localhost(), ca, x509.ExtKeyUsageServerAuth, "127.0.0.1", "", nil},
		{"server, another name", Localhost(), ca, x509.ExtKeyUsageServerAuth, "alsd.example.com", "x509.HostnameError", nil},
		{"client with SPIFFE ID", Leaf{CommonName: "web", URIs: []string{"spiffe://cluster.local/ns/shop/sa/web"}}, ca, x509.ExtKeyUsageClientAuth, "", "", []string{"spiffe://cluster.local/ns/shop/sa/web"}},
		{"client is no server", Leaf{CommonName: "web", DNSNames: []string{"localhost"}}, ca, x509.ExtKeyUsageServerAuth, "", "x509.CertificateInvalidError", nil},
		{"expired", Leaf{CommonName: "old", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}, ca, x509.ExtKeyUsageClientAuth, "", "x509.CertificateInvalidError", nil},
		{"another CA", Leaf{CommonName: "web"}, other, x509.ExtKeyUsageClientAuth, "", "x509.UnknownAuthorityError", nil},
	}
	serials := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM := ca.Issue(t, tt.leaf)
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				t.Fatalf("certificate and key do not pair: %v", err)
			}
			c := parse(t, certPEM)
			if serials[c.SerialNumber.String()] {
				t.Errorf("serial %v issued twice", c.SerialNumber)
			}
			serials[c.SerialNumber.String()] = true
			_, err := c.Verify(x509.VerifyOptions{Roots: tt.verify.Pool(), DNSName: tt.dnsName, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Verify: %v", err)
			case tt.wantErr != "" && fmt.Sprintf("%T", err) != tt.wantErr:
				t.Errorf("Verify = %T %v, want a %s", err, err, tt.wantErr)
			}
			var uris []string
			for _, u := range c.URIs {
				uris = append(uris, u.String())
			}
			if len(uris) != len(tt.uris) || (len(uris) > 0 && uris[0] != tt.uris[0]) {
				t.Errorf("URI SANs %v, want %v", uris, tt.uris)
			}
		})
	}
}

// TestMutualTLS runs a handshake on 127.0.0.1 between a server loading
// WriteFiles' files and a client of ClientConfig.
func TestMutualTLS(t *testing.T) {
	ca := NewCA(t, "mesh CA")
	f := ca.WriteFiles(t, t.TempDir(), Localhost())
	for _, p := range []string{f.Cert, f.Key, f.CA} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, %v", p, info, err)
		}
	}
	serverPair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	clients := x509.NewCertPool()
	if !clients.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{serverPair}, ClientCAs: clients, ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	peer := make(chan string, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			peer <- err.Error()
			return
		}
		peer <- tc.ConnectionState().PeerCertificates[0].URIs[0].String()
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", lis.Addr().String(),
		ca.ClientConfig(t, &Leaf{CommonName: "web", URIs: []string{"spiffe://cluster.local/ns/shop/sa/web"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := <-peer; got != "spiffe://cluster.local/ns/shop/sa/web" {
		t.Errorf("server saw %q, want the client's SPIFFE ID", got)
	}
}
