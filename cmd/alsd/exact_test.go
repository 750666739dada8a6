package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/sli"
)

// These tests drive built binaries — alsd ingesting, `alsd aggregate`
// processes consuming — through broker crashes, frozen aggregators,
// replays and restarts, and hold the aggregators' totals to the all-in-one
// alsd's, which counts every record once, at acceptance.

const (
	recordTopic = "mesh.accesslog.v1"
	stateTopic  = "mesh.alsd.state.v1"
)

// aggProcess is a running `alsd aggregate`.
type aggProcess struct {
	cmd    *exec.Cmd
	admin  string // http://host:port
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan struct{}
}

var aggStartedRE = regexp.MustCompile(`msg="alsd aggregate started" admin=(http://\S+)`)

func startAggregate(t *testing.T, broker string, extra ...string) *aggProcess {
	t.Helper()
	args := append([]string{"aggregate", "--kafka-brokers", broker, "--admin-addr", "127.0.0.1:0",
		"--session-timeout", "6s", "--checkpoint-interval", "500ms"}, extra...)
	p := &aggProcess{cmd: exec.Command(alsdBinary(t), args...), exited: make(chan struct{})}
	pr, pw := io.Pipe()
	p.cmd.Stderr = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := aggStartedRE.FindStringSubmatch(sc.Text()); m != nil {
				started <- m[1]
			}
		}
	}()
	go func() {
		_ = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("alsd aggregate log:\n%s", p.log())
		}
	})
	select {
	case p.admin = <-started:
	case <-p.exited:
		t.Fatalf("alsd aggregate exited at start:\n%s", p.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("alsd aggregate did not start:\n%s", p.log())
	}
	return p
}

func (p *aggProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// metric returns the sum of the series of name (any labels) matching
// every label filter ("k=v") at admin.
func metric(admin, name string, filters ...string) float64 {
	resp, err := http.Get(strings.TrimSuffix(admin, "/") + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		series, value, ok := strings.Cut(sc.Text(), " ")
		if n, labels, _ := strings.Cut(series, "{"); !ok || n != name || !hasLabels(labels, filters) {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		sum += v
	}
	return sum
}

func hasLabels(labels string, filters []string) bool {
	for _, f := range filters {
		k, v, _ := strings.Cut(f, "=")
		if !strings.Contains(labels, k+`="`+v+`"`) {
			return false
		}
	}
	return true
}

// counts are (total, bad) per "service/slo": what must agree exactly.
type counts map[string][2]uint64

func countsOf(r sli.Report) counts {
	out := counts{}
	for _, s := range r.SLOs {
		if s.Total > 0 {
			out[s.Service+"/"+s.SLO] = [2]uint64{s.Total, s.Bad}
		}
	}
	return out
}

func (c counts) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// alsdCounts is what the all-in-one alsd counted at acceptance.
func alsdCounts(t *testing.T, p *alsdProcess) counts {
	t.Helper()
	code, body := p.get(t, "/api/slo")
	var r sli.Report
	if err := json.Unmarshal([]byte(body), &r); code != http.StatusOK || err != nil {
		t.Fatalf("/api/slo: %d %v %s", code, err, body)
	}
	return countsOf(r)
}

// aggregatorCounts is `alsd report slo` over the aggregators, merged.
func aggregatorCounts(aggs ...*aggProcess) (counts, error) {
	var urls []string
	for _, a := range aggs {
		urls = append(urls, a.admin)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"report", "slo", "--admin", strings.Join(urls, ","), "--format", "json"},
		&out, &errOut, func(string) string { return "" }); code != exitOK {
		return nil, fmt.Errorf("alsd report slo exited %d: %s", code, errOut.String())
	}
	var r sli.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return nil, err
	}
	return countsOf(r), nil
}

// waitExact waits until the aggregators' merged totals equal want.
func waitExact(t *testing.T, timeout time.Duration, want counts, aggs ...*aggProcess) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got counts
	var err error
	for time.Now().Before(deadline) {
		if got, err = aggregatorCounts(aggs...); err == nil && got.String() == want.String() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("aggregator totals not exact within %s (%v):\n got %s\nwant %s", timeout, err, got, want)
}

// simulate sends total entries of cat's services (nil: the simulator's
// own mesh) to als at rate entries/s and returns when they are sent, or
// when alsd ends the streams (total 0: it is killed).
func simulate(t *testing.T, als string, cat *catalog.Catalog, seed uint64, rate float64, total int64) {
	sim, err := envoysim.New(envoysim.Config{Target: als, Catalog: cat, Sidecars: 1, Streams: 2, Rate: rate, Total: total, Seed: seed})
	if err != nil {
		t.Error(err)
		return
	}
	if _, err := sim.Run(context.Background()); err != nil && total > 0 {
		t.Errorf("simulator: %v", err)
	}
}

