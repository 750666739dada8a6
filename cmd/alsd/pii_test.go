package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/internal/poll"
	"github.com/meshtel/meshtel/record"
)

// Planted personal data: none of it may appear in anything alsd writes.
const (
	plantedEmail = "jane.planted@example.com"
	plantedCard  = "4111111111111111"
	plantedJWT   = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlLXBsYW50ZWQtMTIzNDU2Nzg5MA"
	plantedToken = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c"
)

// plantedPaths carry the planted data the way real APIs do; each has a
// route and a status, so it reaches the SLI route table and, when bad, the
// web UI's recent bad requests.
var plantedPaths = []struct {
	path   string
	status uint32
}{
	{"/users/" + plantedEmail + "/orders", 503},
	{"/users/jane.planted%40example.com/profile", 200},
	{"/cards/" + plantedCard + "/verify", 500},
	{"/cards/4111-1111-1111-1111", 200},
	{"/reset/" + plantedJWT, 503},
	{"/invite/" + plantedToken, 502},
}

// TestPersonalDataNeverLeaves plants e-mail addresses, card numbers, a JWT
// and a token in paths and user agents, and looks for them in every output
// of a running alsd: Kafka records (JSON and proto), /api/slo,
// /api/cookies, /metrics, the web UI pages, `alsd report` and its own log
// at debug level (SPEC §2).
func TestPersonalDataNeverLeaves(t *testing.T) {
	for _, enc := range []string{"json", "proto"} {
		t.Run(enc, func(t *testing.T) {
			broker := kafkatest.Fake(t, record.DefaultTopic)
			p := startAlsd(t, "--kafka-brokers", broker.Addr, "--kafka-encoding", enc, "--state-dir", t.TempDir(),
				"--catalog", "../../examples/mesh.yaml", "--log-level", "debug", "--keep-query")
			sendPlanted(t, p.als)
			want := float64(len(plantedPaths))
			poll.Until(t, 20*time.Second, "the planted records produced", func() bool {
				return p.metric(t, "alsd_kafka_produced_total") >= want
			})
			outputs := map[string]string{}
			for i, m := range kafkatest.ReadAll(t, broker.Addr, record.DefaultTopic, len(plantedPaths), 20*time.Second) {
				outputs[fmt.Sprintf("kafka record %d", i)] = string(m.Value)
			}
			for _, path := range []string{"/api/slo", "/api/cookies", "/metrics", "/", "/slo/my_website", "/cookies", "/pipeline"} {
				_, outputs[path] = p.get(t, path)
			}
			for _, subject := range []string{"slo", "cookies"} {
				var out bytes.Buffer
				if code := run(context.Background(), []string{"report", subject, "--admin", "http://" + p.admin}, &out, io.Discard, func(string) string { return "" }); code != exitOK {
					t.Fatalf("alsd report %s exited %d", subject, code)
				}
				outputs["alsd report "+subject] = out.String()
			}
			for _, kind := range []string{"email", "card", "jwt", "token"} {
				if n := p.metric(t, `alsd_pii_masked_total{kind="`+kind+`"}`); !(n > 0) {
					t.Errorf("alsd_pii_masked_total{kind=%q} = %v, want > 0", kind, n)
				}
			}
			p.stop(t, syscall.SIGTERM)
			outputs["alsd log"] = p.log()
			checkNoPlanted(t, outputs)
			if !strings.Contains(outputs["kafka record 0"]+outputs["kafka record 1"], "{") {
				t.Error("no record shows a placeholder: the check above saw nothing")
			}
		})
	}
}

func sendPlanted(t *testing.T, addr string) {
	t.Helper()
	e, err := envoysim.Dial(addr, envoysim.EnvoyConfig{NodeID: "sidecar~10.0.0.1~web~ns", Cluster: "my_website"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var entries []*datav3.HTTPAccessLogEntry
	for _, pp := range plantedPaths {
		entries = append(entries, &datav3.HTTPAccessLogEntry{
			CommonProperties: &datav3.AccessLogCommon{StartTime: timestamppb.Now(), RouteName: "api", UpstreamCluster: "inbound|8080||"},
			Request: &datav3.HTTPRequestProperties{RequestMethod: corev3.RequestMethod_GET, Path: pp.path + "?owner=" + plantedEmail,
				UserAgent: "probe/1.0 (+mailto:" + plantedEmail + ")"},
			Response: &datav3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(pp.status)},
		})
	}
	if err := e.SendHTTP(context.Background(), entries...); err != nil {
		t.Fatal(err)
	}
}

func checkNoPlanted(t *testing.T, outputs map[string]string) {
	t.Helper()
	for where, out := range outputs {
		for _, planted := range []string{plantedEmail, "jane.planted%40", plantedCard, "4111-1111", plantedJWT, "eyJhbGciOiJIUzI1NiJ9", plantedToken} {
			if strings.Contains(out, planted) {
				t.Errorf("%s shows %q", where, planted)
			}
		}
	}
}
