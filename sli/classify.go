package sli

import (
	"strings"
	"time"

	"github.com/meshtel/meshtel/outcome"
)

// Observation is one access-log entry as the SLI engine sees it. It is a
// plain struct so that sli does not depend on the ingest runtime; the
// caller fills it from whatever record type it has.
type Observation struct {
	Time          time.Time     // request start; zero means "now"
	Service       string        // catalog service name (already resolved by the caller)
	Route         string        // Envoy route_name; "" when none
	TCP           bool          // a TCP entry: latency SLIs do not apply
	Method        string        // HTTP method
	Path          string        // request path; a query string, if any, is ignored
	Status        int           // HTTP status, 0 when absent
	GRPCStatus    int           // gRPC status code, -1 when absent
	ResponseFlags []string      // Envoy short codes, e.g. "UF", "URX"
	Duration      time.Duration // 0 when unknown
	Intermediate  bool          // not a final entry (SPEC §3)
	Direction     string        // "inbound", "outbound" or ""
}

// Classify returns the availability outcome of o under SPEC §3, for a
// service whose health-check path is healthCheck ("" when it has none):
//
//   - excluded: intermediate entries, outbound entries (the caller's view
//     of someone else's request), requests to the health-check path (query
//     string ignored), and downstream disconnects or resets (DC, and DR —
//     Envoy's code for a downstream remote reset, which SPEC §3 writes
//     DRR; both are accepted) that got a status below 500;
//   - bad: status ≥ 500; no status with an upstream or local failure flag;
//     gRPC status UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
//     UNAVAILABLE or DATA_LOSS;
//   - good: everything else, 4xx and authorization denials included: those
//     are the client's errors, not the service's.
func Classify(o *Observation, healthCheck string) outcome.Outcome {
	if o.Intermediate || o.Direction == "outbound" {
		return outcome.Excluded
	}
	if healthCheck != "" && isPath(o.Path, healthCheck) {
		return outcome.Excluded
	}
	status := o.Status
	if status < 0 {
		status = 0 // not a status Envoy can send: treat as absent
	}
	failure, disconnect := false, false
	for _, f := range o.ResponseFlags {
		switch f {
		case "DC", "DR", "DRR":
			disconnect = true
		case "UF", "UH", "UO", "URX", "UT", "LH", "NR", "UC", "UR", "LR", "SI",
			"DF", "UMSDR", "OM", "DPE", "UPE", "NC", "DT", "RLSE":
			failure = true
		}
	}
	if disconnect && status < 500 {
		return outcome.Excluded
	}
	if status >= 500 || (status == 0 && failure) {
		return outcome.Bad
	}
	switch o.GRPCStatus {
	case 2, 4, 12, 13, 14, 15:
		return outcome.Bad
	}
	return outcome.Good
}

// LatencyOutcome returns the latency outcome of o given its availability
// outcome: the latency SLI covers HTTP requests that are neither excluded
// nor bad, and such a request is good when it took at most threshold. An
// unknown duration (0) counts as fast: Envoy always reports one for
// requests that completed, so this only affects malformed entries.
func LatencyOutcome(o *Observation, availability outcome.Outcome, threshold time.Duration) outcome.Outcome {
	if o.TCP || availability != outcome.Good {
		return outcome.Excluded
	}
	if o.Duration <= threshold {
		return outcome.Good
	}
	return outcome.Bad
}

// isPath reports whether path, without its query string, is want. It does
// not scan the rest of a long path that cannot match.
func isPath(path, want string) bool {
	return strings.HasPrefix(path, want) && (len(path) == len(want) || path[len(want)] == '?')
}
