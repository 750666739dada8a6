package aggregate

import (
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
)

// TestLifetimeRule: aggregators flag cookie lifetimes by their catalog's
// privacy.max_cookie_lifetime and say so in the report, as alsd does.
func TestLifetimeRule(t *testing.T) {
	cat, err := catalog.Parse("mesh.yaml", []byte("privacy: {max_cookie_lifetime: 13mo}\n"+
		"services: [{http_service: my_website, port: 8080}, {http_service: shop, port: 8081}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Catalog: cat, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	a.partitions.Store(n)
	p := PartitionOf("my_website", n)
	if got := a.partitionCatalog(p).CookieLifetime(); got != cat.CookieLifetime() {
		t.Errorf("partition catalog lifetime %+v, want the catalog's %+v", got, cat.CookieLifetime())
	}
	pt, err := a.newPartition(p)
	if err != nil {
		t.Fatal(err)
	}
	// No broker confirms the partition here: lease it, or the view
	// answers for nothing (fencing).
	pt.lease.Store(time.Now().Add(time.Hour).UnixNano())
	a.mu.Lock()
	a.owned[p] = pt
	a.mu.Unlock()
	for i, days := range []int64{394, 396, 401} {
		r := record.Record{Time: now.Add(-time.Minute), Service: "my_website", Authority: "www.example.com", Path: "/",
			Status: 200, GRPCStatus: -1, Direction: record.Inbound, Outcome: outcome.Good,
			Cookies: []httpcookie.Observation{{Name: "visitor" + string(rune('a'+i)), Source: httpcookie.Response,
				Secure: true, HTTPOnly: true, HasMaxAge: true, MaxAgeS: days * 86400}}}
		a.apply(pt, recordMessage(int64(i), &r))
	}
	rep, err := a.CookieReport()
	if err != nil {
		t.Fatal(err)
	}
	if rep.LongLifetime.Rule != "over 13 months (CNIL)" {
		t.Errorf("report rule %+v, want the CNIL's", rep.LongLifetime)
	}
	flagged := map[string]bool{}
	for _, s := range rep.Services {
		for _, c := range s.Cookies {
			flagged[c.Name] = slices.Contains(c.Findings, cookies.FindingLongLifetime)
		}
	}
	if want := map[string]bool{"visitora": false, "visitorb": true, "visitorc": true}; !maps.Equal(flagged, want) {
		t.Errorf("long-lifetime by cookie %v, want %v (394, 396 and 401 days under 13 months)", flagged, want)
	}
}
