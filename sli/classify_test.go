package sli

import (
	"testing"
	"time"

	"github.com/meshtel/meshtel/outcome"
)

// envoyFlags are all of Envoy's response flag short codes (access log
// %RESPONSE_FLAGS%), with their availability outcome when Envoy sent no
// status: SPEC §3 lists the failure flags; DC and DRR exclude; the rest are
// not the service's fault.
var envoyFlags = map[string]outcome.Outcome{
	"UH": outcome.Bad, "UF": outcome.Bad, "UO": outcome.Bad, "NR": outcome.Bad, "URX": outcome.Bad, "NC": outcome.Bad, "DT": outcome.Bad,
	"LH": outcome.Bad, "UT": outcome.Bad, "LR": outcome.Bad, "UR": outcome.Bad, "UC": outcome.Bad, "RLSE": outcome.Bad, "SI": outcome.Bad,
	"DPE": outcome.Bad, "UPE": outcome.Bad, "UMSDR": outcome.Bad, "OM": outcome.Bad, "DF": outcome.Bad,
	"DC": outcome.Excluded, "DR": outcome.Excluded, "DRR": outcome.Excluded,
	"DI": outcome.Good, "FI": outcome.Good, "RL": outcome.Good, "UAEX": outcome.Good, "IH": outcome.Good, "DO": outcome.Good, "UDO": outcome.Good,
}

func TestClassifyFlags(t *testing.T) {
	for flag, noStatus := range envoyFlags {
		for _, tc := range []struct {
			status int
			want   outcome.Outcome
		}{
			{0, noStatus},
			{200, map[outcome.Outcome]outcome.Outcome{outcome.Bad: outcome.Good, outcome.Good: outcome.Good, outcome.Excluded: outcome.Excluded}[noStatus]},
			{404, map[outcome.Outcome]outcome.Outcome{outcome.Bad: outcome.Good, outcome.Good: outcome.Good, outcome.Excluded: outcome.Excluded}[noStatus]},
			{503, outcome.Bad}, // ≥ 500 is bad even for DC/DRR
		} {
			o := &Observation{Status: tc.status, GRPCStatus: -1, ResponseFlags: []string{flag}}
			if got := Classify(o, ""); got != tc.want {
				t.Errorf("flag %s status %d: got %s, want %s", flag, tc.status, got, tc.want)
			}
		}
	}
}

func TestClassifyStatus(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   outcome.Outcome
	}{
		{-1, outcome.Good}, {0, outcome.Good}, {100, outcome.Good}, {101, outcome.Good}, {199, outcome.Good}, {200, outcome.Good}, {204, outcome.Good},
		{299, outcome.Good}, {301, outcome.Good}, {304, outcome.Good}, {399, outcome.Good}, {400, outcome.Good}, {401, outcome.Good}, {403, outcome.Good},
		{404, outcome.Good}, {429, outcome.Good}, {499, outcome.Good}, {500, outcome.Bad}, {501, outcome.Bad}, {502, outcome.Bad}, {503, outcome.Bad},
		{504, outcome.Bad}, {599, outcome.Bad},
	} {
		o := &Observation{Status: tc.status, GRPCStatus: -1}
		if got := Classify(o, ""); got != tc.want {
			t.Errorf("status %d: got %s, want %s", tc.status, got, tc.want)
		}
	}
}

func TestClassifyGRPC(t *testing.T) {
	names := []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
		"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}
	bad := map[string]bool{"UNKNOWN": true, "DEADLINE_EXCEEDED": true, "UNIMPLEMENTED": true,
		"INTERNAL": true, "UNAVAILABLE": true, "DATA_LOSS": true}
	for code, name := range names {
		want := outcome.Good
		if bad[name] {
			want = outcome.Bad
		}
		for _, status := range []int{200, 0} {
			o := &Observation{Status: status, GRPCStatus: code}
			if got := Classify(o, ""); got != want {
				t.Errorf("grpc %d %s status %d: got %s, want %s", code, name, status, got, want)
			}
		}
	}
	// Absent or out-of-range codes are not errors.
	for _, code := range []int{-1, 17, 99} {
		if got := Classify(&Observation{Status: 200, GRPCStatus: code}, ""); got != outcome.Good {
			t.Errorf("grpc %d: got %s, want good", code, got)
		}
	}
}

