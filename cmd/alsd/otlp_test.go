package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"syscall"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"

	"github.com/meshtel/meshtel/envoysim"
)

var otlpRE = regexp.MustCompile(`msg="alsd started" .* otlp=(\S+)`)

// TestOTLPListeners: alsd takes OTLP logs on its ALS listener and on
// --otlp-addr, and `alsd simulate --protocol otlp` drives it in every
// vocabulary without a record rejected.
func TestOTLPListeners(t *testing.T) {
	p := startAlsd(t, "--state-dir", t.TempDir(), "--otlp-addr", "127.0.0.1:0")
	m := otlpRE.FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("no otlp addresses in the log:\n%s", p.log())
	}
	addrs := strings.Split(m[1], ",")
	if len(addrs) != 2 || addrs[0] != p.als {
		t.Fatalf("otlp addresses %v, want the ALS address and another", addrs)
	}
	for _, addr := range addrs {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		lr := &logspb.LogRecord{Attributes: []*commonpb.KeyValue{{Key: "method", Value: &commonpb.AnyValue{
			Value: &commonpb.AnyValue_StringValue{StringValue: "GET"}}}}}
		// gzip, as OpenTelemetry Collectors' exporters send by default.
		resp, err := collogspb.NewLogsServiceClient(conn).Export(context.Background(), &collogspb.ExportLogsServiceRequest{
			ResourceLogs: []*logspb.ResourceLogs{{Resource: envoysim.OTLPResource("n", "web", "otel"),
				ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{lr, lr, lr}}}}}}, grpc.UseCompressor(gzip.Name))
		if err != nil || resp.GetPartialSuccess() != nil {
			t.Fatalf("Export to %s: %v %v", addr, err, resp)
		}
	}
	for _, v := range envoysim.Vocabularies {
		var stdout, stderr bytes.Buffer
		args := []string{"simulate", "--target", addrs[1], "--protocol", "otlp", "--vocabulary", string(v), "--total", "300", "--batch", "50"}
		if code := run(context.Background(), args, &stdout, &stderr, func(string) string { return "" }); code != 0 {
			t.Fatalf("alsd %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
		}
		if !strings.Contains(stdout.String(), "sent 300 entries") {
			t.Errorf("%s: %s", v, stdout.String())
		}
	}
	p.stop(t, syscall.SIGTERM)
	if n := p.accepted(t); n != 6+4*300 {
		t.Errorf("alsd accepted %d records, want %d", n, 6+4*300)
	}
}
