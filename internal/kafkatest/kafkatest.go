// Package kafkatest gives tests a Kafka broker to talk to: a real Apache Kafka
// 4.x (single KRaft node run by scripts/kafka/kafka) when MESHTEL_KAFKA=real,
// otherwise the in-process kfake broker, so one test body runs against either.
// Both listen on 127.0.0.1, have topic auto-creation disabled, and can be
// stopped, killed and restarted on the same address with their data kept.
//
// It is test support only: it does not configure brokers for production, and it
// does not create the topics alsd itself would need.
package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnvVar selects the broker: "real" runs Apache Kafka; anything else, kfake.
const EnvVar = "MESHTEL_KAFKA"

// DefaultPartitions is the partition count of the topics that [Fake] and
// [FromEnv] create: more than one, so tests see keys spread over partitions.
const DefaultPartitions = 3

// Broker is a running single-node Kafka for one test. It is stopped when the
// test ends.
type Broker struct {
	// Addr is the bootstrap address, 127.0.0.1:PORT. It stays the same across
	// [Broker.Restart], so clients reconnect to it by themselves.
	Addr string

	impl backend
}

type backend interface {
	isReal() bool
	kill9(t testing.TB)
	stop(t testing.TB)
	start(t testing.TB)
}

// TopicConfigs are the topic configs README.md recommends for the record
// topic, as far as a single node can have them (a cluster adds replication
// factor 3 and min.insync.replicas=2). FromEnv creates real topics with them.
var TopicConfigs = map[string]string{
	"min.insync.replicas": "1",
	"retention.ms":        "604800000",
	"compression.type":    "producer",
}

// FromEnv starts a real broker (see [Real]) when MESHTEL_KAFKA=real and a kfake
// one (see [Fake]) otherwise, and creates topics with [DefaultPartitions]
// partitions on it, with [TopicConfigs] on a real broker.
func FromEnv(t testing.TB, topics ...string) *Broker {
	t.Helper()
	if os.Getenv(EnvVar) != "real" {
		return Fake(t, topics...)
	}
	b := Real(t)
	for _, topic := range topics {
		b.CreateTopic(t, topic, DefaultPartitions, TopicConfigs)
	}
	return b
}

// IsReal reports whether b is an Apache Kafka broker rather than kfake, for
// the few assertions that differ (such as broker error messages).
func (b *Broker) IsReal() bool { return b.impl.isReal() }

// Kill9 kills the broker without letting it shut down: SIGKILL for a real
// broker. kfake has no crash mode, so for it this closes the cluster, which
// keeps everything it acknowledged.
func (b *Broker) Kill9(t testing.TB) {
	t.Helper()
	b.impl.kill9(t)
}

// Stop shuts the broker down cleanly. It is a no-op when it is not running.
func (b *Broker) Stop(t testing.TB) {
	t.Helper()
	b.impl.stop(t)
}

// Restart starts the broker again on the same address and data, stopping it
// cleanly first if it is still running, and returns once every partition has
// a leader again.
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	b.impl.stop(t)
	b.impl.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := waitLeaders(ctx, b.Addr); err != nil {
		t.Fatalf("kafkatest: broker restarted on %s: %v", b.Addr, err)
	}
}

// waitLeaders waits until every partition of every topic has a leader. Apache
// Kafka reports itself started before it has re-elected itself leader of the
// partitions it led before a clean shutdown; in between, producers fail with
// "no leader".
func waitLeaders(ctx context.Context, addr string) error {
	c, done := client(addr)
	defer done()
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{})
		if err == nil {
			err = leaderless(md.Topics)
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("partitions without a leader: %w", errors.Join(err, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func leaderless(topics []kafka.Topic) error {
	for _, tp := range topics {
		if tp.Error != nil {
			return fmt.Errorf("topic %q: %w", tp.Name, tp.Error)
		}
		for _, p := range tp.Partitions {
			if p.Error != nil || p.Leader.Port == 0 {
				return fmt.Errorf("topic %q partition %d has no leader (%v)", tp.Name, p.ID, p.Error)
			}
		}
	}
	return nil
}

// CreateTopic creates topic with partitions partitions, replication factor 1
// and the given topic configs (such as "min.insync.replicas"), and waits until
// every partition has a leader, so producing right after it succeeds.
func (b *Broker) CreateTopic(t testing.TB, topic string, partitions int, configs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := createTopic(ctx, b.Addr, topic, partitions, configs); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
}

func createTopic(ctx context.Context, addr, topic string, partitions int, configs map[string]string) error {
	c, done := client(addr)
	defer done()
	tc := kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}
	for k, v := range configs {
		tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err != nil {
		return fmt.Errorf("create topic %q on %s: %w", topic, addr, err)
	}
	if err := resp.Errors[topic]; err != nil {
		return fmt.Errorf("create topic %q on %s: %w", topic, addr, err)
	}
	var last error
	for {
		n, err := leaders(ctx, c, topic)
		if err == nil && n == partitions {
			return nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("%d of %d partitions have a leader", n, partitions)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %q on %s not ready: %w", topic, addr, errors.Join(last, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// leaders returns how many partitions of topic have a leader.
func leaders(ctx context.Context, c *kafka.Client, topic string) (int, error) {
	parts, err := partitions(ctx, c, topic)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range parts {
		if p.Error == nil && p.Leader.Port != 0 {
			n++
		}
	}
	return n, nil
}

func partitions(ctx context.Context, c *kafka.Client, topic string) ([]kafka.Partition, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata for topic %q: %w", topic, err)
	}
	for _, tp := range md.Topics {
		if tp.Name != topic {
			continue
		}
		if tp.Error != nil {
			return nil, fmt.Errorf("metadata for topic %q: %w", topic, tp.Error)
		}
		return tp.Partitions, nil
	}
	return nil, fmt.Errorf("metadata for topic %q: topic missing from the response", topic)
}

// client returns a kafka-go client with a transport of its own: the default
// transport caches metadata per address, which would outlive a broker restart
// or a new broker reusing a port.
func client(addr string) (*kafka.Client, func()) {
	tr := &kafka.Transport{}
	return &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second, Transport: tr}, tr.CloseIdleConnections
}
