package accesslog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/internal/testpki"
)

// TestOTLPTLS: OTLP logs get the ALS listener's TLS, on both listeners: a
// handshake without a client certificate fails, a verified peer outside
// --allowed-sans is refused with PermissionDenied, and a catalog
// service's spiffe identities bind which peer may log for it, record by
// record, the refused ones counted in partial_success.
func TestOTLPTLS(t *testing.T) {
	t.Parallel()
	cat, err := catalog.Parse("bind.yaml", []byte(`
services:
  - http_service: checkout
    port: 8080
    spiffe: [spiffe://cluster.local/ns/shop/sa/checkout]
  - http_service: payments
    port: 8081
    spiffe: [spiffe://cluster.local/ns/pay/sa/payments]
`))
	if err != nil {
		t.Fatal(err)
	}
	ca := testpki.NewCA(t, "mesh CA")
	cert, key, clientCA := tlsFixture(t, ca)
	reg := prometheus.NewRegistry()
	tl, err := NewTLS(TLSConfig{CertFile: cert, KeyFile: key, ClientCAFile: clientCA, Registerer: reg,
		AllowedSANs: []string{"spiffe://cluster.local/ns/shop/*"}})
	if err != nil {
		t.Fatal(err)
	}
	var got seen
	_, addr, otlpAddr := serveOTLP(t, ServerConfig{Converter: &Converter{Catalog: cat}, Stages: []Stage{got.stage},
		Registerer: reg, ServerOptions: tl.ServerOptions()})
	checkout := mtlsClient(t, ca, &testpki.Leaf{CommonName: "checkout", URIs: []string{"spiffe://cluster.local/ns/shop/sa/checkout"}})
	payments := mtlsClient(t, ca, &testpki.Leaf{CommonName: "payments", URIs: []string{"spiffe://cluster.local/ns/pay/sa/payments"}})
	req := twoRecordsEach("checkout", "payments")
	export := func(addr string, dial grpc.DialOption) (*collogspb.ExportLogsServiceResponse, error) {
		conn, err := grpc.NewClient(addr, dial)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return collogspb.NewLogsServiceClient(conn).Export(ctx, req)
	}
	for _, a := range []string{addr, otlpAddr} {
		before := refused(reg, "identity")
		resp, err := export(a, checkout)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		ps := resp.GetPartialSuccess()
		if ps.GetRejectedLogRecords() != 2 || !strings.Contains(ps.GetErrorMessage(), `2 refused: the catalog does not list the sender's identity "spiffe://cluster.local/ns/shop/sa/checkout"`) {
			t.Errorf("%s: partial success %v", a, ps)
		}
		if n := refused(reg, "identity") - before; n != 2 {
			t.Errorf("%s: %v records refused for identity, want 2", a, n)
		}
		want := []string{"checkout spiffe://cluster.local/ns/shop/sa/checkout", "checkout spiffe://cluster.local/ns/shop/sa/checkout"}
		if recs := got.take(); strings.Join(recs, ",") != strings.Join(want, ",") {
			t.Errorf("%s: records %v, want %v", a, recs, want)
		}
		before = refused(reg, "san")
		if _, err := export(a, payments); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: a peer outside --allowed-sans: %v, want PermissionDenied", a, err)
		}
		if n := refused(reg, "san") - before; n != 1 {
			t.Errorf("%s: %v refused for san, want 1", a, n)
		}
		if _, err := export(a, mtlsClient(t, ca, nil)); status.Code(err) != codes.Unavailable {
			t.Errorf("%s: no client certificate: %v, want Unavailable (handshake)", a, err)
		}
		if _, err := export(a, grpc.WithTransportCredentials(insecure.NewCredentials())); err == nil {
			t.Errorf("%s: plaintext accepted", a)
		}
	}
	if recs := got.take(); len(recs) != 0 {
		t.Errorf("refused peers' records reached the stages: %v", recs)
	}
}

// twoRecordsEach is a request with a resource of each service, two records
// each.
func twoRecordsEach(services ...string) *collogspb.ExportLogsServiceRequest {
	req := &collogspb.ExportLogsServiceRequest{}
	for _, svc := range services {
		lr := &logspb.LogRecord{Attributes: attrs("method", "GET", "status", "200")}
		req.ResourceLogs = append(req.ResourceLogs, &logspb.ResourceLogs{
			Resource:  &resourcepb.Resource{Attributes: attrs("cluster_name", svc)},
			ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{lr, lr}}},
		})
	}
	return req
}
