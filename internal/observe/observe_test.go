package observe

import (
	"testing"
	"time"

	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/sli"
)

func TestSLI(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		r    record.Record
		want sli.Observation
	}{
		{
			"http inbound with duration",
			record.Record{Time: at, Service: "web", RouteName: "api", Method: "GET", Path: "/x", Status: 503,
				GRPCStatus: -1, ResponseFlags: []string{"UF"}, DurationMs: 12.5, HasDuration: true, Direction: record.Inbound},
			sli.Observation{Time: at, Service: "web", Route: "api", Method: "GET", Path: "/x", Status: 503,
				GRPCStatus: -1, ResponseFlags: []string{"UF"}, Duration: 12500 * time.Microsecond, Direction: "inbound"},
		},
		{
			"tcp intermediate without duration",
			record.Record{Time: at, Kind: record.TCP, Service: "cache", GRPCStatus: -1, Intermediate: true, DurationMs: 7},
			sli.Observation{Time: at, Service: "cache", TCP: true, GRPCStatus: -1, Intermediate: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SLI(&tt.r)
			if got.Time != tt.want.Time || got.Service != tt.want.Service || got.Route != tt.want.Route ||
				got.TCP != tt.want.TCP || got.Method != tt.want.Method || got.Path != tt.want.Path ||
				got.Status != tt.want.Status || got.GRPCStatus != tt.want.GRPCStatus ||
				len(got.ResponseFlags) != len(tt.want.ResponseFlags) || got.Duration != tt.want.Duration ||
				got.Intermediate != tt.want.Intermediate || got.Direction != tt.want.Direction {
				t.Errorf("SLI() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEdge(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	out := record.Record{Time: at, Service: "web", Method: "GET", Path: "/x", Status: 503, GRPCStatus: 14,
		ResponseFlags: []string{"UF"}, DurationMs: 2.5, HasDuration: true, Direction: record.Outbound, PeerService: "api", Intermediate: true}
	got, ok := Edge(&out)
	want := edges.Observation{Time: at, Source: "web", Destination: "api", Method: "GET", Path: "/x", Status: 503, GRPCStatus: 14,
		ResponseFlags: []string{"UF"}, Duration: 2500 * time.Microsecond, Intermediate: true}
	if !ok || got.Time != want.Time || got.Source != want.Source || got.Destination != want.Destination ||
		got.Method != want.Method || got.Path != want.Path || got.Status != want.Status || got.GRPCStatus != want.GRPCStatus ||
		len(got.ResponseFlags) != 1 || got.Duration != want.Duration || got.Intermediate != want.Intermediate || got.TCP {
		t.Errorf("Edge() = %+v, %v, want %+v, true", got, ok, want)
	}
	tcp := record.Record{Kind: record.TCP, Service: "api", Direction: record.Outbound, PeerService: "db", DurationMs: 9}
	if got, ok := Edge(&tcp); !ok || !got.TCP || got.Duration != 0 {
		t.Errorf("TCP without duration: %+v, %v", got, ok)
	}
	for name, r := range map[string]record.Record{
		"inbound":                 {Service: "api", Direction: record.Inbound, PeerService: "x"},
		"no direction":            {Service: "api"},
		"outbound, no peer known": {Service: "api", Direction: record.Outbound},
	} {
		if _, ok := Edge(&r); ok {
			t.Errorf("%s: counted as an edge", name)
		}
	}
}
