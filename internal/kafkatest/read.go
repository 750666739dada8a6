package kafkatest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReadAll reads topic on the broker at addr from the start of every
// partition, without a consumer group, until it has at least want messages
// and has caught up with every partition's end, and returns all it read:
// more than want when more are there, so callers can count duplicates.
// Messages are ordered by partition, then offset. It fails the test when
// fewer than want arrive within timeout; broker errors before then (the
// broker restarting, say) are retried.
func ReadAll(t testing.TB, addr, topic string, want int, timeout time.Duration) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got, err := readAll(ctx, addr, topic, want)
	if err != nil {
		t.Fatalf("kafkatest: read topic %q on %s: got %d of %d messages in %s: %v", topic, addr, len(got), want, timeout, err)
	}
	return got
}

func readAll(ctx context.Context, addr, topic string, want int) ([]kafka.Message, error) {
	c, done := client(addr)
	defer done()

	readers := map[int]*kafka.Reader{}
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	next := map[int]int64{} // per partition, the next offset to read
	var got []kafka.Message
	for {
		ends, err := offsets(ctx, c, topic)
		if err == nil {
			for p, end := range ends {
				if _, ok := readers[p]; !ok {
					readers[p] = kafka.NewReader(kafka.ReaderConfig{
						Brokers:   []string{addr},
						Topic:     topic,
						Partition: p,
						MinBytes:  1,
						MaxBytes:  16 << 20,
						MaxWait:   100 * time.Millisecond,
					})
					next[p] = end.first
				}
				var msgs []kafka.Message
				msgs, next[p], err = readUpTo(ctx, readers[p], p, next[p], end.last)
				got = append(got, msgs...)
				if err != nil {
					break
				}
			}
		}
		if err == nil && len(got) >= want {
			sort.SliceStable(got, func(i, j int) bool {
				if got[i].Partition != got[j].Partition {
					return got[i].Partition < got[j].Partition
				}
				return got[i].Offset < got[j].Offset
			})
			return got, nil
		}
		if err == nil {
			err = errors.New("all partitions read to their end")
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readUpTo reads partition p from offset from up to end (exclusive) and
// returns the offset to read next. Offsets taken by transaction markers hold
// no message, so a read that finds nothing more for a second ends the round
// early instead of waiting for them.
func readUpTo(ctx context.Context, r *kafka.Reader, p int, from, end int64) ([]kafka.Message, int64, error) {
	var msgs []kafka.Message
	for from < end {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		m, err := r.ReadMessage(rctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return msgs, from, nil
		}
		if err != nil {
			return msgs, from, fmt.Errorf("partition %d at offset %d: %w", p, from, err)
		}
		msgs = append(msgs, m)
		from = m.Offset + 1
	}
	return msgs, from, nil
}

type span struct{ first, last int64 }

// offsets returns each partition's log start and end offsets.
func offsets(ctx context.Context, c *kafka.Client, topic string) (map[int]span, error) {
	parts, err := partitions(ctx, c, topic)
	if err != nil {
		return nil, err
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	resp, err := c.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	ends := map[int]span{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of partition %d: %w", po.Partition, po.Error)
		}
		ends[po.Partition] = span{po.FirstOffset, po.LastOffset}
	}
	if len(ends) != len(parts) {
		return nil, fmt.Errorf("list offsets: %d of %d partitions answered", len(ends), len(parts))
	}
	return ends, nil
}
