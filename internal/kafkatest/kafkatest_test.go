package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// kinds starts each broker kind with topics created; "real" skips unless
// MESHTEL_KAFKA=real, and `go test -run /real` runs only that half.
var kinds = []struct {
	name  string
	start func(t testing.TB, topics ...string) *Broker
}{
	{"fake", Fake},
	{"real", func(t testing.TB, topics ...string) *Broker {
		b := Real(t)
		for _, topic := range topics {
			b.CreateTopic(t, topic, DefaultPartitions, nil)
		}
		return b
	}},
}

// writer returns a writer to topic whose transport's connections close
// when the test ends.
func writer(t testing.TB, addr, topic string) *kafka.Writer {
	// During a clean shutdown the broker reports its partitions leaderless,
	// and kafka-go keeps that metadata for MetadataTTL (default 6 s),
	// failing every write as "no leader" in the meantime.
	tr := &kafka.Transport{MetadataTTL: 500 * time.Millisecond}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		Transport:    tr,
	}
}

// produce writes n messages keyed key-0..key-(n-1) with values from..from+n-1.
func produce(t *testing.T, w *kafka.Writer, from, n int) {
	t.Helper()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{
			Key:     fmt.Appendf(nil, "key-%d", (from+i)%7),
			Value:   fmt.Appendf(nil, "value-%d", from+i),
			Headers: []kafka.Header{{Key: "seq", Value: fmt.Appendf(nil, "%d", from+i)}},
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := writeRetrying(ctx, w, msgs); err != nil {
		t.Fatalf("produce %d messages to %q: %v", n, w.Topic, err)
	}
}

// writeRetrying writes msgs, writing again only the messages that failed
// without reaching the broker. After a restart the broker leads its
// partitions again (Restart waits for that), but a writer's cached metadata
// can still say "no leader" until its next refresh, and kafka-go fails such
// messages at once instead of retrying them. Nothing that may have landed is
// written twice, so exactly-once still holds.
func writeRetrying(ctx context.Context, w *kafka.Writer, msgs []kafka.Message) error {
	for {
		err := w.WriteMessages(ctx, msgs...)
		if err == nil {
			return nil
		}
		var werrs kafka.WriteErrors
		if !errors.As(err, &werrs) {
			return err
		}
		var again []kafka.Message
		for i, e := range werrs {
			if e == nil {
				continue
			}
			if !errors.Is(e, protocol.ErrNoLeader) {
				return fmt.Errorf("message %d: %w", i, e)
			}
			again = append(again, msgs[i])
		}
		msgs = again
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d messages without a leader: %w", len(msgs), errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkExactlyOnce fails unless msgs holds value-0..value-(n-1) once each,
// with the header and key they were written with, each key on one partition.
func checkExactlyOnce(t *testing.T, msgs []kafka.Message, n int) {
	t.Helper()
	seen := map[string]int{}
	keyPart := map[string]int{}
	for _, m := range msgs {
		seen[string(m.Value)]++
		if len(m.Headers) != 1 || m.Headers[0].Key != "seq" || "value-"+string(m.Headers[0].Value) != string(m.Value) {
			t.Errorf("message %q: headers %v", m.Value, m.Headers)
		}
		if p, ok := keyPart[string(m.Key)]; ok && p != m.Partition {
			t.Errorf("key %q on partitions %d and %d", m.Key, p, m.Partition)
		}
		keyPart[string(m.Key)] = m.Partition
	}
	for i := range n {
		if c := seen[fmt.Sprintf("value-%d", i)]; c != 1 {
			t.Errorf("value-%d read %d times, want once", i, c)
		}
	}
	if len(msgs) != n {
		t.Errorf("read %d messages, want %d", len(msgs), n)
	}
}

// checks leave the broker running and use topics of their own, so each kind
// runs them all on one broker: a real one takes seconds to start.
var checks = []struct {
	name string
	run  func(t *testing.T, b *Broker)
}{
	{"ProduceConsume", checkProduceConsume},
	{"AutoCreateDisabled", checkAutoCreateDisabled},
	{"CreateTopicConfigs", checkCreateTopicConfigs},
	{"CreateTopicTwiceFails", checkCreateTopicTwiceFails},
	{"KcatReads", checkKcatReads},
}

func TestBroker(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			b := k.start(t)
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) { c.run(t, b) })
			}
		})
	}
}

func checkProduceConsume(t *testing.T, b *Broker) {
	b.CreateTopic(t, "produce", DefaultPartitions, nil)
	w := writer(t, b.Addr, "produce")
	defer w.Close()
	produce(t, w, 0, 500)
	msgs := ReadAll(t, b.Addr, "produce", 500, 30*time.Second)
	checkExactlyOnce(t, msgs, 500)
	parts := map[int]bool{}
	for _, m := range msgs {
		parts[m.Partition] = true
	}
	if len(parts) != DefaultPartitions {
		t.Errorf("messages on %d partitions, want %d", len(parts), DefaultPartitions)
	}
}

