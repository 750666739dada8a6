package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/examples"
	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/internal/observe"
	"github.com/meshtel/meshtel/internal/poll"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/sli"
)

const (
	testTopic      = "mesh.accesslog.v1"
	testPartitions = 12
	// sessionTimeout is the shortest brokers accept by default
	// (group.min.session.timeout.ms).
	sessionTimeout = 6 * time.Second
)

// now is the clock of every SLI and cookie state in these tests, so that
// reports taken at different moments compare equal.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Parse("examples/mesh.yaml", examples.Mesh)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// killSwitch cuts an aggregator off Kafka as a SIGKILL would: its
// connections close and new ones fail, so it can neither checkpoint nor
// leave the group; the coordinator notices only by the session timeout.
type killSwitch struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *killSwitch) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// member is one running aggregator of a test.
type member struct {
	*Aggregator
	ks     *killSwitch
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
}

func startMember(t *testing.T, addr string, cat *catalog.Catalog, interval time.Duration, setup func(*Aggregator)) *member {
	t.Helper()
	ks := &killSwitch{}
	reg := prometheus.NewRegistry()
	tr := &kafka.Transport{Dial: ks.dial}
	// Registered before the member's cleanup, so it runs after: the
	// transport's connections outlive the writer that used them.
	t.Cleanup(tr.CloseIdleConnections)
	a, err := New(Config{
		Brokers:            []string{addr},
		Topic:              testTopic,
		Group:              "test-aggregate",
		SessionTimeout:     sessionTimeout,
		CheckpointInterval: interval,
		Catalog:            cat,
		Dialer:             &kafka.Dialer{Timeout: 5 * time.Second, DialFunc: ks.dial},
		Transport:          tr,
		Registerer:         reg,
		Now:                func() time.Time { return now },
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{Aggregator: a, ks: ks, cancel: cancel, done: make(chan error, 1), reg: reg}
	go func() { m.done <- a.Run(ctx) }()
	// Close waits for Run to return, crashed or not, whoever took its
	// result from done.
	t.Cleanup(func() { _ = a.Close() })
	return m
}

// crash stops m as SIGKILL would: no final checkpoint, no leave.
func (m *member) crash() {
	m.crashed.Store(true)
	m.ks.kill()
	m.cancel()
}

// workload makes n records of a mix of services and outcomes. Every
// record's outcome field says "good": aggregators must derive outcomes
// themselves.
func workload(seed uint64, n int) []*record.Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	services := []string{"my_website", "checkout", "payments", "some_service", "redis_cache", "legacy-billing"}
	paths := []string{"/", "/api/v1/cart", "/status", "/healthz", "/ready", "/pay"}
	routes := []string{"default", "api", "static"}
	var out []*record.Record
	for i := range n {
		svc := services[rng.IntN(len(services))]
		r := &record.Record{
			Time:        now.Add(-time.Duration(rng.IntN(workloadSpan)+1) * time.Second),
			Service:     svc,
			RouteName:   routes[rng.IntN(len(routes))],
			Method:      "GET",
			Authority:   "www.example.com",
			Path:        paths[rng.IntN(len(paths))],
			Status:      []int{200, 200, 200, 204, 404, 500, 503, 0}[rng.IntN(8)],
			GRPCStatus:  -1,
			DurationMs:  float64(rng.IntN(900)) + 0.25,
			HasDuration: true,
			Direction:   []record.Direction{record.Inbound, record.Inbound, record.Outbound, record.DirectionUnknown}[rng.IntN(4)],
			RequestID:   fmt.Sprintf("req-%d-%d", seed, i),
			Outcome:     outcome.Good,
		}
		if svc == "redis_cache" {
			r.Kind = record.TCP
		}
		if r.Direction == record.Outbound {
			// Declared, undeclared and outside the catalog; chosen without
			// the generator, so the other fields stay as they were.
			r.PeerService = []string{"payments", "auth", "redis_cache", "geo-api"}[i%4]
		}
		if r.Status == 0 {
			r.ResponseFlags = []string{"UF"}
		}
		if rng.IntN(10) == 0 {
			r.Intermediate = true
		}
		if rng.IntN(4) == 0 {
			r.Cookies = []httpcookie.Observation{
				{Name: "sid", Source: httpcookie.Request, ValueClass: httpcookie.Opaque},
				{Name: "theme", Source: httpcookie.Response, Secure: rng.IntN(2) == 0, HTTPOnly: true, SameSite: "Lax",
					MaxAgeS: 3600, HasMaxAge: true, ValueClass: httpcookie.Numeric},
			}
		}
		out = append(out, r)
	}
	return out
}

// produce writes recs as two ingesters would: two producers at once, each
// with half of them.
func produce(t *testing.T, addr string, recs []*record.Record) {
	t.Helper()
	half := len(recs) / 2
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, part := range [][]*record.Record{recs[:half], recs[half:]} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- produceOne(addr, part)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

func produceOne(addr string, recs []*record.Record) error {
	w := &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Topic:        testTopic,
		Balancer:     &kafka.Murmur2Balancer{}, // as kafkasink.Sink
		RequiredAcks: kafka.RequireAll,
		BatchSize:    500,
		BatchTimeout: 5 * time.Millisecond,
		Transport:    &kafka.Transport{},
	}
	defer w.Transport.(*kafka.Transport).CloseIdleConnections()
	defer w.Close()
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: []byte(r.Service), Value: record.AppendJSON(nil, r),
			Headers: []kafka.Header{{Key: "content-type", Value: []byte("application/json")}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.WriteMessages(ctx, msgs...)
}

// reference is the all-in-one alsd of SPEC §1: one tracker and one
// inventory fed every record.
type reference struct {
	tracker   *sli.Tracker
	inventory *cookies.Inventory
	edges     *edges.Tracker
	cat       *catalog.Catalog
	// truth counts availability events per service by sli.Classify
	// alone, independently of any tracker.
	truth map[string]sli.Counts
}

func newReference(t *testing.T, cat *catalog.Catalog) *reference {
	t.Helper()
	tr, err := sli.New(sli.Config{Catalog: cat, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cookies.New(cookies.Config{Catalog: cat, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	et, err := edges.New(edges.Config{Catalog: cat, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return &reference{tracker: tr, inventory: inv, edges: et, cat: cat, truth: map[string]sli.Counts{}}
}

func (ref *reference) add(recs []*record.Record) {
	for _, r := range recs {
		o := observe.SLI(r)
		ref.tracker.Observe(&o)
		if !r.Intermediate && len(r.Cookies) > 0 {
			ref.inventory.Observe(r.Service, r.Authority, r.Time, r.Cookies, nil)
		}
		if e, ok := observe.Edge(r); ok {
			ref.edges.Observe(&e)
		}
		hc := ""
		if s := ref.cat.Lookup(r.Service); s != nil {
			hc = s.HealthCheck
		}
		switch sli.Classify(&o, hc) {
		case outcome.Good:
			c := ref.truth[r.Service]
			c.Total++
			ref.truth[r.Service] = c
		case outcome.Bad:
			c := ref.truth[r.Service]
			c.Total++
			c.Bad++
			ref.truth[r.Service] = c
		}
	}
}

// availability returns each service's availability counts in r.
func availability(r sli.Report) map[string]sli.Counts {
	out := map[string]sli.Counts{}
	for _, s := range r.SLOs {
		if s.SLO == sli.Availability && s.Total > 0 {
			out[s.Service] = sli.Counts{Total: s.Total, Bad: s.Bad}
		}
	}
	return out
}

func mergedSLO(t *testing.T, ms ...*member) sli.Report {
	t.Helper()
	var rs []sli.Report
	for _, m := range ms {
		r, err := m.SLOReport()
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return sli.MergeReports(rs...)
}

func mergedCookies(t *testing.T, ms ...*member) cookies.Report {
	t.Helper()
	var rs []cookies.Report
	for _, m := range ms {
		r, err := m.CookieReport()
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return cookies.MergeReports(rs...)
}

func mergedDependencies(t *testing.T, ms ...*member) edges.Report {
	t.Helper()
	var rs []edges.Report
	for _, m := range ms {
		r, err := m.DependenciesReport()
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return edges.MergeReports(rs...)
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitOwners waits until ms are ready and own every partition between
// them, each exactly once.
func waitOwners(t *testing.T, timeout time.Duration, ms ...*member) {
	t.Helper()
	poll.UntilState(t, timeout, "partitions owned once each", func() (bool, string) {
		var all []int
		var state []string
		ready := true
		for _, m := range ms {
			ok, text := m.Ready()
			ready = ready && ok
			all = append(all, m.Partitions()...)
			state = append(state, text)
		}
		slices.Sort(all)
		want := make([]int, testPartitions)
		for i := range want {
			want[i] = i
		}
		return ready && slices.Equal(all, want), strings.Join(state, "; ")
	})
}

func waitTotals(t *testing.T, timeout time.Duration, ref *reference, ms ...*member) {
	t.Helper()
	want := jsonOf(t, ref.truth)
	poll.UntilState(t, timeout, "per-service totals reach the ground truth", func() (bool, string) {
		got := jsonOf(t, availability(mergedSLO(t, ms...)))
		return got == want, got
	})
}

// checkEqual holds the merged reports of ms to the all-in-one reference.
func checkEqual(t *testing.T, ref *reference, ms ...*member) {
	t.Helper()
	if got, want := jsonOf(t, mergedSLO(t, ms...)), jsonOf(t, ref.tracker.Snapshot()); got != want {
		t.Errorf("merged /api/slo differs from the all-in-one tracker:\n got %s\nwant %s", got, want)
	}
	if got, want := jsonOf(t, mergedCookies(t, ms...)), jsonOf(t, ref.inventory.Snapshot()); got != want {
		t.Errorf("merged /api/cookies differs from the all-in-one inventory:\n got %s\nwant %s", got, want)
	}
	checkMonthEqual(t, ref, ms...)
	if got, want := jsonOf(t, mergedDependencies(t, ms...)), jsonOf(t, ref.edges.Snapshot()); got != want {
		t.Errorf("merged /api/dependencies differs from the all-in-one edge tracker:\n got %s\nwant %s", got, want)
	}
}

// TestRebalanceAndCrashExact runs the scale-out story on one broker, two
// producers writing a 12-partition topic: an aggregator alone, two more
// joining (partitions handed over with a final checkpoint), then the first
// one killed while records stream in:
// at an arbitrary moment (it has consumed records past its checkpoints),
// or right after writing a checkpoint and before committing the group
// offset. Totals must equal the ground truth exactly at every step, and
// the merged reports the all-in-one reports.
func TestRebalanceAndCrashExact(t *testing.T) {
	for _, mode := range []string{"mid-stream", "between checkpoint and commit"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			testRebalanceAndCrash(t, mode == "mid-stream")
		})
	}
}

func testRebalanceAndCrash(t *testing.T, midStream bool) {
	b := kafkatest.FromEnv(t)
	b.CreateTopic(t, testTopic, testPartitions, nil)
	cat := testCatalog(t)
	ref := newReference(t, cat)

	var armed atomic.Bool
	killed := make(chan time.Time, 1)
	var a *member
	kill := func() {
		a.crash()
		killed <- time.Now()
	}
	a = startMember(t, b.Addr, cat, 300*time.Millisecond, func(agg *Aggregator) {
		agg.afterCheckpoint = func(int) {
			if armed.CompareAndSwap(true, false) {
				kill()
			}
		}
	})
	if ok, text := a.Ready(); ok {
		t.Errorf("ready before joining the group: %s", text)
	}
	waitOwners(t, 20*time.Second, a)

	batch := workload(1, 3000)
	produce(t, b.Addr, batch)
	ref.add(batch)
	waitTotals(t, 20*time.Second, ref, a)
	checkEqual(t, ref, a)

	// Two more members join: the group rebalances, a's revoked
	// partitions are checkpointed and restored by b and c.
	bm := startMember(t, b.Addr, cat, 300*time.Millisecond, nil)
	cm := startMember(t, b.Addr, cat, 300*time.Millisecond, nil)
	waitOwners(t, 20*time.Second, a, bm, cm)
	for i, m := range []*member{a, bm, cm} {
		if len(m.Partitions()) == 0 {
			t.Fatalf("member %d owns no partition", i)
		}
	}
	waitTotals(t, 10*time.Second, ref, a, bm, cm)
	checkEqual(t, ref, a, bm, cm)
	checkOwnsOnly(t, a, bm, cm)

	// Records stream in while a dies.
	aOwned := a.Partitions()
	batch = workload(2, 3000)
	ref.add(batch)
	for i := 0; i < len(batch); i += 100 {
		produce(t, b.Addr, batch[i:i+100])
		if i == len(batch)/2 {
			if midStream {
				kill()
			} else {
				armed.Store(true)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	var killedAt time.Time
	select {
	case killedAt = <-killed:
	case <-time.After(30 * time.Second): // checkpoints every 300ms; slack for a loaded CI box
		t.Fatal("a wrote no checkpoint after the second batch")
	}
	poll.UntilState(t, 5*time.Second, "a stopped", func() (bool, string) {
		select {
		case err := <-a.done:
			return err == nil, fmt.Sprint(err)
		default:
			return false, "running"
		}
	})
	t.Logf("a owned %v when killed", aOwned)

	waitOwners(t, 15*time.Second, bm, cm)
	failover := time.Since(killedAt)
	t.Logf("b and c own every partition %s after the kill", failover.Round(time.Millisecond))
	if failover > 15*time.Second {
		t.Errorf("failover took %s, want at most 15s", failover)
	}
	batch = workload(3, 1000)
	produce(t, b.Addr, batch)
	ref.add(batch)
	waitTotals(t, 15*time.Second, ref, bm, cm)
	checkEqual(t, ref, bm, cm)
	checkOwnsOnly(t, bm, cm)

	// The surviving member serves the same through HTTP, and its metrics
	// carry the lag of every partition.
	srv := httptest.NewServer(bm.SLOHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var got sli.Report
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	want, err := bm.SLOReport()
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, got) != jsonOf(t, want) {
		t.Errorf("GET /api/slo:\n%s\nwant\n%s", jsonOf(t, got), jsonOf(t, want))
	}
	checkLag(t, bm, len(bm.Partitions()))

	// Records a consumed after its last checkpoints were consumed again
	// by b, into the restored state: counted once all the same.
	consumed := counter(t, a.reg, metricRecords) + counter(t, bm.reg, metricRecords) + counter(t, cm.reg, metricRecords)
	t.Logf("records produced 7000, consumed %v: %v consumed twice, counted once", consumed, consumed-7000)
	for _, name := range []string{metricCheckpointBytes, metricRestoreSeconds} {
		if h := histogram(t, bm.reg, name); h.GetSampleCount() > 0 {
			t.Logf("%s: %d, mean %.4g", name, h.GetSampleCount(), h.GetSampleSum()/float64(h.GetSampleCount()))
		}
	}
	if consumed < 7000 {
		t.Errorf("consumed %v records, fewer than the 7000 produced", consumed)
	}
}

func histogram(t *testing.T, reg *prometheus.Registry, name string) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	return &dto.Histogram{}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}

// checkOwnsOnly checks that each member reports only services whose
// partition it owns.
func checkOwnsOnly(t *testing.T, ms ...*member) {
	t.Helper()
	for i, m := range ms {
		r, err := m.SLOReport()
		if err != nil {
			t.Fatal(err)
		}
		owned := m.Partitions()
		for _, s := range r.SLOs {
			if p := PartitionOf(s.Service, testPartitions); !slices.Contains(owned, p) {
				t.Errorf("member %d owns %v but reports %q of partition %d", i, owned, s.Service, p)
			}
		}
	}
}

// checkLag checks that m exports alsd_consumer_lag for n partitions, all
// caught up.
func checkLag(t *testing.T, m *member, n int) {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metricLag {
			continue
		}
		if len(mf.GetMetric()) != n {
			t.Errorf("%s has %d series, want %d", metricLag, len(mf.GetMetric()), n)
		}
		for _, s := range mf.GetMetric() {
			if v := s.GetGauge().GetValue(); v != 0 {
				t.Errorf("%s%v = %v, want 0", metricLag, s.GetLabel(), v)
			}
		}
		return
	}
	t.Errorf("no %s", metricLag)
}

// An aggregator started before its record topic exists waits, not ready
// and saying why, and starts once the topic is there; Close stops it.
func TestWaitsForTopic(t *testing.T) {
	t.Parallel()
	b := kafkatest.FromEnv(t)
	m := startMember(t, b.Addr, testCatalog(t), time.Second, nil)
	poll.UntilState(t, 10*time.Second, "not ready, waiting for the topic", func() (bool, string) {
		ok, text := m.Ready()
		return !ok && strings.Contains(text, "waiting for kafka") && strings.Contains(text, testTopic), text
	})
	b.CreateTopic(t, testTopic, testPartitions, nil)
	waitOwners(t, 20*time.Second, m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	m.done <- nil // for the cleanup
}
