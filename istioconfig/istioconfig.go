// Package istioconfig renders the Istio configuration that points a mesh's
// Envoys at alsd (SPEC §5): the meshConfig.extensionProviders entries
// envoyHttpAls, envoyTcpAls and envoyOtelAls, and a mesh-wide
// telemetry.istio.io/v1 Telemetry in Istio's root namespace selecting the
// access-log providers.
//
// The providers are built from Istio's own API types (istio.io/api) and
// carry the headers and trailers alsd needs, the same ones as the Envoy
// config of package envoyconfig; the OpenTelemetry provider's attributes
// are envoyconfig's SPEC §7 vocabulary. Output is YAML with sorted keys,
// byte-identical on every run. The package does not talk to Istio or to
// Kubernetes.
package istioconfig

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	meshconfig "istio.io/api/mesh/v1alpha1"
	telemetryv1 "istio.io/api/telemetry/v1"

	"github.com/meshtel/meshtel/envoyconfig"
	"github.com/meshtel/meshtel/internal/protoyaml"
)

// Defaults of Config, matching deploy/kubernetes: the alsd Service in
// namespace meshtel, ALS on 18000, OTLP on 4317.
const (
	DefaultService       = "alsd.meshtel.svc.cluster.local"
	DefaultALSPort       = 18000
	DefaultOTLPPort      = 4317
	DefaultRootNamespace = "istio-system"
	// TelemetryName is the Telemetry resource's metadata.name.
	TelemetryName = "meshtel"
)

// Extension provider names, as the Telemetry resource selects them.
const (
	HTTPProvider = "meshtel-als-http"
	TCPProvider  = "meshtel-als-tcp"
	OTelProvider = "meshtel-otel"
)

// Config configures rendering. The zero value uses the defaults above.
type Config struct {
	// Service is alsd's Kubernetes Service as Istio's registry knows it
	// (a fully qualified host name); overrides DefaultService.
	Service string
	// ALSPort is the Service port of alsd's ALS listener; overrides
	// DefaultALSPort.
	ALSPort uint32
	// OTLPPort is the Service port that takes OTLP logs; overrides
	// DefaultOTLPPort.
	OTLPPort uint32
	// RootNamespace is Istio's root namespace, where a Telemetry applies
	// to the whole mesh; overrides DefaultRootNamespace.
	RootNamespace string
}

func (c Config) withDefaults() Config {
	if c.Service == "" {
		c.Service = DefaultService
	}
	if c.ALSPort == 0 {
		c.ALSPort = DefaultALSPort
	}
	if c.OTLPPort == 0 {
		c.OTLPPort = DefaultOTLPPort
	}
	if c.RootNamespace == "" {
		c.RootNamespace = DefaultRootNamespace
	}
	return c
}

func (c Config) validate() error {
	if strings.ContainsAny(c.Service, " :/") {
		return fmt.Errorf("istio service %q: want a host name without port or scheme", c.Service)
	}
	for _, p := range []uint32{c.ALSPort, c.OTLPPort} {
		if p > 65535 {
			return fmt.Errorf("istio port %d: outside 1-65535", p)
		}
	}
	return nil
}

