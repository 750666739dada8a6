package accesslog

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/kafkasink"
)

var soak = flag.Duration("soak", 10*time.Second, "how long TestSoak drives alsd (CI's long run: -soak=60s)")

// Soak traffic: soakStreams concurrent Envoy streams, each sending
// soakBatch entries every soakEvery: up to 3000 entries/s (the log says
// what a loaded machine achieved).
const (
	soakStreams = 6
	soakBatch   = 10
	soakEvery   = 20 * time.Millisecond
)

// TestSoak drives the ingest path with a steady simulated mesh for -soak
// while the broker restarts every 15s (a third of -soak when shorter) and
// streams are reset at random: every record alsd accepted must be on
// Kafka, and goroutines and heap must stay flat. It does not run in
// parallel: it measures the whole process.
//
// The kfake broker runs in a child process (MESHTEL_KAFKA=real: the real
// broker, also a process of its own), so that what it stores does not
// count as alsd's heap.
func TestSoak(t *testing.T) {
	d := *soak
	restartEvery := min(15*time.Second, d/3)
	down := min(2*time.Second, restartEvery/4).Round(time.Millisecond)
	// Registered first, so it runs last: once everything is closed, the
	// broker included, no goroutine of alsd's may be left.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	broker := newSoakBroker(t)
	tr := &kafka.Transport{}
	h := startHarness(t, broker.b, func(_ *ServerConfig, s *kafkasink.Config) { s.Transport = tr })

	ctx, stop := context.WithCancel(context.Background())
	var senders sync.WaitGroup
	sent := &soakSent{n: map[string]int{}}
	var resets atomic.Int64
	for i := range soakStreams {
		senders.Add(1)
		go func() {
			defer senders.Done()
			soakSender(ctx, t, h.addr, i, sent, &resets)
		}()
	}

	// A sample of goroutines, heap and RSS every half second, and the
	// broker restarts.
	type sample struct {
		at         time.Duration
		goroutines int
		heap, rss  uint64
	}
	var (
		samplesMu sync.Mutex
		samples   []sample
	)
	start := time.Now()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			samplesMu.Lock()
			samples = append(samples, sample{time.Since(start).Round(100 * time.Millisecond), runtime.NumGoroutine(), ms.HeapAlloc, rss()})
			samplesMu.Unlock()
		}
	}()
	restarts := 0
	for at := start.Add(restartEvery); at.Add(down).Before(start.Add(d)); at = at.Add(restartEvery) {
		time.Sleep(time.Until(at))
		t0 := time.Now()
		broker.stop(t)
		t1 := time.Now()
		time.Sleep(down)
		t2 := time.Now()
		broker.start(t)
		restarts++
		t.Logf("broker restart at %s: stopped in %s, down %s, started in %s",
			t0.Sub(start).Round(time.Millisecond), t1.Sub(t0).Round(time.Millisecond), down, time.Since(t2).Round(time.Millisecond))
	}
	time.Sleep(time.Until(start.Add(d)))
	elapsed := time.Since(start)
	stop()
	senders.Wait()
	<-sampled

	accepted := int(h.server.Accepted())
	h.waitProduced(t, accepted, 60*time.Second)
	h.stop()
	tr.CloseIdleConnections()
	msgs := kafkatest.ReadAll(t, broker.b.Addr, testTopic, accepted, 60*time.Second)
	onKafka, dups := checkSoakRecords(t, msgs, sent)

	spooled, replayed := metricSum(h.reg, "alsd_spooled_total"), metricSum(h.reg, "alsd_spool_replayed_total")
	produced := metricSum(h.reg, kafkasink.MetricKafkaProduced)
	dropped := metricSum(h.reg, kafkasink.MetricRecordsDropped, "reason", "spool_full")
	counted := metricSum(h.reg, MetricRecords)
	t.Logf("soak %s at %.0f entries/s: %d entries sent, %d accepted (alsd_records_total %v), %d distinct on Kafka, %d duplicates; "+
		"%d broker restarts (%s down each), %d stream resets; %v spooled, %v replayed, %v produced, %v dropped",
		d, float64(sent.total())/elapsed.Seconds(), sent.total(), accepted, counted, onKafka, dups,
		restarts, down, resets.Load(), spooled, replayed, produced, dropped)
	if counted != float64(accepted) {
		t.Errorf("alsd_records_total = %v, Accepted() = %d", counted, accepted)
	}
	if onKafka != accepted {
		t.Errorf("%d distinct records on Kafka, %d accepted", onKafka, accepted)
	}
	if dropped != 0 {
		t.Errorf("%v records dropped", dropped)
	}
	if produced < float64(accepted) {
		t.Errorf("alsd_kafka_produced_total = %v, fewer than the %d accepted", produced, accepted)
	}
	if restarts == 0 || resets.Load() == 0 {
		t.Errorf("%d restarts, %d stream resets: the soak did not exercise them", restarts, resets.Load())
	}

	// Flat: the last quarter's peak against the first quarter's, both
	// under the same traffic and the same kinds of disturbance.
	if len(samples) < 2 {
		t.Fatalf("only %d samples", len(samples))
	}
	q := max(1, len(samples)/4)
	var first, last sample
	for _, s := range samples[:q] {
		first.goroutines, first.heap, first.rss = max(first.goroutines, s.goroutines), max(first.heap, s.heap), max(first.rss, s.rss)
	}
	for _, s := range samples[len(samples)-q:] {
		last.goroutines, last.heap, last.rss = max(last.goroutines, s.goroutines), max(last.heap, s.heap), max(last.rss, s.rss)
	}
	t.Logf("first quarter peak: %d goroutines, heap %.1f MiB, RSS %.1f MiB; last quarter peak: %d goroutines, heap %.1f MiB, RSS %.1f MiB",
		first.goroutines, mib(first.heap), mib(first.rss), last.goroutines, mib(last.heap), mib(last.rss))
	for _, s := range samples {
		t.Logf("  %5s %4d goroutines, heap %6.1f MiB, RSS %6.1f MiB", s.at, s.goroutines, mib(s.heap), mib(s.rss))
	}
	if last.goroutines > first.goroutines+10 {
		t.Errorf("goroutines grew from %d to %d", first.goroutines, last.goroutines)
	}
	if last.heap > first.heap*3/2+16<<20 {
		t.Errorf("heap grew from %.1f MiB to %.1f MiB", mib(first.heap), mib(last.heap))
	}
	if first.rss > 0 && last.rss > first.rss*2+64<<20 {
		t.Errorf("RSS grew from %.1f MiB to %.1f MiB", mib(first.rss), mib(last.rss))
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// rss is the process's resident set size, 0 where /proc is missing.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// soakSent is, per stream name, how many entries Send took.
type soakSent struct {
	mu sync.Mutex
	n  map[string]int
}

func (s *soakSent) add(stream string, n int) {
	s.mu.Lock()
	s.n[stream] += n
	s.mu.Unlock()
}

func (s *soakSent) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := 0
	for _, n := range s.n {
		t += n
	}
	return t
}

