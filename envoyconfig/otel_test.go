package envoyconfig

import (
	"regexp"
	"testing"
)

// vocabulary1 is SPEC §7's first attribute vocabulary, as written there.
var vocabulary1 = []string{
	"status", "method", "path", "authority", "protocol", "duration_ms", "upstream_duration_ms", "response_flags",
	"upstream_cluster", "upstream_host", "route_name", "request_bytes", "response_bytes", "grpc_status", "request_id",
	"user_agent", "downstream_remote_address", "downstream_local_address", "peer_principal", "response_code_details",
	"connection_termination_details", "upstream_transport_failure_reason", "cookie", "set_cookie", "kind",
}

var operator = regexp.MustCompile(`^%[A-Z_]+(\([^()%]*\))?%$`)

func TestOTelAttributes(t *testing.T) {
	known := map[string]bool{}
	for _, k := range vocabulary1 {
		known[k] = true
	}
	attrs := OTelAttributes()
	for k, v := range attrs {
		if !known[k] {
			t.Errorf("attribute %q is not in SPEC §7's meshtel vocabulary", k)
		}
		if !operator.MatchString(v) {
			t.Errorf("attribute %q = %q: want one Envoy command operator", k, v)
		}
	}
	// Everything of vocabulary 1 but kind (a constant, "http" by default).
	if len(attrs) != len(vocabulary1)-1 {
		t.Errorf("%d attributes, want %d", len(attrs), len(vocabulary1)-1)
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