// ExtensionProviders returns the three providers: HTTP and TCP gRPC ALS
// with alsd's headers, and OpenTelemetry logs whose attributes are SPEC
// §7's meshtel vocabulary.
func ExtensionProviders(cfg Config) ([]*meshconfig.MeshConfig_ExtensionProvider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	labels := map[string]any{}
	for k, v := range envoyconfig.OTelAttributes() {
		labels[k] = v
	}
	attrs, err := structpb.NewStruct(labels)
	if err != nil {
		return nil, fmt.Errorf("otel attributes: %w", err)
	}
	return []*meshconfig.MeshConfig_ExtensionProvider{
		{Name: HTTPProvider, Provider: &meshconfig.MeshConfig_ExtensionProvider_EnvoyHttpAls{
			EnvoyHttpAls: &meshconfig.MeshConfig_ExtensionProvider_EnvoyHttpGrpcV3LogProvider{
				Service:                         cfg.Service,
				Port:                            cfg.ALSPort,
				LogName:                         envoyconfig.DefaultLogName,
				AdditionalRequestHeadersToLog:   envoyconfig.RequestHeaders,
				AdditionalResponseHeadersToLog:  envoyconfig.ResponseHeaders,
				AdditionalResponseTrailersToLog: envoyconfig.ResponseTrailers,
			}}},
		{Name: TCPProvider, Provider: &meshconfig.MeshConfig_ExtensionProvider_EnvoyTcpAls{
			EnvoyTcpAls: &meshconfig.MeshConfig_ExtensionProvider_EnvoyTcpGrpcV3LogProvider{
				Service: cfg.Service,
				Port:    cfg.ALSPort,
				LogName: envoyconfig.DefaultLogName,
			}}},
		{Name: OTelProvider, Provider: &meshconfig.MeshConfig_ExtensionProvider_EnvoyOtelAls{
			EnvoyOtelAls: &meshconfig.MeshConfig_ExtensionProvider_EnvoyOpenTelemetryLogProvider{
				Service: cfg.Service,
				Port:    cfg.OTLPPort,
				LogName: envoyconfig.DefaultLogName,
				LogFormat: &meshconfig.MeshConfig_ExtensionProvider_EnvoyOpenTelemetryLogProvider_LogFormat{
					Labels: attrs,
				},
			}}},
	}, nil
}

// Telemetry returns the spec of the mesh-wide Telemetry: access logging
// through the HTTP and TCP ALS providers. The OpenTelemetry provider is
// defined but not selected: selecting it too would log every request to
// alsd twice; select it instead of the ALS pair where ALS cannot be used.
func Telemetry() *telemetryv1.Telemetry {
	return &telemetryv1.Telemetry{
		AccessLogging: []*telemetryv1.AccessLogging{{
			Providers: []*telemetryv1.ProviderRef{{Name: HTTPProvider}, {Name: TCPProvider}},
		}},
	}
}

const providersHeader = `# Istio extension providers for meshtel's alsd, generated by dashgen.
# Merge extensionProviders into the mesh config: istiod's Helm values
# (meshConfig.extensionProviders), an IstioOperator's spec.meshConfig, or the
# "mesh" key of the istio ConfigMap in the root namespace. telemetry.yaml
# selects the ALS providers; %s is the alternative over OTLP.
`

// ExtensionProvidersFile renders DIR/istio/extension-providers.yaml: a
// MeshConfig holding only extensionProviders, with a header saying where
// it goes.
func ExtensionProvidersFile(cfg Config) ([]byte, error) {
	providers, err := ExtensionProviders(cfg)
	if err != nil {
		return nil, err
	}
	v, err := protoyaml.Plain(&meshconfig.MeshConfig{ExtensionProviders: providers}, protojson.MarshalOptions{})
	if err != nil {
		return nil, err
	}
	return protoyaml.Encode(fmt.Sprintf(providersHeader, OTelProvider), v)
}

const telemetryHeader = `# Mesh-wide access logging to meshtel's alsd, generated by dashgen.
# Needs the extension providers of extension-providers.yaml in the mesh config.
`

// TelemetryFile renders DIR/istio/telemetry.yaml: the Telemetry resource
// in the root namespace, ready for kubectl apply.
func TelemetryFile(cfg Config) ([]byte, error) {
	cfg = cfg.withDefaults()
	spec, err := protoyaml.Plain(Telemetry(), protojson.MarshalOptions{})
	if err != nil {
		return nil, err
	}
	doc := map[string]any{
		"apiVersion": "telemetry.istio.io/v1",
		"kind":       "Telemetry",
		"metadata":   map[string]any{"name": TelemetryName, "namespace": cfg.RootNamespace},
		"spec":       spec,
	}
	return protoyaml.Encode(telemetryHeader, doc)
}
