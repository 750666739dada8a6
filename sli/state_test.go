package sli

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshtel/meshtel/internal/poll"
)

// mixed feeds a varied stream: several services and routes, errors, slow
// requests, TCP, health checks; every n-th entry (offset k) only, so that
// two trackers can each see a part.
func mixed(tr *Tracker, clk *fakeClock, from time.Time, d time.Duration, n, k int) {
	services := []string{"web", "web.default", "redis", "api", "cart"}
	i := 0
	for ts := from; ts.Before(from.Add(d)); ts = ts.Add(7 * time.Second) {
		clk.now = ts
		for j := 0; j < 5; j++ {
			i++
			if i%n != k {
				continue
			}
			o := Observation{
				Time: ts, Service: services[i%len(services)], Route: []string{"a", "b", ""}[i%3],
				Method: "GET", Path: "/p", Status: 200, GRPCStatus: -1, Direction: "inbound",
				Duration: time.Duration(i%700) * time.Millisecond,
			}
			switch {
			case i%97 == 0:
				o.Status = 503
			case i%89 == 0:
				o.Status, o.ResponseFlags = 0, []string{"UF"}
			case i%13 == 0:
				o.Path = "/status?x=1"
			case i%17 == 0:
				o.Status = 404
			}
			if o.Service == "redis" {
				o.TCP, o.Status, o.Path, o.Method = true, 0, "", ""
			}
			tr.Observe(&o)
		}
	}
}

func sameState(t *testing.T, got, want *State) {
	t.Helper()
	g, w := *got, *want
	g.SavedAt, w.SavedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		gb, _ := g.MarshalBinary()
		wb, _ := w.MarshalBinary()
		t.Errorf("states differ:\n got %.2000s\nwant %.2000s", gb, wb)
	}
}

func TestMergeHalvesEqualsWhole(t *testing.T) {
	clk := &fakeClock{now: start}
	whole := newTestTracker(t, clk, Config{})
	a := newTestTracker(t, clk, Config{})
	b := newTestTracker(t, clk, Config{})
	mixed(whole, clk, start, 5*time.Hour, 1, 0)
	mixed(a, clk, start, 5*time.Hour, 2, 0)
	mixed(b, clk, start, 5*time.Hour, 2, 1)

	merged := a.State()
	merged.Merge(b.State())
	sameState(t, merged, whole.State())

	// The same through a live tracker, which is how an aggregator takes
	// over a partition's state.
	c := newTestTracker(t, clk, Config{})
	c.Add(a.State())
	c.Add(b.State())
	sameState(t, c.State(), whole.State())
	if got, want := c.Snapshot(), whole.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("snapshots differ:\n got %+v\nwant %+v", got, want)
	}

	// And through the reports of two alsd instances.
	// Window estimates are rounded to 1e-6 events, so compare the ratios
	// to 1e-6 too; the budget counts are integers and exact.
	got, want := MergeReports(a.Snapshot(), b.Snapshot()), whole.Snapshot()
	if len(got.SLOs) != len(want.SLOs) {
		t.Fatalf("merged report has %d SLOs, want %d", len(got.SLOs), len(want.SLOs))
	}
	for i, g := range got.SLOs {
		w := want.SLOs[i]
		if g.Service != w.Service || g.SLO != w.SLO || g.Total != w.Total || g.Bad != w.Bad || g.SLI != w.SLI ||
			g.ErrorBudgetRemaining != w.ErrorBudgetRemaining {
			t.Errorf("merged %+v, want %+v", g, w)
		}
		for name, b := range w.BurnRates {
			if math.Abs(g.BurnRates[name]-b) > 1e-6 {
				t.Errorf("%s/%s merged burn %s = %v, want %v", g.Service, g.SLO, name, g.BurnRates[name], b)
			}
		}
	}
	// The whole stream has errors, so the test is not vacuous.
	if s := find(t, whole.Snapshot(), "web", Availability); s.Bad == 0 || s.Total == 0 {
		t.Fatalf("stream has no errors: %+v", s)
	}
}

func TestRestartKeepsNumbers(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{StateDir: dir})
	mixed(tr, clk, start, 3*time.Hour, 1, 0)
	before := tr.Snapshot()
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sli", "state.v1")); err != nil {
		t.Fatal(err)
	}
	again := newTestTracker(t, clk, Config{StateDir: dir})
	if after := again.Snapshot(); !reflect.DeepEqual(after, before) {
		t.Errorf("after restart:\n got %+v\nwant %+v", after, before)
	}
	sameState(t, again.State(), tr.State())
	// Traffic after the restart adds to the restored numbers.
	mixed(again, clk, clk.now, time.Hour, 1, 0)
	if a, b := find(t, again.Snapshot(), "api", Availability), find(t, before, "api", Availability); a.Total <= b.Total {
		t.Errorf("total %d after more traffic, was %d", a.Total, b.Total)
	}
}