// soakSender is one Envoy worker (envoysim's): it sends numbered entries
// on a stream for a random while, then ends it at random: a reset
// (RST_STREAM), a half-close, or the whole connection dropped; and opens
// the next.
func soakSender(ctx context.Context, t *testing.T, addr string, worker int, sent *soakSent, resets *atomic.Int64) {
	rng := rand.New(rand.NewPCG(uint64(worker), 7))
	var conn *grpc.ClientConn
	var env *envoysim.Envoy
	defer func() {
		if conn != nil {
			env.Reset()
			conn.Close()
		}
	}()
	tick := time.NewTicker(soakEvery)
	defer tick.Stop()
	for gen := 0; ctx.Err() == nil; gen++ {
		if conn == nil {
			var err error
			if conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
				t.Error(err)
				return
			}
			env = envoysim.NewEnvoy(conn, envoysim.EnvoyConfig{NodeID: fmt.Sprintf("sidecar~10.0.0.1~w%d~ns", worker), Cluster: "web"})
		}
		name := fmt.Sprintf("w%d.%d", worker, gen)
		end := time.Now().Add(time.Duration(300+rng.IntN(2700)) * time.Millisecond)
		for n := 0; time.Now().Before(end) && ctx.Err() == nil; n += soakBatch {
			if err := env.SendHTTP(ctx, soakEntries(name, n, soakBatch)...); err != nil {
				break
			}
			sent.add(name, soakBatch)
			<-tick.C
		}
		switch rng.IntN(3) {
		case 0: // reset
			env.Reset()
			resets.Add(1)
		case 1: // half-close, as a draining Envoy would
			_ = env.CloseStream()
		default: // the connection goes away under the open stream
			conn.Close()
			env.Reset()
			conn = nil
			resets.Add(1)
		}
	}
}