func checkAutoCreateDisabled(t *testing.T, b *Broker) {
	w := writer(t, b.Addr, "missing.topic")
	w.MaxAttempts = 2
	w.AllowAutoTopicCreation = true // the broker must refuse even when asked
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := w.WriteMessages(ctx, kafka.Message{Value: []byte("x")})
	if !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Fatalf("produce to a missing topic: got %v, want %v", err, kafka.UnknownTopicOrPartition)
	}
	c, done := client(b.Addr)
	defer done()
	_, err = partitions(ctx, c, "missing.topic")
	if !errors.Is(err, kafka.UnknownTopicOrPartition) || !strings.Contains(err.Error(), `"missing.topic"`) {
		t.Fatalf("metadata after the failed produce: got %v, want an unknown-topic error naming %q", err, "missing.topic")
	}
}

func checkCreateTopicConfigs(t *testing.T, b *Broker) {
	want := map[string]string{
		"min.insync.replicas": "1",
		"retention.ms":        "86400000",
		"compression.type":    "zstd",
		"cleanup.policy":      "compact",
	}
	b.CreateTopic(t, "configured", 2, want)
	c, done := client(b.Addr)
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic,
		ResourceName: "configured",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatalf("describe %q: %v", r.ResourceName, r.Error)
		}
		for _, e := range r.ConfigEntries {
			got[e.ConfigName] = e.ConfigValue
		}
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %q, want %q", name, got[name], v)
		}
	}
	if n, err := leaders(ctx, c, "configured"); err != nil || n != 2 {
		t.Errorf("partitions with a leader: %d, %v; want 2", n, err)
	}
}

func checkCreateTopicTwiceFails(t *testing.T, b *Broker) {
	b.CreateTopic(t, "twice", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := createTopic(ctx, b.Addr, "twice", 1, nil)
	if !errors.Is(err, kafka.TopicAlreadyExists) || !strings.Contains(err.Error(), `"twice"`) {
		t.Fatalf("got %v, want a topic-exists error naming %q", err, "twice")
	}
}

func checkKcatReads(t *testing.T, b *Broker) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (Debian: apt-get install kcat)")
	}
	b.CreateTopic(t, "kcat", DefaultPartitions, nil)
	w := writer(t, b.Addr, "kcat")
	defer w.Close()
	produce(t, w, 0, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", b.Addr, "-t", "kcat", "-o", "beginning", "-e", "-q",
		"-f", `%k %s %h\n`).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	sort.Strings(lines)
	var want []string
	for i := range 100 {
		want = append(want, fmt.Sprintf("key-%d value-%d seq=%d", i%7, i, i))
	}
	sort.Strings(want)
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("kcat read:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestLifecycle kills, stops and restarts one broker between batches: every
// acknowledged message must survive, once, and the writer must get through
// to the broker again on its own.
func TestLifecycle(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			b := k.start(t, "t1")
			addr := b.Addr
			w := writer(t, b.Addr, "t1")
			defer w.Close()
			produce(t, w, 0, 100)

			b.Kill9(t)
			refused(t, addr)
			b.Restart(t)
			produce(t, w, 100, 100)

			b.Stop(t)
			refused(t, addr)
			b.Restart(t)
			produce(t, w, 200, 100)

			b.Restart(t) // while running: a clean stop first
			produce(t, w, 300, 100)

			if b.Addr != addr {
				t.Fatalf("restarted on %s, want %s", b.Addr, addr)
			}
			checkExactlyOnce(t, ReadAll(t, b.Addr, "t1", 400, 30*time.Second), 400)
		})
	}
}

func refused(t *testing.T, addr string) {
	t.Helper()
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("the broker is down but %s accepts connections", addr)
	}
}

func TestReadAllShortfall(t *testing.T) {
	b := Fake(t, "t1")
	w := writer(t, b.Addr, "t1")
	defer w.Close()
	produce(t, w, 0, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	got, err := readAll(ctx, b.Addr, "t1", 11)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got error %v, want a deadline", err)
	}
	if len(got) != 10 {
		t.Errorf("returned %d messages read before the deadline, want 10", len(got))
	}
}

func TestReadAllMissingTopic(t *testing.T) {
	b := Fake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := readAll(ctx, b.Addr, "nope", 1)
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("got %v, want an error naming the topic", err)
	}
}

func TestFromEnv(t *testing.T) {
	b := FromEnv(t, "a", "b")
	if got, want := b.IsReal(), os.Getenv(EnvVar) == "real"; got != want {
		t.Fatalf("IsReal() = %v with %s=%q", got, EnvVar, os.Getenv(EnvVar))
	}
	c, done := client(b.Addr)
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, topic := range []string{"a", "b"} {
		if n, err := leaders(ctx, c, topic); err != nil || n != DefaultPartitions {
			t.Errorf("topic %q: %d partitions with a leader, %v; want %d", topic, n, err, DefaultPartitions)
		}
	}
}

// BenchmarkProduce is the ceiling for a kafka-go producer with acks=all on
// each broker kind: 500-byte records written in batches of 1000.
func BenchmarkProduce(b *testing.B) {
	value := make([]byte, 500)
	batch := make([]kafka.Message, 1000)
	for i := range batch {
		batch[i] = kafka.Message{Key: fmt.Appendf(nil, "key-%d", i%50), Value: value}
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			br := k.start(b, "bench")
			w := writer(b, br.Addr, "bench")
			w.BatchSize = len(batch)
			defer w.Close()
			ctx := context.Background()
			b.SetBytes(int64(len(batch) * len(value)))
			for b.Loop() {
				if err := w.WriteMessages(ctx, batch...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
		})
	}
}
