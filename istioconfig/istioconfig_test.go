package istioconfig

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	meshconfig "istio.io/api/mesh/v1alpha1"
	telemetryv1 "istio.io/api/telemetry/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshtel/meshtel/envoyconfig"
)

// loadMeshConfig reads extension-providers.yaml the way istiod reads its
// mesh config: YAML → JSON → Istio's MeshConfig, unknown fields rejected.
func loadMeshConfig(t *testing.T, data []byte) *meshconfig.MeshConfig {
	t.Helper()
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	mc := &meshconfig.MeshConfig{}
	if err := protojson.Unmarshal(j, mc); err != nil {
		t.Fatalf("istio would reject the mesh config: %v\n%s", err, data)
	}
	return mc
}

// loadTelemetry reads telemetry.yaml as the API server and istiod do:
// the object's envelope with Kubernetes' ObjectMeta, the spec with Istio's
// Telemetry type, unknown fields rejected in both.
func loadTelemetry(t *testing.T, data []byte) (metav1.TypeMeta, metav1.ObjectMeta, *telemetryv1.Telemetry) {
	t.Helper()
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            json.RawMessage   `json:"spec"`
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("telemetry object: %v", err)
	}
	spec := &telemetryv1.Telemetry{}
	if err := protojson.Unmarshal(obj.Spec, spec); err != nil {
		t.Fatalf("istio would reject the Telemetry spec: %v\n%s", err, data)
	}
	return obj.TypeMeta, obj.Metadata, spec
}

func TestExtensionProviders(t *testing.T) {
	data, err := ExtensionProvidersFile(Config{})
	if err != nil {
		t.Fatal(err)
	}
	mc := loadMeshConfig(t, data)
	byName := map[string]*meshconfig.MeshConfig_ExtensionProvider{}
	for _, p := range mc.GetExtensionProviders() {
		byName[p.GetName()] = p
	}
	if len(byName) != 3 {
		t.Fatalf("%d providers, want 3: %v", len(byName), byName)
	}
	h := byName[HTTPProvider].GetEnvoyHttpAls()
	if h == nil {
		t.Fatalf("%s is not an envoyHttpAls provider", HTTPProvider)
	}
	if h.GetService() != DefaultService || h.GetPort() != DefaultALSPort || h.GetLogName() != envoyconfig.DefaultLogName {
		t.Errorf("http ALS points at %s:%d log %q", h.GetService(), h.GetPort(), h.GetLogName())
	}
	// SPEC §5: what alsd needs for cookies, request ids and gRPC outcomes.
	for _, c := range []struct {
		what      string
		got, want []string
	}{
		{"request headers", h.GetAdditionalRequestHeadersToLog(), []string{"cookie", "user-agent", "x-request-id"}},
		{"response headers", h.GetAdditionalResponseHeadersToLog(), []string{"set-cookie", "grpc-status"}},
		{"response trailers", h.GetAdditionalResponseTrailersToLog(), []string{"grpc-status"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	tcp := byName[TCPProvider].GetEnvoyTcpAls()
	if tcp == nil || tcp.GetService() != DefaultService || tcp.GetPort() != DefaultALSPort {
		t.Errorf("tcp ALS provider: %v", tcp)
	}
	otel := byName[OTelProvider].GetEnvoyOtelAls()
	if otel == nil || otel.GetService() != DefaultService || otel.GetPort() != DefaultOTLPPort {
		t.Fatalf("otel provider: %v", otel)
	}
	labels := otel.GetLogFormat().GetLabels().AsMap()
	want := envoyconfig.OTelAttributes()
	if len(labels) != len(want) {
		t.Errorf("%d otel attributes, want %d", len(labels), len(want))
	}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("otel attribute %s = %v, want %s", k, labels[k], v)
		}
	}
	for _, k := range []string{"cookie", "set_cookie", "user_agent", "request_id", "grpc_status"} {
		if _, ok := labels[k]; !ok {
			t.Errorf("otel provider does not log %s", k)
		}
	}
}

func TestTelemetry(t *testing.T) {
	data, err := TelemetryFile(Config{})
	if err != nil {
		t.Fatal(err)
	}
	tm, meta, spec := loadTelemetry(t, data)
	if tm.APIVersion != "telemetry.istio.io/v1" || tm.Kind != "Telemetry" {
		t.Errorf("%s %s, want telemetry.istio.io/v1 Telemetry", tm.APIVersion, tm.Kind)
	}
	// A Telemetry in the root namespace without a selector is mesh-wide.
	if meta.Namespace != DefaultRootNamespace || meta.Name == "" || spec.GetSelector() != nil || len(spec.GetTargetRefs()) > 0 {
		t.Errorf("not mesh-wide: %s/%s selector %v", meta.Namespace, meta.Name, spec.GetSelector())
	}
	var names []string
	for _, al := range spec.GetAccessLogging() {
		for _, p := range al.GetProviders() {
			names = append(names, p.GetName())
		}
	}
	if !slices.Equal(names, []string{HTTPProvider, TCPProvider}) {
		t.Errorf("selects %v, want the HTTP and TCP ALS providers only (OTel too would log each request twice)", names)
	}
	providers, err := ExtensionProviders(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !slices.ContainsFunc(providers, func(p *meshconfig.MeshConfig_ExtensionProvider) bool { return p.GetName() == n }) {
			t.Errorf("Telemetry selects %q, which extension-providers.yaml does not define", n)
		}
	}
}

func TestConfig(t *testing.T) {
	cfg := Config{Service: "als.obs.svc.cluster.local", ALSPort: 9000, OTLPPort: 4318, RootNamespace: "istio-root"}
	data, err := ExtensionProvidersFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range loadMeshConfig(t, data).GetExtensionProviders() {
		got := p.GetEnvoyHttpAls().GetService() + p.GetEnvoyTcpAls().GetService() + p.GetEnvoyOtelAls().GetService()
		port := p.GetEnvoyHttpAls().GetPort() + p.GetEnvoyTcpAls().GetPort() + p.GetEnvoyOtelAls().GetPort()
		want := uint32(9000)
		if p.GetName() == OTelProvider {
			want = 4318
		}
		if got != cfg.Service || port != want {
			t.Errorf("%s points at %s:%d, want %s:%d", p.GetName(), got, port, cfg.Service, want)
		}
	}
	tel, err := TelemetryFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, meta, _ := loadTelemetry(t, tel); meta.Namespace != "istio-root" {
		t.Errorf("namespace %q", meta.Namespace)
	}
	for _, bad := range []Config{{Service: "alsd:18000"}, {Service: "http://alsd"}, {ALSPort: 70000}} {
		if _, err := ExtensionProvidersFile(bad); err == nil || !strings.Contains(err.Error(), "istio") {
			t.Errorf("%+v: error %v, want one naming the istio setting", bad, err)
		}
	}
}

func TestByteIdentical(t *testing.T) {
	a, err := ExtensionProvidersFile(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, err := ExtensionProvidersFile(Config{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("two runs differ:\n%s\n---\n%s", a, b)
		}
	}
}