func TestClassifyExclusions(t *testing.T) {
	fail := []string{"UF"}
	for _, tc := range []struct {
		name string
		o    Observation
		hc   string
		want outcome.Outcome
	}{
		{"health check", Observation{Path: "/status", Status: 503}, "/status", outcome.Excluded},
		{"health check with query", Observation{Path: "/status?probe=kubelet", Status: 200}, "/status", outcome.Excluded},
		{"health check prefix is not it", Observation{Path: "/status/detail", Status: 503}, "/status", outcome.Bad},
		{"health check longer name", Observation{Path: "/statusz", Status: 503}, "/status", outcome.Bad},
		{"no health check configured", Observation{Path: "/status", Status: 503}, "", outcome.Bad},
		{"query ignored elsewhere", Observation{Path: "/api?x=/status", Status: 200}, "/status", outcome.Good},
		{"intermediate bad", Observation{Intermediate: true, Status: 503}, "", outcome.Excluded},
		{"intermediate good", Observation{Intermediate: true, Status: 200}, "", outcome.Excluded},
		{"outbound bad", Observation{Direction: "outbound", Status: 503}, "", outcome.Excluded},
		{"inbound bad", Observation{Direction: "inbound", Status: 503}, "", outcome.Bad},
		{"no direction bad", Observation{Status: 500}, "", outcome.Bad},
		{"DC status 0", Observation{ResponseFlags: []string{"DC"}}, "", outcome.Excluded},
		{"DC 200", Observation{Status: 200, ResponseFlags: []string{"DC"}}, "", outcome.Excluded},
		{"DC 499", Observation{Status: 499, ResponseFlags: []string{"DC"}}, "", outcome.Excluded},
		{"DC 500", Observation{Status: 500, ResponseFlags: []string{"DC"}}, "", outcome.Bad},
		{"DC 503 UF", Observation{Status: 503, ResponseFlags: []string{"UF", "DC"}}, "", outcome.Bad},
		{"DC status 0 with UF", Observation{ResponseFlags: []string{"DC", "UF"}}, "", outcome.Excluded},
		{"DRR 0", Observation{ResponseFlags: []string{"DRR"}}, "", outcome.Excluded},
		{"DRR 200 grpc UNAVAILABLE", Observation{Status: 200, GRPCStatus: 14, ResponseFlags: []string{"DRR"}}, "", outcome.Excluded},
		{"DRR 502", Observation{Status: 502, ResponseFlags: []string{"DRR"}}, "", outcome.Bad},
		{"DR 0 (Envoy's code)", Observation{ResponseFlags: []string{"DR"}}, "", outcome.Excluded},
		{"DR 503", Observation{Status: 503, ResponseFlags: []string{"DR"}}, "", outcome.Bad},
		{"UF and URX no status", Observation{ResponseFlags: []string{"UF", "URX"}}, "", outcome.Bad},
		{"UF with 200 is the upstream's answer", Observation{Status: 200, ResponseFlags: fail}, "", outcome.Good},
		{"UAEX 403", Observation{Status: 403, ResponseFlags: []string{"UAEX"}}, "", outcome.Good},
		{"RBAC-denied TCP", Observation{TCP: true, ResponseFlags: []string{"UAEX"}}, "", outcome.Good},
		{"TCP upstream failure", Observation{TCP: true, ResponseFlags: fail}, "", outcome.Bad},
		{"TCP clean", Observation{TCP: true}, "", outcome.Good},
		{"OPTIONS preflight counts", Observation{Method: "OPTIONS", Status: 503}, "", outcome.Bad},
		{"OPTIONS good", Observation{Method: "OPTIONS", Status: 204}, "", outcome.Good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			if o.GRPCStatus == 0 {
				o.GRPCStatus = -1
			}
			if got := Classify(&o, tc.hc); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLatencyOutcome(t *testing.T) {
	th := 300 * time.Millisecond
	for _, tc := range []struct {
		d     time.Duration
		tcp   bool
		avail outcome.Outcome
		want  outcome.Outcome
	}{
		{299 * time.Millisecond, false, outcome.Good, outcome.Good},
		{th, false, outcome.Good, outcome.Good}, // ≤ threshold, like Prometheus' le
		{th + time.Nanosecond, false, outcome.Good, outcome.Bad},
		{5 * time.Second, false, outcome.Bad, outcome.Excluded},
		{5 * time.Second, false, outcome.Excluded, outcome.Excluded},
		{5 * time.Second, true, outcome.Good, outcome.Excluded},
		{0, false, outcome.Good, outcome.Good},
	} {
		o := &Observation{Duration: tc.d, TCP: tc.tcp}
		if got := LatencyOutcome(o, tc.avail, th); got != tc.want {
			t.Errorf("%v tcp=%v avail=%s: got %s, want %s", tc.d, tc.tcp, tc.avail, got, tc.want)
		}
	}
}
