package envoyconfig

import (
	"fmt"
	"maps"
	"slices"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	otellogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/open_telemetry/v3"
	otlpcommonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/internal/protoyaml"
)

// otelAttributes maps each attribute of SPEC §7's first vocabulary
// (meshtel's own: the record field names of SPEC §2) to the Envoy
// access-log command operator that fills it. Envoy renders every value as
// a string and "-" when it has none; alsd parses numbers and treats "-" as
// absent.
//
// The durations are whole milliseconds (Envoy's operators have no finer
// unit in milliseconds), where ALS carries nanoseconds.
// upstream_duration_ms runs from the start of the request to the last
// byte received from upstream, as ALS's time_to_last_upstream_rx_byte
// does. cookie and set_cookie are the raw headers: alsd parses them as it
// parses ALS headers and never keeps a value; Envoy joins repeated
// Set-Cookie headers with ",", as it does for ALS.
var otelAttributes = map[string]string{
	"method":                            "%REQ(:METHOD)%",
	"path":                              "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
	"authority":                         "%REQ(:AUTHORITY)%",
	"protocol":                          "%PROTOCOL%",
	"status":                            "%RESPONSE_CODE%",
	"grpc_status":                       "%GRPC_STATUS_NUMBER%",
	"response_flags":                    "%RESPONSE_FLAGS%",
	"response_code_details":             "%RESPONSE_CODE_DETAILS%",
	"connection_termination_details":    "%CONNECTION_TERMINATION_DETAILS%",
	"upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
	"duration_ms":                       "%DURATION%",
	"upstream_duration_ms":              "%COMMON_DURATION(DS_RX_BEG:US_RX_END:ms)%",
	"request_bytes":                     "%BYTES_RECEIVED%",
	"response_bytes":                    "%BYTES_SENT%",
	"upstream_cluster":                  "%UPSTREAM_CLUSTER%",
	"upstream_host":                     "%UPSTREAM_HOST%",
	"route_name":                        "%ROUTE_NAME%",
	"request_id":                        "%REQ(X-REQUEST-ID)%",
	"user_agent":                        "%REQ(USER-AGENT)%",
	"downstream_remote_address":         "%DOWNSTREAM_REMOTE_ADDRESS%",
	"downstream_local_address":          "%DOWNSTREAM_LOCAL_ADDRESS%",
	"peer_principal":                    "%DOWNSTREAM_PEER_URI_SAN%",
	"cookie":                            "%REQ(COOKIE)%",
	"set_cookie":                        "%RESP(SET-COOKIE)%",
	// Beyond SPEC §7's list, read by alsd all the same: the TLS version
	// (a SPEC §2 field, printed "TLSv1.3"), and the entry's type, without
	// which Envoy's periodic and per-upstream-attempt entries would count
	// as requests (Envoy ≥ 1.26 has the operator).
	"tls_version":     "%DOWNSTREAM_TLS_VERSION%",
	"access_log_type": "%ACCESS_LOG_TYPE%",
}

// OTelAttributes returns, for Envoy's OpenTelemetry access logger
// (envoy.access_loggers.open_telemetry) and the configs built on it
// (Istio's envoyOtelAls provider, Envoy Gateway's OpenTelemetry sink), the
// log record attributes alsd reads: SPEC §7's meshtel vocabulary, each
// name mapped to the Envoy command operator that fills it. The caller
// owns the returned map.
func OTelAttributes() map[string]string {
	return maps.Clone(otelAttributes)
}

// OTelLogger names Envoy's OpenTelemetry access logger.
const OTelLogger = "envoy.access_loggers.open_telemetry"

// httpOnly are the attributes a TCP proxy has no value for.
var httpOnly = map[string]bool{
	"method": true, "path": true, "authority": true, "protocol": true, "status": true, "grpc_status": true,
	"response_code_details": true, "request_id": true, "user_agent": true, "cookie": true, "set_cookie": true,
}

// OTelAccessLog returns the access_log entry that sends svc's access logs
// to alsd as OpenTelemetry logs (SPEC §5, §7): Envoy's OpenTelemetry
// logger, with the ALS logger's buffer and flush interval, the meshtel
// attributes (for a tcp_service, those a TCP proxy has, and kind: tcp),
// and cluster_name set to the service, so records are named after it
// whatever the Envoy's node.cluster.
func OTelAccessLog(svc catalog.Service, cfg Config) (*accesslogv3.AccessLog, error) {
	cfg = cfg.withDefaults()
	attrs := OTelAttributes()
	if svc.Kind == catalog.TCPService {
		for k := range httpOnly {
			delete(attrs, k)
		}
		attrs["kind"] = "tcp"
	}
	values := make([]*otlpcommonv1.KeyValue, 0, len(attrs))
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		values = append(values, otlpString(k, attrs[k]))
	}
	typed := &otellogv3.OpenTelemetryAccessLogConfig{
		CommonConfig:       commonConfig(cfg),
		Attributes:         &otlpcommonv1.KeyValueList{Values: values},
		ResourceAttributes: &otlpcommonv1.KeyValueList{Values: []*otlpcommonv1.KeyValue{otlpString("cluster_name", svc.Name)}},
	}
	a, err := anypb.New(typed)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", svc.Name, err)
	}
	al := &accesslogv3.AccessLog{Name: OTelLogger, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: a}}
	if err := typed.ValidateAll(); err != nil {
		return nil, fmt.Errorf("service %q: otel access log: %w", svc.Name, err)
	}
	if err := al.ValidateAll(); err != nil {
		return nil, fmt.Errorf("service %q: otel access log: %w", svc.Name, err)
	}
	return al, nil
}

func otlpString(key, value string) *otlpcommonv1.KeyValue {
	return &otlpcommonv1.KeyValue{Key: key, Value: &otlpcommonv1.AnyValue{Value: &otlpcommonv1.AnyValue_StringValue{StringValue: value}}}
}

// OTelFile renders DIR/envoy/<service>.otel.yaml: like File, with the
// OpenTelemetry logger instead of the gRPC ALS one. alsd serves OTLP logs
// on its ALS listener, so the cluster is the same.
func OTelFile(svc catalog.Service, cfg Config) ([]byte, error) {
	al, err := OTelAccessLog(svc, cfg)
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
	header := fmt.Sprintf("# Envoy access logging of %s (%s, port %d) to alsd as OpenTelemetry logs, generated by dashgen.\n", svc.Name, svc.Kind, svc.Port) +
		fmt.Sprintf("# Use it instead of %s.als.yaml, not with it. access_log goes in the %s filter's typed_config;\n", svc.Name, where) +
		"# the cluster in static_resources.clusters.\n"
	return protoyaml.Encode(header, map[string]any{"access_log": []any{alv}, "clusters": []any{clv}})
}
