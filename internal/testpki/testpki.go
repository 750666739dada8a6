// Package testpki is a certificate authority made at test time: it issues
// server and client certificates with the DNS, IP and URI (SPIFFE) subject
// alternative names and validity a test asks for, and writes them as the
// PEM files alsd's TLS flags name. Keys are ECDSA P-256.
//
// It is for tests only: nothing it makes should be trusted, and it never
// writes outside the directory it is given.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority. Its methods may be called from several
// goroutines.
type CA struct {
	// Cert is the CA's self-signed certificate.
	Cert *x509.Certificate
	// PEM is Cert, PEM-encoded: what a client CA or root file holds.
	PEM    []byte
	key    crypto.Signer
	serial atomic.Int64
}

// NewCA makes a CA named name, valid from an hour ago for a day.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
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
		t.Fatalf("testpki: make CA %q: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: parse CA %q: %v", name, err)
	}
	ca := &CA{Cert: cert, PEM: encode("CERTIFICATE", der), key: key}
	ca.serial.Store(1)
	return ca
}

// Leaf describes a certificate to issue.
type Leaf struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// URIs are URI SANs, such as SPIFFE IDs; a URI that does not parse
	// fails the test.
	URIs []string
	// Server makes a server certificate (extended key usage server auth);
	// the default is a client certificate.
	Server bool
	// NotBefore and NotAfter bound the validity. Defaults: an hour ago,
	// an hour from now. Both in the past make an expired certificate.
	NotBefore, NotAfter time.Time
}

// Localhost describes the server certificate of a test server on
// loopback: localhost and 127.0.0.1.
func Localhost() Leaf {
	return Leaf{CommonName: "localhost", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true}
}

// Issue returns a certificate for l signed by ca, and its private key,
// both PEM-encoded (the key as PKCS #8).
func (ca *CA) Issue(t testing.TB, l Leaf) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial.Add(1)),
		Subject:      pkix.Name{CommonName: l.CommonName},
		NotBefore:    l.NotBefore,
		NotAfter:     l.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     l.DNSNames,
		IPAddresses:  l.IPs,
	}
	if l.Server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	for _, u := range l.URIs {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatalf("testpki: URI SAN %q: %v", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		t.Fatalf("testpki: issue %q: %v", l.CommonName, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testpki: encode key: %v", err)
	}
	return encode("CERTIFICATE", der), encode("PRIVATE KEY", kder)
}

// Pair issues a certificate for l, ready for a tls.Config.
func (ca *CA) Pair(t testing.TB, l Leaf) tls.Certificate {
	t.Helper()
	certPEM, keyPEM := ca.Issue(t, l)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("testpki: load pair %q: %v", l.CommonName, err)
	}
	return pair
}

// Pool returns a pool holding only ca.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// ClientConfig returns the TLS configuration of a client of a loopback
// server whose certificate ca issued (see Localhost): it trusts only ca
// and presents a certificate for client when client is not nil.
func (ca *CA) ClientConfig(t testing.TB, client *Leaf) *tls.Config {
	t.Helper()
	c := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if client != nil {
		c.Certificates = []tls.Certificate{ca.Pair(t, *client)}
	}
	return c
}

// Files are the paths of a certificate, its key and its CA, as a
// Kubernetes TLS secret names them: tls.crt, tls.key, ca.crt.
type Files struct {
	Cert, Key, CA string
}

// WriteFiles issues a certificate for l and writes it, its key and ca's
// certificate into dir.
func (ca *CA) WriteFiles(t testing.TB, dir string, l Leaf) Files {
	t.Helper()
	certPEM, keyPEM := ca.Issue(t, l)
	return Files{
		Cert: WriteFile(t, filepath.Join(dir, "tls.crt"), certPEM),
		Key:  WriteFile(t, filepath.Join(dir, "tls.key"), keyPEM),
		CA:   WriteFile(t, filepath.Join(dir, "ca.crt"), ca.PEM),
	}
}

// WriteFile writes b to path, readable by the owner only as keys are,
// and returns path.
func WriteFile(t testing.TB, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatalf("testpki: %v", err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: generate key: %v", err)
	}
	return key
}

func encode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