func TestCorruptCheckpointIsIgnored(t *testing.T) {
	clk := &fakeClock{now: start}
	src := newTestTracker(t, clk, Config{})
	mixed(src, clk, start, time.Hour, 1, 0)
	good, err := src.State().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	flip := bytes.Clone(good)
	flip[len(flip)-10] ^= 0x20
	for name, data := range map[string][]byte{
		"truncated":   good[:len(good)/2],
		"bit flip":    flip,
		"garbage":     []byte("\x00\x01not a state file"),
		"empty":       {},
		"bad header":  []byte("meshtel-sli-state v" + "1\ncrc32c=zz bytes=3\n{}\n"),
		"bad json":    mustEncode([]byte("{not json")),
		"wrong shape": mustEncode([]byte(`{"services": 7}`)),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sli", "state.v1")
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			tr := newTestTracker(t, clk, Config{StateDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if !strings.Contains(logs.String(), "corrupt") {
				t.Errorf("log does not say corrupt: %q", logs.String())
			}
			if s := find(t, tr.Snapshot(), "web", Availability); s.Total != 0 {
				t.Errorf("state restored from a corrupt file: %+v", s)
			}
			if _, err := os.Stat(path + ".corrupt"); err != nil {
				t.Errorf("corrupt file not kept aside: %v", err)
			}
			// The next checkpoint works and restores.
			mixed(tr, clk, start, time.Hour, 1, 0)
			if err := tr.Checkpoint(); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadState(dir); err != nil {
				t.Errorf("checkpoint after corruption: %v", err)
			}
		})
	}
}

// mustEncode frames body as a valid checkpoint, so only the body is wrong.
func mustEncode(body []byte) []byte {
	head := fmt.Sprintf("%s%d\ncrc32c=%08x bytes=%d\n", "meshtel-sli-state v", stateFormat.Version, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)), len(body))
	return append([]byte(head), body...)
}

func TestUnsupportedVersion(t *testing.T) {
	var s State
	err := s.UnmarshalBinary([]byte("meshtel-sli-state v" + "2\ncrc32c=00000000 bytes=0\n"))
	if err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("got %v, want a version error", err)
	}
}

func FuzzStateUnmarshal(f *testing.F) {
	clk := &fakeClock{now: start}
	tr, err := New(Config{Catalog: testCatalog(), Now: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	// A small seed: Go's fuzzer slows to a crawl on inputs of many KiB.
	tr.Observe(&Observation{Time: start.Add(-2 * time.Hour), Service: "web", Route: "r", Status: 503, GRPCStatus: -1})
	tr.Observe(&Observation{Time: start, Service: "api", Status: 200, GRPCStatus: -1, Duration: time.Second})
	good, _ := tr.State().MarshalBinary()
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte("meshtel-sli-state v" + "1\ncrc32c=00000000 bytes=2\n{}"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var s State
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		// Whatever decodes must be safe to fold into a tracker and round-trip.
		tr.Add(&s)
		again, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var s2 State
		if err := s2.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
	})
}

func TestRunCheckpoints(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{StateDir: dir, CheckpointInterval: 5 * time.Millisecond})
	tr.Observe(&Observation{Time: start, Service: "api", Status: 503, GRPCStatus: -1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	poll.Until(t, 5*time.Second, "a periodic checkpoint", func() bool {
		st, err := ReadState(dir)
		return err == nil && len(st.Services) > 0
	})
	// What arrives after the last periodic checkpoint is saved on exit.
	tr.Observe(&Observation{Time: start, Service: "late", Status: 200, GRPCStatus: -1})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(st.Services, func(s ServiceState) bool { return s.Name == "late" && len(s.Routes) == 1 }) {
		t.Errorf("final checkpoint lacks the last observation")
	}
}

func TestCheckpointErrorIsReported(t *testing.T) {
	dir := t.TempDir()
	// A file where the sli directory should be: every checkpoint fails.
	if err := os.WriteFile(filepath.Join(dir, "sli"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: start}
	tr := newTestTracker(t, clk, Config{StateDir: dir})
	if err := tr.Checkpoint(); err == nil || !strings.Contains(err.Error(), "sli checkpoint") {
		t.Errorf("got %v, want a checkpoint error", err)
	}
}
