package envoyconfig

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	grpclogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshtel/meshtel/catalog"
)

// parsed reads a generated file back the way Envoy would: YAML → JSON →
// proto, rejecting unknown fields, then runs Envoy's validators.
func parsed(t *testing.T, data []byte) (*accesslogv3.AccessLog, *clusterv3.Cluster) {
	t.Helper()
	var doc struct {
		AccessLog []map[string]any `yaml:"access_log"`
		Clusters  []map[string]any `yaml:"clusters"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.AccessLog) != 1 || len(doc.Clusters) != 1 {
		t.Fatalf("want one access log and one cluster, got %d and %d", len(doc.AccessLog), len(doc.Clusters))
	}
	al := &accesslogv3.AccessLog{}
	cl := &clusterv3.Cluster{}
	decode(t, doc.AccessLog[0], al)
	decode(t, doc.Clusters[0], cl)
	return al, cl
}

func decode[M interface {
	proto.Message
	ValidateAll() error
}](t *testing.T, v any, m M) {
	t.Helper()
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(j, m); err != nil {
		t.Fatalf("envoy would reject %s: %v", j, err)
	}
	if err := m.ValidateAll(); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPService(t *testing.T) {
	svc := catalog.Service{Name: "my_website", Kind: catalog.HTTPService, Port: 8080}
	data, err := File(svc, Config{})
	if err != nil {
		t.Fatal(err)
	}
	al, cl := parsed(t, data)
	if al.Name != HTTPLogger {
		t.Errorf("logger %q", al.Name)
	}
	var cfg grpclogv3.HttpGrpcAccessLogConfig
	if err := al.GetTypedConfig().UnmarshalTo(&cfg); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]string{
		"request headers":   cfg.AdditionalRequestHeadersToLog,
		"response headers":  cfg.AdditionalResponseHeadersToLog,
		"response trailers": cfg.AdditionalResponseTrailersToLog,
	} {
		want := map[string][]string{
			"request headers":   {"cookie", "user-agent", "x-request-id"},
			"response headers":  {"set-cookie", "grpc-status"},
			"response trailers": {"grpc-status"},
		}[name]
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	c := cfg.CommonConfig
	if c.GetGrpcService().GetEnvoyGrpc().GetClusterName() != DefaultCluster || cl.Name != DefaultCluster {
		t.Errorf("logger cluster %q, cluster %q", c.GetGrpcService().GetEnvoyGrpc().GetClusterName(), cl.Name)
	}
	if c.GetBufferSizeBytes().GetValue() <= 16<<10 {
		t.Errorf("buffer_size_bytes %d not raised above Envoy's 16 KiB", c.GetBufferSizeBytes().GetValue())
	}
	if c.GetBufferFlushInterval().AsDuration() != time.Second {
		t.Errorf("buffer_flush_interval %s", c.GetBufferFlushInterval().AsDuration())
	}
	if !strings.Contains(string(data), "http_connection_manager") {
		t.Errorf("header does not say where the HTTP logger goes")
	}
}

func TestTCPService(t *testing.T) {
	svc := catalog.Service{Name: "redis_cache", Kind: catalog.TCPService, Port: 6379}
	data, err := File(svc, Config{Cluster: "alsd_pool", ALSAddress: "10.0.0.5:19000"})
	if err != nil {
		t.Fatal(err)
	}
	al, cl := parsed(t, data)
	if al.Name != TCPLogger {
		t.Errorf("logger %q", al.Name)
	}
	var cfg grpclogv3.TcpGrpcAccessLogConfig
	if err := al.GetTypedConfig().UnmarshalTo(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.CommonConfig.GetGrpcService().GetEnvoyGrpc().GetClusterName() != "alsd_pool" || cl.Name != "alsd_pool" {
		t.Errorf("cluster name not taken from Config")
	}
	sa := cl.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if sa.GetAddress() != "10.0.0.5" || sa.GetPortValue() != 19000 {
		t.Errorf("alsd address %s:%d", sa.GetAddress(), sa.GetPortValue())
	}
}

func TestBadAddress(t *testing.T) {
	for _, addr := range []string{"alsd", "alsd:0", "alsd:70000", "alsd:x"} {
		if _, err := Cluster(Config{ALSAddress: addr}); err == nil {
			t.Errorf("ALS address %q accepted", addr)
		}
	}
}
