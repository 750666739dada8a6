// Package envoyconfig renders, per catalog service, the Envoy access log
// configuration that streams the service's access logs to alsd over the
// gRPC Access Log Service: the HTTP or TCP gRPC logger with the headers
// and trailers alsd's SLI and cookie features read, and the cluster that
// reaches alsd. Its alternative sends them as OpenTelemetry logs (SPEC
// §7): Envoy's OpenTelemetry logger with the meshtel attributes
// (OTelAttributes, which the Istio and Envoy Gateway configs share).
//
// The config is built from go-control-plane's Envoy types and checked with
// their generated validators, so it is valid Envoy config by construction;
// it is rendered as YAML with sorted keys so every run is byte-identical.
// The package does not run a control plane or talk to Envoy.
package envoyconfig

import (
	"fmt"
	"net"
	"strconv"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	grpclogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/internal/protoyaml"
)

// Defaults of Config.
const (
	// DefaultCluster names the Envoy cluster that reaches alsd.
	DefaultCluster = "meshtel_alsd"
	// DefaultALSAddress is alsd's ALS listener as Envoy reaches it
	// (alsd listens on :18000 by default).
	DefaultALSAddress = "alsd:18000"
	// DefaultLogName is the log_name Envoy puts in every message.
	DefaultLogName = "als"
	// DefaultBufferSizeBytes raises Envoy's 16 KiB default, which is also
	// its cap on pending entries: beyond it Envoy drops entries, visible
	// only in its logs_dropped stat.
	DefaultBufferSizeBytes = 1 << 20
	// DefaultFlushInterval is how often Envoy flushes buffered entries.
	DefaultFlushInterval = time.Second
)

// Logged headers and trailers (SPEC §5): cookies and user agent for the
// cookie inventory, the request id for correlation, grpc-status from
// headers (trailers-only responses) and trailers for gRPC outcomes.
var (
	RequestHeaders   = []string{"cookie", "user-agent", "x-request-id"}
	ResponseHeaders  = []string{"set-cookie", "grpc-status"}
	ResponseTrailers = []string{"grpc-status"}
)

// Logger names Envoy registers the gRPC access loggers under.
const (
	HTTPLogger = "envoy.access_loggers.http_grpc"
	TCPLogger  = "envoy.access_loggers.tcp_grpc"
)

// Config configures rendering. The zero value uses the defaults above.
type Config struct {
	Cluster         string        // overrides DefaultCluster
	ALSAddress      string        // host:port; overrides DefaultALSAddress
	LogName         string        // overrides DefaultLogName
	BufferSizeBytes uint32        // overrides DefaultBufferSizeBytes
	FlushInterval   time.Duration // overrides DefaultFlushInterval
}

func (c Config) withDefaults() Config {
	if c.Cluster == "" {
		c.Cluster = DefaultCluster
	}
	if c.ALSAddress == "" {
		c.ALSAddress = DefaultALSAddress
	}
	if c.LogName == "" {
		c.LogName = DefaultLogName
	}
	if c.BufferSizeBytes == 0 {
		c.BufferSizeBytes = DefaultBufferSizeBytes
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	return c
}

// AccessLog returns the access_log entry for svc: the TCP gRPC logger for
// a tcp_service (put it under tcp_proxy), the HTTP one otherwise (under
// http_connection_manager).
func AccessLog(svc catalog.Service, cfg Config) (*accesslogv3.AccessLog, error) {
	cfg = cfg.withDefaults()
	common := commonConfig(cfg)
	name := HTTPLogger
	var typed proto.Message = &grpclogv3.HttpGrpcAccessLogConfig{
		CommonConfig:                    common,
		AdditionalRequestHeadersToLog:   RequestHeaders,
		AdditionalResponseHeadersToLog:  ResponseHeaders,
		AdditionalResponseTrailersToLog: ResponseTrailers,
	}
	if svc.Kind == catalog.TCPService {
		name = TCPLogger
		typed = &grpclogv3.TcpGrpcAccessLogConfig{CommonConfig: common}
	}
	a, err := anypb.New(typed)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", svc.Name, err)
	}
	al := &accesslogv3.AccessLog{Name: name, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: a}}
	if err := validate(typed); err != nil {
		return nil, fmt.Errorf("service %q: access log: %w", svc.Name, err)
	}
	if err := al.ValidateAll(); err != nil {
		return nil, fmt.Errorf("service %q: access log: %w", svc.Name, err)
	}
	return al, nil
}

// commonConfig is what the gRPC loggers share: where to send, the log
// name, and the raised buffer.
func commonConfig(cfg Config) *grpclogv3.CommonGrpcAccessLogConfig {
	return &grpclogv3.CommonGrpcAccessLogConfig{
		LogName: cfg.LogName,
		GrpcService: &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
			EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: cfg.Cluster},
		}},
		TransportApiVersion: corev3.ApiVersion_V3,
		BufferFlushInterval: durationpb.New(cfg.FlushInterval),
		BufferSizeBytes:     wrapperspb.UInt32(cfg.BufferSizeBytes),
	}
}

type validator interface{ ValidateAll() error }

func validate(m proto.Message) error {
	if v, ok := m.(validator); ok {
		return v.ValidateAll()
	}
	return nil
}

// Cluster returns the cluster Envoy reaches alsd through: HTTP/2 (gRPC),
// resolved by DNS.
func Cluster(cfg Config) (*clusterv3.Cluster, error) {
	cfg = cfg.withDefaults()
	host, portText, err := net.SplitHostPort(cfg.ALSAddress)
	if err != nil {
		return nil, fmt.Errorf("als address %q: %w", cfg.ALSAddress, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("als address %q: bad port", cfg.ALSAddress)
	}
	h2, err := anypb.New(&upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		},
	})
	if err != nil {
		return nil, err
	}
	c := &clusterv3.Cluster{
		Name:                 cfg.Cluster,
		ConnectTimeout:       durationpb.New(time.Second),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2,
		},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: cfg.Cluster,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				LbEndpoints: []*endpointv3.LbEndpoint{{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
						Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
							Address:       host,
							PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
						}}},
					}},
				}},
			}},
		},
	}
	if err := c.ValidateAll(); err != nil {
		return nil, fmt.Errorf("alsd cluster: %w", err)
	}
	return c, nil
}

// File renders DIR/envoy/<service>.als.yaml: a header saying where each
// part goes, then `access_log:` (a list with the service's logger) and
// `clusters:` (the alsd cluster).
func File(svc catalog.Service, cfg Config) ([]byte, error) {
	al, err := AccessLog(svc, cfg)
	if err != nil {
		return nil, err
	}
	cl, err := Cluster(cfg)
	if err != nil {
		return nil, err
	}
	alv, err := protoyaml.Plain(al, protoNames)
	if err != nil {
		return nil, err
	}
	clv, err := protoyaml.Plain(cl, protoNames)
	if err != nil {
		return nil, err
	}
	where := "http_connection_manager"
	if svc.Kind == catalog.TCPService {
		where = "tcp_proxy"
	}
	header := fmt.Sprintf("# Envoy access logging of %s (%s, port %d) to alsd, generated by dashgen.\n", svc.Name, svc.Kind, svc.Port) +
		fmt.Sprintf("# access_log goes in the %s filter's typed_config; the cluster in static_resources.clusters.\n", where)
	return protoyaml.Encode(header, map[string]any{"access_log": []any{alv}, "clusters": []any{clv}})
}

// protoNames marshals with proto field names, as Envoy's YAML uses.
var protoNames = protojson.MarshalOptions{UseProtoNames: true}