func soakEntries(stream string, from, n int) []*datav3.HTTPAccessLogEntry {
	entries := make([]*datav3.HTTPAccessLogEntry, n)
	for i := range entries {
		entries[i] = testEntry(fmt.Sprintf("%s-%d", stream, from+i), 200)
	}
	return entries
}

// checkSoakRecords checks that what is on Kafka is, per stream, its
// entries 0..k-1 for some k no larger than what was sent (alsd takes a
// stream's messages in order; those after a reset were never accepted),
// and returns the distinct records and the duplicates.
func checkSoakRecords(t *testing.T, msgs []kafka.Message, sent *soakSent) (distinct, dups int) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range msgs {
		var rec struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			t.Fatalf("record is not JSON: %v", err)
		}
		if strings.Contains(string(m.Value), plantedCookie) {
			t.Fatal("a cookie value reached Kafka")
		}
		seen[rec.RequestID]++
	}
	top := map[string]int{}
	for id, c := range seen {
		stream, num, ok := strings.Cut(id, "-")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			t.Fatalf("unexpected record %q on Kafka", id)
		}
		top[stream] = max(top[stream], n+1)
		dups += c - 1
	}
	sent.mu.Lock()
	defer sent.mu.Unlock()
	lost := 0
	for stream, k := range top {
		if k > sent.n[stream] {
			t.Errorf("stream %s: entry %d on Kafka, only %d sent", stream, k-1, sent.n[stream])
		}
		for i := range k {
			if seen[fmt.Sprintf("%s-%d", stream, i)] == 0 {
				if lost++; lost <= 10 {
					t.Errorf("%s-%d lost (the stream reached %d)", stream, i, k-1)
				}
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d records lost", lost)
	}
	return len(seen), dups
}

// soakBroker is the soak's broker: kfake in a child process, or the real
// broker with MESHTEL_KAFKA=real.
type soakBroker struct {
	b    *kafkatest.Broker // Addr; the real broker itself
	dir  string
	port int
	cmd  *exec.Cmd
	in   io.WriteCloser
}

const soakBrokerEnv = "MESHTEL_SOAK_BROKER_DIR"

func newSoakBroker(t *testing.T) *soakBroker {
	t.Helper()
	if os.Getenv(kafkatest.EnvVar) == "real" {
		return &soakBroker{b: kafkatest.FromEnv(t, testTopic)}
	}
	s := &soakBroker{dir: t.TempDir()}
	s.start(t)
	s.b = &kafkatest.Broker{Addr: "127.0.0.1:" + strconv.Itoa(s.port)}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *soakBroker) start(t *testing.T) {
	t.Helper()
	if s.dir == "" {
		s.b.Restart(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSoakBroker$")
	cmd.Env = append(os.Environ(), soakBrokerEnv+"="+s.dir, "MESHTEL_SOAK_BROKER_PORT="+strconv.Itoa(s.port))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "soak broker listening on "); ok {
			_, port, _ := strings.Cut(addr, "127.0.0.1:")
			s.port, _ = strconv.Atoi(port)
			go func() { _, _ = io.Copy(io.Discard, out) }()
			s.cmd, s.in = cmd, in
			return
		}
	}
	_ = cmd.Wait()
	t.Fatal("the soak broker process did not start")
}

// stop closes the child's stdin: it then saves its state and exits.
func (s *soakBroker) stop(t *testing.T) {
	t.Helper()
	if s.dir == "" {
		s.b.Stop(t)
		return
	}
	if s.cmd == nil {
		return
	}
	s.in.Close()
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("soak broker process: %v", err)
	}
	s.cmd = nil
}

// TestSoakBroker is TestSoak's broker process, not a test of its own: it
// serves kfake until its stdin closes.
func TestSoakBroker(t *testing.T) {
	dir := os.Getenv(soakBrokerEnv)
	if dir == "" {
		t.Skip("TestSoak's broker process")
	}
	port, _ := strconv.Atoi(os.Getenv("MESHTEL_SOAK_BROKER_PORT"))
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(dir)}
	if port == 0 {
		opts = append(opts, kfake.SeedTopics(kafkatest.DefaultPartitions, testTopic))
	} else {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("soak broker listening on %s\n", c.ListenAddrs()[0])
	_, _ = io.Copy(io.Discard, os.Stdin)
	c.Close()
}
