package sli

import (
	"fmt"
	"testing"
	"time"
)

// envoyFlags are all of Envoy's response flag short codes (access log
// %RESPONSE_FLAGS%), with their availability outcome when Envoy sent no
// status: SPEC §3 lists the failure flags; DC and DRR exclude; the rest are
// not the service's fault.
var envoyFlags = map[string]Outcome{
	"UH": Bad, "UF": Bad, "UO": Bad, "NR": Bad, "URX": Bad, "NC": Bad, "DT": Bad,
	"LH": Bad, "UT": Bad, "LR": Bad, "UR": Bad, "UC": Bad, "RLSE": Bad, "SI": Bad,
	"DPE": Bad, "UPE": Bad, "UMSDR": Bad, "OM": Bad, "DF": Bad,
	"DC": Excluded, "DR": Excluded, "DRR": Excluded,
	"DI": Good, "FI": Good, "RL": Good, "UAEX": Good, "IH": Good, "DO": Good, "UDO": Good,
}

func TestClassifyFlags(t *testing.T) {
	for flag, noStatus := range envoyFlags {
		for _, tc := range []struct {
			status int
			want   Outcome
		}{
			{0, noStatus},
			{200, map[Outcome]Outcome{Bad: Good, Good: Good, Excluded: Excluded}[noStatus]},
			{404, map[Outcome]Outcome{Bad: Good, Good: Good, Excluded: Excluded}[noStatus]},
			{503, Bad}, // ≥ 500 is bad even for DC/DRR
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
		want   Outcome
	}{
		{-1, Good}, {0, Good}, {100, Good}, {101, Good}, {199, Good}, {200, Good}, {204, Good},
		{299, Good}, {301, Good}, {304, Good}, {399, Good}, {400, Good}, {401, Good}, {403, Good},
		{404, Good}, {429, Good}, {499, Good}, {500, Bad}, {501, Bad}, {502, Bad}, {503, Bad},
		{504, Bad}, {599, Bad},
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
		want := Good
		if bad[name] {
			want = Bad
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
		if got := Classify(&Observation{Status: 200, GRPCStatus: code}, ""); got != Good {
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
		want Outcome
	}{
		{"health check", Observation{Path: "/status", Status: 503}, "/status", Excluded},
		{"health check with query", Observation{Path: "/status?probe=kubelet", Status: 200}, "/status", Excluded},
		{"health check prefix is not it", Observation{Path: "/status/detail", Status: 503}, "/status", Bad},
		{"health check longer name", Observation{Path: "/statusz", Status: 503}, "/status", Bad},
		{"no health check configured", Observation{Path: "/status", Status: 503}, "", Bad},
		{"query ignored elsewhere", Observation{Path: "/api?x=/status", Status: 200}, "/status", Good},
		{"intermediate bad", Observation{Intermediate: true, Status: 503}, "", Excluded},
		{"intermediate good", Observation{Intermediate: true, Status: 200}, "", Excluded},
		{"outbound bad", Observation{Direction: "outbound", Status: 503}, "", Excluded},
		{"inbound bad", Observation{Direction: "inbound", Status: 503}, "", Bad},
		{"no direction bad", Observation{Status: 500}, "", Bad},
		{"DC status 0", Observation{ResponseFlags: []string{"DC"}}, "", Excluded},
		{"DC 200", Observation{Status: 200, ResponseFlags: []string{"DC"}}, "", Excluded},
		{"DC 499", Observation{Status: 499, ResponseFlags: []string{"DC"}}, "", Excluded},
		{"DC 500", Observation{Status: 500, ResponseFlags: []string{"DC"}}, "", Bad},
		{"DC 503 UF", Observation{Status: 503, ResponseFlags: []string{"UF", "DC"}}, "", Bad},
		{"DC status 0 with UF", Observation{ResponseFlags: []string{"DC", "UF"}}, "", Excluded},
		{"DRR 0", Observation{ResponseFlags: []string{"DRR"}}, "", Excluded},
		{"DRR 200 grpc UNAVAILABLE", Observation{Status: 200, GRPCStatus: 14, ResponseFlags: []string{"DRR"}}, "", Excluded},
		{"DRR 502", Observation{Status: 502, ResponseFlags: []string{"DRR"}}, "", Bad},
		{"DR 0 (Envoy's code)", Observation{ResponseFlags: []string{"DR"}}, "", Excluded},
		{"DR 503", Observation{Status: 503, ResponseFlags: []string{"DR"}}, "", Bad},
		{"UF and URX no status", Observation{ResponseFlags: []string{"UF", "URX"}}, "", Bad},
		{"UF with 200 is the upstream's answer", Observation{Status: 200, ResponseFlags: fail}, "", Good},
		{"UAEX 403", Observation{Status: 403, ResponseFlags: []string{"UAEX"}}, "", Good},
		{"RBAC-denied TCP", Observation{TCP: true, ResponseFlags: []string{"UAEX"}}, "", Good},
		{"TCP upstream failure", Observation{TCP: true, ResponseFlags: fail}, "", Bad},
		{"TCP clean", Observation{TCP: true}, "", Good},
		{"OPTIONS preflight counts", Observation{Method: "OPTIONS", Status: 503}, "", Bad},
		{"OPTIONS good", Observation{Method: "OPTIONS", Status: 204}, "", Good},
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
		avail Outcome
		want  Outcome
	}{
		{299 * time.Millisecond, false, Good, Good},
		{th, false, Good, Good}, // ≤ threshold, like Prometheus' le
		{th + time.Nanosecond, false, Good, Bad},
		{5 * time.Second, false, Bad, Excluded},
		{5 * time.Second, false, Excluded, Excluded},
		{5 * time.Second, true, Good, Excluded},
		{0, false, Good, Good},
	} {
		o := &Observation{Duration: tc.d, TCP: tc.tcp}
		if got := LatencyOutcome(o, tc.avail, th); got != tc.want {
			t.Errorf("%v tcp=%v avail=%s: got %s, want %s", tc.d, tc.tcp, tc.avail, got, tc.want)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	got := fmt.Sprint(Good, Bad, Excluded, Outcome(9))
	if want := "good bad excluded unknown"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
