package kafkasink

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/record"
)

const testTopic = record.DefaultTopic

// running is a Sink under Run, stopped by the test's cleanup.
type running struct {
	*Sink
	reg  *prometheus.Registry
	stop func()
}

func startSink(t *testing.T, addr, stateDir string, mutate func(*Config)) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{Brokers: []string{addr}, Topic: testTopic, SpoolDir: stateDir + "/spool", IdentityDir: stateDir,
		Registerer: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	r := &running{Sink: s, reg: reg}
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("sink: %v", err)
			}
		})
	}
	t.Cleanup(r.stop)
	<-s.Probed()
	return r
}

func testMessages(prefix string, n int) []record.Message {
	msgs := make([]record.Message, n)
	for i := range msgs {
		msgs[i] = record.Message{Key: []byte(fmt.Sprintf("svc-%d", i%5)), Value: []byte(fmt.Sprintf(`{"n":"%s-%d"}`, prefix, i)),
			Encoding: record.JSON, Time: time.Now()}
	}
	return msgs
}

func (r *running) waitProduced(t *testing.T, n float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(r.m.produced) < n {
		if time.Now().After(deadline) {
			t.Fatalf("produced %v of %v within 30s", testutil.ToFloat64(r.m.produced), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// header returns the value of header key of m, and whether it is there.
func header(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// idOf returns the ingester, sequence and chain link of m, failing the
// test when its headers break the contract.
func idOf(t *testing.T, m kafka.Message) (string, uint64, uint64) {
	t.Helper()
	v, ok := header(m, record.HeaderID)
	if !ok {
		t.Fatalf("message at %d/%d has no %s header", m.Partition, m.Offset, record.HeaderID)
	}
	ing, seq, err := record.ParseID([]byte(v))
	if err != nil {
		t.Fatal(err)
	}
	var prev uint64
	if p, ok := header(m, record.HeaderPrev); ok {
		if prev, err = strconv.ParseUint(p, 10, 64); err != nil || prev == 0 || prev >= seq {
			t.Fatalf("%s %q of %s: want a sequence below it (%v)", record.HeaderPrev, p, v, err)
		}
	}
	if ct, _ := header(m, record.HeaderContentType); ct != record.JSON.ContentType() {
		t.Errorf("content-type %q", ct)
	}
	return string(ing), seq, prev
}

// checkChains checks that the messages of each key, in sequence order,
// link each to the one before (the first to nothing or to an earlier run),
// and returns the sequences seen, with how often.
func checkChains(t *testing.T, msgs []kafka.Message, ingester string) map[uint64]int {
	t.Helper()
	seen := map[uint64]int{}
	type link struct{ seq, prev uint64 }
	byKey := map[string][]link{}
	for _, m := range msgs {
		ing, seq, prev := idOf(t, m)
		if ing != ingester {
			t.Fatalf("ingester %q, want %q", ing, ingester)
		}
		if seen[seq]++; seen[seq] == 1 {
			byKey[string(m.Key)] = append(byKey[string(m.Key)], link{seq, prev})
		}
	}
	for key, links := range byKey {
		slices.SortFunc(links, func(a, b link) int { return cmp.Compare(a.seq, b.seq) })
		for i := 1; i < len(links); i++ {
			// 0: the chain started again (a restart).
			if links[i].prev != links[i-1].seq && links[i].prev != 0 {
				t.Errorf("key %s: %d links to %d, want %d", key, links[i].seq, links[i].prev, links[i-1].seq)
			}
		}
	}
	return seen
}

// Every message on Kafka carries a unique meshtel-id of the sink's
// ingester and the chain link of its key; after a restart on the same
// state dir, the ingester id stays and no sequence comes again.
func TestIDsOnKafka(t *testing.T) {
	t.Parallel()
	b := kafkatest.FromEnv(t, testTopic)
	state := t.TempDir()
	var ingester string
	total := 0
	for run := range 2 {
		s := startSink(t, b.Addr, state, nil)
		if run == 0 {
			ingester = s.Ingester()
		} else if s.Ingester() != ingester {
			t.Fatalf("restart changed the ingester id from %q to %q", ingester, s.Ingester())
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					s.Submit(testMessages(fmt.Sprintf("r%d-g%d-%d", run, g, i), 25))
				}
			}()
		}
		wg.Wait()
		total += 4 * 10 * 25
		s.waitProduced(t, 4*10*25)
		s.stop()
	}
	msgs := kafkatest.ReadAll(t, b.Addr, testTopic, total, 30*time.Second)
	seen := checkChains(t, msgs, ingester)
	for seq, n := range seen {
		if n != 1 {
			t.Errorf("sequence %d on Kafka %d times", seq, n)
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct ids, want %d", len(seen), total)
	}
}

// A spool replay of messages that had already landed sends them with the
// same ids: a consumer sees the duplicates as such.
func TestReplayKeepsIDs(t *testing.T) {
	t.Parallel()
	b := kafkatest.FromEnv(t, testTopic)
	s := startSink(t, b.Addr, t.TempDir(), nil)
	msgs := testMessages("landed", 40)
	s.Submit(msgs)
	s.waitProduced(t, 40)
	// As after a delivery timeout of a write that landed all the same.
	s.toSpool(msgs[:15], spoolTimeout)
	s.waitProduced(t, 55)
	got := kafkatest.ReadAll(t, b.Addr, testTopic, 55, 30*time.Second)
	seen := checkChains(t, got, s.Ingester())
	twice := 0
	for _, n := range seen {
		if n == 2 {
			twice++
		}
	}
	if len(got) != 55 || len(seen) != 40 || twice != 15 {
		t.Errorf("%d messages, %d distinct ids, %d seen twice; want 55, 40, 15", len(got), len(seen), twice)
	}
}
