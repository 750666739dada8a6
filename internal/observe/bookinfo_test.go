package observe

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meshtel/meshtel/accesslog"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/sli"
)

// bookinfoCatalog is Istio's Bookinfo as a catalog: productpage calls
// details and reviews, reviews calls ratings. The ingress gateway is not
// listed. (Bookinfo's services all listen on 9080; catalog ports must be
// unique, and the sidecars name their service by alias anyway.)
const bookinfoCatalog = `
services:
  - http_service: productpage
    port: 9080
    aliases: [productpage.default]
    upstreams: [details, reviews]
  - http_service: details
    port: 9081
    aliases: [details.default]
  - http_service: reviews
    port: 9082
    aliases: [reviews.default]
    upstreams: [ratings]
  - http_service: ratings
    port: 9083
    aliases: [ratings.default]
`

// bookinfoRecords converts testdata/bookinfo.als.json — the
// StreamAccessLogsMessages Istio's gateway and sidecars send over ALS
// (protojson) for four Bookinfo page loads — with alsd's own converter.
// Every request appears once per Envoy it crossed: the caller's outbound
// entry and the callee's inbound one, sharing a request id. One
// productpage → reviews call was retried (its failed attempt is an
// UpstreamEnd entry), one reviews → ratings call failed to connect (ratings
// never saw it), and one page load was abandoned by the browser.
func bookinfoRecords(t *testing.T, cat *catalog.Catalog) []record.Record {
	t.Helper()
	data, err := os.ReadFile("testdata/bookinfo.als.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	conv := &accesslog.Converter{Catalog: cat}
	var out []record.Record
	for i, m := range raw {
		var msg alsv3.StreamAccessLogsMessage
		if err := protojson.Unmarshal(m, &msg); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		node := msg.GetIdentifier().GetNode()
		id := accesslog.Identity{NodeID: node.GetId(), Cluster: node.GetCluster(), LogName: msg.GetIdentifier().GetLogName()}
		conv.Bind(&id)
		for _, e := range msg.GetHttpLogs().GetLogEntry() {
			var r record.Record
			r.Reset()
			conv.HTTP(&r, &id, e, time.Now())
			out = append(out, r)
		}
	}
	return out
}

// TestEdgesFromBookinfo: the edges of captured-shape Istio traffic are the
// calls as their callers saw them, and they leave every service's own SLI
// alone (SPEC §8).
func TestEdgesFromBookinfo(t *testing.T) {
	cat, err := catalog.Parse("bookinfo.yaml", []byte(bookinfoCatalog))
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 25, 10, 1, 0, 0, time.UTC) }
	et, err := edges.New(edges.Config{Catalog: cat, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sli.New(sli.Config{Catalog: cat, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	recs := bookinfoRecords(t, cat)
	outbound := 0
	for i := range recs {
		o := SLI(&recs[i])
		st.Observe(&o)
		if e, ok := Edge(&recs[i]); ok {
			outbound++
			et.Observe(&e)
		}
	}
	if len(recs) != 33 || outbound != 18 {
		t.Fatalf("%d records, %d outbound: the fixture has 33 entries, 18 of them outbound", len(recs), outbound)
	}
	r := et.Snapshot()
	var got []string
	for _, e := range r.Edges {
		got = append(got, fmt.Sprintf("%s→%s %d/%d declared=%v", e.Source, e.Destination, e.Requests, e.Errors, e.Declared))
		// Envoy logged 1–51ms: p99 lies in the histogram bucket of the
		// slowest call, at most 100ms.
		p99 := -1.0
		if e.P99Ms != nil {
			p99 = *e.P99Ms
		}
		if p99 <= 1 || p99 > 100 {
			t.Errorf("%s→%s: p99 %vms, want a few ms, at most 100", e.Source, e.Destination, p99)
		}
	}
	want := []string{
		"other→productpage 4/0 declared=false",  // the gateway is not in the catalog; the abandoned load is excluded
		"productpage→details 4/0 declared=true", //
		"productpage→reviews 4/0 declared=true", // the retried attempt (UpstreamEnd) is not counted
		"reviews→ratings 4/1 declared=true",     // two pods of reviews, one failed connect
	}
	if !slices.Equal(got, want) {
		t.Errorf("edges:\n%v\nwant\n%v", got, want)
	}
	if want := []edges.Pair{{Source: edges.Other, Destination: "productpage"}}; !slices.Equal(r.Undeclared, want) || len(r.Unused) != 0 {
		t.Errorf("undeclared %v unused %v, want %v and none", r.Undeclared, r.Unused, want)
	}
	// Each service's own SLI counts its inbound entries only: the failed
	// ratings call is in the reviews → ratings edge, not in either SLI.
	avail := map[string]string{}
	for _, s := range st.Snapshot().SLOs {
		if s.SLO == sli.Availability {
			avail[s.Service] = fmt.Sprintf("%d/%d", s.Total, s.Bad)
		}
	}
	wantSLI := map[string]string{"productpage": "4/0", "details": "4/0", "reviews": "4/0", "ratings": "3/0"}
	for svc, w := range wantSLI {
		if avail[svc] != w {
			t.Errorf("%s SLI counts %s, want %s", svc, avail[svc], w)
		}
	}
}
