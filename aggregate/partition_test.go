package aggregate

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/sli"
)

func offlineAggregator(t *testing.T, partitions int) *Aggregator {
	t.Helper()
	a, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Catalog: testCatalog(t), Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a.partitions.Store(int64(partitions))
	return a
}

func recordMessage(offset int64, r *record.Record) *kafka.Message {
	return &kafka.Message{Offset: offset, HighWaterMark: offset + 1, Key: []byte(r.Service), Value: record.AppendJSON(nil, r)}
}

func statusOf(t *testing.T, r sli.Report, service, slo string) *sli.SLOStatus {
	t.Helper()
	for i := range r.SLOs {
		if r.SLOs[i].Service == service && r.SLOs[i].SLO == slo {
			return &r.SLOs[i]
		}
	}
	return nil
}

// A partition's tracker knows only the catalog services murmur2 puts in
// it; records of another catalog service (a producer keying otherwise)
// widen it to the whole catalog, so they are still classified with their
// own health check and objectives, and so is its restored state.
func TestForeignCatalogService(t *testing.T) {
	const n = 12
	a := offlineAggregator(t, n)
	home := PartitionOf("checkout", n)
	p := (home + 1) % n
	pt, err := a.newPartition(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(pt.cat.Services) >= len(a.cfg.Catalog.Services) || pt.cat.Lookup("checkout") != nil {
		t.Fatalf("partition %d catalog has %d of %d services, checkout among them: %v", p, len(pt.cat.Services), len(a.cfg.Catalog.Services), pt.cat.Lookup("checkout") != nil)
	}
	base := record.Record{Time: now.Add(-time.Minute), Service: "checkout", GRPCStatus: -1, Direction: record.Inbound, Outcome: outcome.Good}
	health, failed := base, base
	health.Path, health.Status = "/healthz", 503 // checkout's health check: excluded
	failed.Path, failed.Status = "/cart", 503
	a.apply(pt, recordMessage(0, &health))
	a.apply(pt, recordMessage(1, &failed))
	if pt.cat != a.cfg.Catalog {
		t.Fatal("partition not widened to the whole catalog")
	}
	check := func(what string, r sli.Report) {
		t.Helper()
		av := statusOf(t, r, "checkout", sli.Availability)
		lat := statusOf(t, r, "checkout", sli.Latency)
		if av == nil || av.Total != 1 || av.Bad != 1 {
			t.Errorf("%s: checkout availability %+v, want 1 bad of 1 (the health check excluded)", what, av)
		}
		if lat == nil || lat.Threshold != "300ms" {
			t.Errorf("%s: checkout latency %+v, want the catalog's 300ms threshold", what, lat)
		}
	}
	check("live", pt.tracker.Load().Snapshot())

	// The checkpoint of the widened partition widens its next owner.
	st, err := pt.tracker.Load().State().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ck, err := pt.inventory.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	next, err := a.newPartition(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.load(next, &checkpoint{checkpointHeader: checkpointHeader{Partition: p, NextOffset: 2}, SLI: st, Cookies: ck}); err != nil {
		t.Fatal(err)
	}
	if next.cat != a.cfg.Catalog || next.next.Load() != 2 {
		t.Fatalf("restored partition: widened %v, next offset %d", next.cat == a.cfg.Catalog, next.next.Load())
	}
	a.apply(next, recordMessage(2, &health))
	check("restored", next.tracker.Load().Snapshot())
}

// The partitions' catalogs split the whole catalog between them.
func TestPartitionCatalogs(t *testing.T) {
	const n = 5
	a := offlineAggregator(t, n)
	var names []string
	for p := range n {
		for _, s := range a.partitionCatalog(p).Services {
			if PartitionOf(s.Name, n) != p {
				t.Errorf("partition %d holds %q of partition %d", p, s.Name, PartitionOf(s.Name, n))
			}
			names = append(names, s.Name)
		}
	}
	var want []string
	for _, s := range a.cfg.Catalog.Services {
		want = append(want, s.Name)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("partition catalogs hold %v, want %v", names, want)
	}
}
