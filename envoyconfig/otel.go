package envoyconfig

import "maps"

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