// topicIDs reads the record topic and returns its messages' meshtel-ids
// with how often each came, failing the test when two different records
// share one or a message has none.
func topicIDs(t *testing.T, addr string, want int) (ids map[string]int, msgs int) {
	t.Helper()
	ms := kafkatest.ReadAll(t, addr, recordTopic, want, 60*time.Second)
	ids = map[string]int{}
	values := map[string][]byte{}
	for _, m := range ms {
		var id string
		for _, h := range m.Headers {
			if h.Key == record.HeaderID {
				id = string(h.Value)
			}
		}
		if _, _, err := record.ParseID([]byte(id)); err != nil {
			t.Fatalf("message %d/%d: %v", m.Partition, m.Offset, err)
		}
		if v, ok := values[id]; ok && !bytes.Equal(v, m.Value) {
			t.Fatalf("meshtel-id %s names two different records:\n%s\n%s", id, v, m.Value)
		}
		values[id] = m.Value
		ids[id]++
	}
	return ids, len(ms)
}

// duplicatesDropped sums the aggregators' duplicate counters.
func duplicatesDropped(aggs ...*aggProcess) float64 {
	n := 0.0
	for _, a := range aggs {
		n += metric(a.admin, "alsd_aggregate_records_skipped_total", "reason=duplicate")
	}
	return n
}

// TestBrokerKillExact kills the broker (SIGKILL for a real one) while the
// simulator sends, restarts it, and holds two aggregators' totals to the
// all-in-one alsd's: exactly equal, whatever was retried or replayed.
func TestBrokerKillExact(t *testing.T) {
	b := kafkatest.FromEnv(t)
	b.CreateTopic(t, recordTopic, 6, nil)
	p := startAlsd(t, "--kafka-brokers", b.Addr, "--state-dir", t.TempDir())
	aggs := []*aggProcess{startAggregate(t, b.Addr), startAggregate(t, b.Addr)}

	sent := make(chan struct{})
	go func() { defer close(sent); simulate(t, p.als, nil, 1, 1500, 15000) }()
	time.Sleep(3 * time.Second)
	b.Kill9(t)
	killed := time.Now()
	time.Sleep(2 * time.Second)
	b.Restart(t)
	t.Logf("broker down %s", time.Since(killed).Round(time.Millisecond))
	<-sent
	waitMetric(t, p, "alsd_spool_bytes", 0)
	want := alsdCounts(t, p)
	waitExact(t, 90*time.Second, want, aggs...)

	accepted := metric("http://"+p.admin, "alsd_records_total")
	ids, msgs := topicIDs(t, b.Addr, int(accepted))
	t.Logf("accepted %v records; on Kafka %d messages, %d distinct ids (%d duplicates); aggregators dropped %v duplicates; spooled %v, landed after spooling %v, replayed %v",
		accepted, msgs, len(ids), msgs-len(ids), duplicatesDropped(aggs...), metric("http://"+p.admin, "alsd_spooled_total"),
		metric("http://"+p.admin, "alsd_spool_landed_total"), metric("http://"+p.admin, "alsd_spool_replayed_total"))
	if len(ids) != int(accepted) {
		t.Errorf("%d distinct ids on Kafka, %v records accepted", len(ids), accepted)
	}
}

// TestReplayedCountedOnce replays records that had landed already — the
// spool cursor put back as a crash between a replay's acknowledgement and
// its cursor update leaves it — and checks that aggregators count them
// once while the topic holds them twice.
func TestReplayedCountedOnce(t *testing.T) {
	b := kafkatest.FromEnv(t)
	b.CreateTopic(t, recordTopic, 6, nil)
	b.Stop(t)
	state := t.TempDir()
	p := startAlsd(t, "--kafka-brokers", b.Addr, "--state-dir", state)
	simulate(t, p.als, nil, 2, 2000, 3000)
	p.stop(t, syscall.SIGTERM)
	accepted := p.accepted(t)
	snapshot := t.TempDir()
	copyDir(t, state+"/spool", snapshot)

	b.Restart(t)
	for round := range 2 {
		if round == 1 {
			// The spool as it was before it was replayed.
			if err := os.RemoveAll(state + "/spool"); err != nil {
				t.Fatal(err)
			}
			copyDir(t, snapshot, state+"/spool")
		}
		q := startAlsd(t, "--kafka-brokers", b.Addr, "--state-dir", state)
		waitMetric(t, q, "alsd_spool_bytes", 0)
		if round == 1 {
			agg := startAggregate(t, b.Addr)
			waitExact(t, 60*time.Second, alsdCounts(t, q), agg)
			ids, msgs := topicIDs(t, b.Addr, 2*accepted)
			dropped := duplicatesDropped(agg)
			t.Logf("accepted %d; on Kafka %d messages, %d distinct ids; the aggregator dropped %v duplicates", accepted, msgs, len(ids), dropped)
			if len(ids) != accepted || msgs != 2*accepted || dropped < float64(accepted) {
				t.Errorf("want %d ids, each twice on Kafka, and at least %d dropped", accepted, accepted)
			}
		}
		q.stop(t, syscall.SIGTERM)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from+"/.", to).CombinedOutput(); err != nil {
		if err := os.MkdirAll(to, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err = exec.Command("cp", "-a", from+"/.", to).CombinedOutput(); err != nil {
			t.Fatalf("cp %s %s: %v %s", from, to, err, out)
		}
	}
}
