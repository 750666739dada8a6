package envoyconfig

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	otellogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/open_telemetry/v3"

	"github.com/meshtel/meshtel/catalog"
	"testing"
)

// vocabulary1 is SPEC §7's first attribute vocabulary, as written there.
var vocabulary1 = []string{
	"status", "method", "path", "authority", "protocol", "duration_ms", "upstream_duration_ms", "response_flags",
	"upstream_cluster", "upstream_host", "route_name", "request_bytes", "response_bytes", "grpc_status", "request_id",
	"user_agent", "downstream_remote_address", "downstream_local_address", "peer_principal", "response_code_details",
	"connection_termination_details", "upstream_transport_failure_reason", "cookie", "set_cookie", "kind",
}

// additions are the attributes alsd reads beyond vocabulary1 (README,
// "OTLP access logs").
var additions = []string{"tls_version", "access_log_type"}

var operator = regexp.MustCompile(`^%[A-Z_]+(\([^()%]*\))?%$`)

func TestOTelAttributes(t *testing.T) {
	known := map[string]bool{}
	for _, k := range append(slices.Clone(vocabulary1), additions...) {
		known[k] = true
	}
	attrs := OTelAttributes()
	for k, v := range attrs {
		if !known[k] {
			t.Errorf("attribute %q is neither in SPEC §7's meshtel vocabulary nor an addition", k)
		}
		if !operator.MatchString(v) {
			t.Errorf("attribute %q = %q: want one Envoy command operator", k, v)
		}
	}
	// Everything of vocabulary 1 but kind (a constant, "http" by default),
	// and the additions.
	if want := len(vocabulary1) - 1 + len(additions); len(attrs) != want {
		t.Errorf("%d attributes, want %d", len(attrs), want)
	}
	// The headers alsd needs, as the ALS config logs them (SPEC §5).
	for k, v := range map[string]string{"cookie": "%REQ(COOKIE)%", "set_cookie": "%RESP(SET-COOKIE)%",
		"user_agent": "%REQ(USER-AGENT)%", "request_id": "%REQ(X-REQUEST-ID)%"} {
		if attrs[k] != v {
			t.Errorf("%s = %q, want %q", k, attrs[k], v)
		}
	}
	attrs["status"] = "changed"
	if OTelAttributes()["status"] == "changed" {
		t.Error("OTelAttributes returns a shared map")
	}
}

// otelConfig reads a generated .otel.yaml back as Envoy would and returns
// its logger's config and attributes.
func otelConfig(t *testing.T, data []byte) (*otellogv3.OpenTelemetryAccessLogConfig, map[string]string, *clusterv3.Cluster) {
	t.Helper()
	al, cl := parsed(t, data)
	if al.Name != OTelLogger {
		t.Errorf("logger %q, want %s", al.Name, OTelLogger)
	}
	var cfg otellogv3.OpenTelemetryAccessLogConfig
	if err := al.GetTypedConfig().UnmarshalTo(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{}
	for _, kv := range cfg.GetAttributes().GetValues() {
		attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return &cfg, attrs, cl
}

func TestOTelFile(t *testing.T) {
	svc := catalog.Service{Name: "my_website", Kind: catalog.HTTPService, Port: 8080}
	data, err := OTelFile(svc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, attrs, cl := otelConfig(t, data)
	if want := OTelAttributes(); !maps.Equal(attrs, want) {
		t.Errorf("attributes %v\nwant %v", attrs, want)
	}
	common := cfg.GetCommonConfig()
	if common.GetGrpcService().GetEnvoyGrpc().GetClusterName() != DefaultCluster || cl.GetName() != DefaultCluster {
		t.Errorf("not sent to the %s cluster", DefaultCluster)
	}
	if common.GetBufferSizeBytes().GetValue() != DefaultBufferSizeBytes || common.GetBufferFlushInterval().AsDuration() != time.Second {
		t.Errorf("buffer %v, flush %v", common.GetBufferSizeBytes(), common.GetBufferFlushInterval())
	}
	res := cfg.GetResourceAttributes().GetValues()
	if len(res) != 1 || res[0].GetKey() != "cluster_name" || res[0].GetValue().GetStringValue() != "my_website" {
		t.Errorf("resource attributes %v, want cluster_name: my_website", res)
	}
	if !strings.Contains(string(data), "http_connection_manager") || !strings.Contains(string(data), "instead of my_website.als.yaml") {
		t.Errorf("header does not say where the logger goes:\n%s", data)
	}
	again, _ := OTelFile(svc, Config{})
	if string(again) != string(data) {
		t.Error("two runs differ")
	}
}

func TestOTelFileTCP(t *testing.T) {
	data, err := OTelFile(catalog.Service{Name: "redis_cache", Kind: catalog.TCPService, Port: 6379}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, attrs, _ := otelConfig(t, data)
	if attrs["kind"] != "tcp" {
		t.Errorf("kind = %q, want tcp", attrs["kind"])
	}
	for _, k := range []string{"method", "status", "cookie", "set_cookie", "path"} {
		if _, ok := attrs[k]; ok {
			t.Errorf("a TCP proxy logs %s", k)
		}
	}
	for _, k := range []string{"request_bytes", "response_bytes", "duration_ms", "response_flags", "upstream_cluster", "access_log_type"} {
		if attrs[k] != OTelAttributes()[k] {
			t.Errorf("%s = %q, want %q", k, attrs[k], OTelAttributes()[k])
		}
	}
	if !strings.Contains(string(data), "tcp_proxy") {
		t.Errorf("header does not say the logger goes under tcp_proxy")
	}
}
