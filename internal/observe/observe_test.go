package observe

import (
	"testing"
	"time"

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
