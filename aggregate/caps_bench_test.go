package aggregate

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
)

// The caps every service of a full mesh reaches at once.
const (
	capServices   = 1000 // sli.Config.MaxServices
	capRoutes     = 50   // sli.Config.MaxRoutesPerService
	capCookies    = 256  // cookies.DefaultMaxNamesPerService
	capIngesters  = 8    // ingesters whose id chains each partition keeps
	capPartitions = 12
)

// capsCatalog is a catalog of capServices HTTP services, each with the
// default availability and latency SLOs.
func capsCatalog(b *testing.B) *catalog.Catalog {
	var y strings.Builder
	y.WriteString("defaults:\n  team: t\n  slos:\n    availability: {objective: 99.9}\n    latency: {objective: 99, threshold: 300ms}\n")
	y.WriteString("teams:\n  t: {receiver: t}\nservices:\n")
	for i := range capServices {
		fmt.Fprintf(&y, "  - http_service: svc-%04d\n    port: %d\n    healthcheck: /healthz\n", i, 10000+i)
	}
	c, err := catalog.Parse("caps.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// capsRecords are the records of one service that fill its caps: one per
// route (both SLOs), and capCookies cookie names set in responses.
func capsRecords(service string, at time.Time) []*record.Record {
	var out []*record.Record
	for r := range capRoutes {
		out = append(out, &record.Record{Time: at, Service: service, RouteName: fmt.Sprintf("route-%02d", r), Method: "GET",
			Authority: service + ".example.com", Path: "/api", Status: []int{200, 503}[r%2], GRPCStatus: -1,
			DurationMs: float64(r * 10), HasDuration: true, Direction: record.Inbound, Outcome: outcome.Good})
	}
	for c := 0; c < capCookies; c += 16 {
		r := &record.Record{Time: at, Service: service, RouteName: "route-00", Method: "GET", Authority: service + ".example.com",
			Path: "/", Status: 200, GRPCStatus: -1, Direction: record.Inbound, Outcome: outcome.Good}
		for n := c; n < c+16; n++ {
			r.Cookies = append(r.Cookies, httpcookie.Observation{Name: fmt.Sprintf("cookie_%03d", n), Source: httpcookie.Response,
				Secure: n%2 == 0, HTTPOnly: true, SameSite: "Lax", MaxAgeS: 3600, HasMaxAge: true, ValueClass: httpcookie.Opaque})
		}
		out = append(out, r)
	}
	return out
}

// rss returns the process's resident set size in bytes (Linux), 0 elsewhere.
func rss() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}

// BenchmarkMemoryAtCaps fills every cap an aggregator's state has —
// capServices services × capRoutes routes × 2 SLOs, capCookies cookies per
// service, the id chains of capIngesters ingesters — over capPartitions
// partitions, then reports the process's RSS, the heap the state holds, the
// RSS and the heap (garbage included) after one /api/slo view was built,
// and the checkpoints' size (before the state topic's zstd). Run it once:
// -benchtime=1x.
// (It does not yet fill the per-day-totals and dependency-edge caps: its
// records are inbound and of one day, so their state is near empty and
// these figures leave them out.)
func BenchmarkMemoryAtCaps(b *testing.B) {
	for b.Loop() {
		cat := capsCatalog(b)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		a, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Catalog: cat, Now: func() time.Time { return now },
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		a.partitions.Store(capPartitions)
		parts := fillCaps(b, a, cat)
		runtime.GC()
		var held runtime.MemStats
		runtime.ReadMemStats(&held)
		stateRSS := rss()

		report, err := a.SLOReport()
		if err != nil || len(report.SLOs) != 2*capServices {
			b.Fatalf("view: %d SLOs, %v; want %d", len(report.SLOs), err, 2*capServices)
		}
		var peak runtime.MemStats
		runtime.ReadMemStats(&peak)
		viewRSS := rss()
		total, largest := checkpointSizes(b, a, parts)

		mib := float64(1 << 20)
		b.ReportMetric(stateRSS/mib, "RSS-MiB")
		b.ReportMetric(viewRSS/mib, "RSS-after-view-MiB")
		b.ReportMetric(float64(held.HeapAlloc-before.HeapAlloc)/mib, "state-heap-MiB")
		b.ReportMetric(float64(peak.HeapAlloc-before.HeapAlloc)/mib, "view-peak-heap-MiB")
		b.ReportMetric(float64(total)/mib, "checkpoints-MiB")
		b.ReportMetric(float64(largest)/mib, "largest-checkpoint-MiB")
		runtime.KeepAlive(parts)
	}
}

// fillCaps makes every partition and applies to it the records of its
// services, numbered by capIngesters ingesters in turn.
func fillCaps(b *testing.B, a *Aggregator, cat *catalog.Catalog) []*partition {
	parts := make([]*partition, capPartitions)
	for p := range parts {
		pt, err := a.newPartition(p)
		if err != nil {
			b.Fatal(err)
		}
		parts[p] = pt
		a.own(pt)
		pt.lease.Store(time.Now().Add(time.Hour).UnixNano())
	}
	chains := make([]map[string]uint64, capIngesters)
	for i := range chains {
		chains[i] = map[string]uint64{}
	}
	var offset int64
	for i, s := range cat.Services {
		pt := parts[PartitionOf(s.Name, capPartitions)]
		for _, r := range capsRecords(s.Name, now.Add(-time.Duration(i)*time.Second)) {
			ing := int(offset) % capIngesters
			msgs := idMessages(fmt.Sprintf("ingester-%d", ing), uint64(offset+1), chains[ing], []*record.Record{r})
			m := kafka.Message{Offset: offset, HighWaterMark: offset + 1, Key: msgs[0].Key, Value: msgs[0].Value,
				Headers: msgs[0].Headers, Time: r.Time}
			a.apply(pt, &m)
			offset++
		}
	}
	return parts
}

// checkpointSizes returns the bytes of every partition's checkpoint and
// of the largest.
func checkpointSizes(b *testing.B, a *Aggregator, parts []*partition) (total, largest int) {
	for _, pt := range parts {
		st, err := pt.tracker.Load().State().MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		ck, err := pt.inventory.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		sn, err := pt.seen.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		es, err := pt.edges.State().MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		c := &checkpoint{checkpointHeader: checkpointHeader{Topic: a.cfg.Topic, Partition: pt.id, NextOffset: pt.next.Load()},
			SLI: st, Cookies: ck, Edges: es, Seen: sn}
		v, err := c.marshal()
		if err != nil {
			b.Fatal(err)
		}
		total += len(v)
		largest = max(largest, len(v))
	}
	return total, largest
}
