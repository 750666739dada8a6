package aggregate

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// A checkpoint is one message of the state topic: the SLI, cookie and
// dependency-edge state of one record partition, the record ids it
// counted, and the offset of the first record it does not include. Its
// framing:
//
//	"MTAGG3\n"
//	uvarint length, header (JSON of checkpointHeader)
//	uvarint length, sli.State in its binary form
//	uvarint length, the cookie inventory's binary form
//	uvarint length, edges.State in its binary form
//	uvarint length, the seen-id set's binary form
//	CRC-32C (Castagnoli) of everything before it, big endian
//
// The state and the offset travel in one message, so a reader sees both
// or neither: that is what makes resuming exact. Older checkpoints still
// load: "MTAGG1\n" ones, written before records had ids, have no seen-id
// set and, when written before edges were counted, no edge state either
// (three parts instead of four); "MTAGG2\n" ones, written by aggregators
// that had ids but no edges, hold header, SLI, cookies and seen ids.
const (
	checkpointMagic   = "MTAGG3\n"
	checkpointMagicV2 = "MTAGG2\n"
	checkpointMagicV1 = "MTAGG1\n"
)

// maxCheckpointPart bounds each length field, so a damaged length cannot
// make the decoder allocate without limit.
const maxCheckpointPart = 1 << 30

// ErrCorruptCheckpoint is wrapped by decoding errors of a state-topic
// message.
var ErrCorruptCheckpoint = errors.New("corrupt aggregator checkpoint")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkpointHeader says what the state belongs to.
type checkpointHeader struct {
	Topic      string    `json:"topic"`       // the record topic
	Partition  int       `json:"partition"`   // its partition
	NextOffset int64     `json:"next_offset"` // first record the state does not include
	SavedAt    time.Time `json:"saved_at"`
	Member     string    `json:"member,omitempty"` // consumer group member that wrote it, for operators
	// Generation is the consumer group generation the writer owned the
	// partition in: the epoch that orders checkpoints of one offset.
	Generation int `json:"generation,omitempty"`
}

// checkpoint is a decoded state-topic message.
type checkpoint struct {
	checkpointHeader
	SLI     []byte // sli.State.MarshalBinary
	Cookies []byte // cookies.Inventory.MarshalBinary
	Edges   []byte // edges.State.MarshalBinary; nil from a checkpoint written before edges were counted
	Seen    []byte // seen.MarshalBinary; nil from a checkpoint written before records had ids
}

func (c *checkpoint) marshal() ([]byte, error) {
	hdr, err := json.Marshal(c.checkpointHeader)
	if err != nil {
		return nil, fmt.Errorf("encode checkpoint header: %w", err)
	}
	b := make([]byte, 0, len(checkpointMagic)+len(hdr)+len(c.SLI)+len(c.Cookies)+len(c.Edges)+len(c.Seen)+5*binary.MaxVarintLen64+4)
	b = append(b, checkpointMagic...)
	for _, part := range [][]byte{hdr, c.SLI, c.Cookies, c.Edges, c.Seen} {
		if len(part) > maxCheckpointPart {
			return nil, fmt.Errorf("checkpoint part of %d bytes exceeds %d", len(part), maxCheckpointPart)
		}
		b = binary.AppendUvarint(b, uint64(len(part)))
		b = append(b, part...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// unmarshalCheckpoint decodes a state-topic message value of any
// version. Any damage is an error wrapping ErrCorruptCheckpoint.
func unmarshalCheckpoint(data []byte) (*checkpoint, error) {
	if len(data) < len(checkpointMagic)+4 {
		return nil, fmt.Errorf("%w: bad magic", ErrCorruptCheckpoint)
	}
	var hdr []byte
	c := &checkpoint{}
	// parts are where each length-prefixed part goes, in order; the
	// first required of them must be present, the rest may be absent.
	var parts []*[]byte
	var required int
	switch string(data[:len(checkpointMagic)]) {
	case checkpointMagic:
		parts, required = []*[]byte{&hdr, &c.SLI, &c.Cookies, &c.Edges, &c.Seen}, 5
	case checkpointMagicV2:
		parts, required = []*[]byte{&hdr, &c.SLI, &c.Cookies, &c.Seen}, 4
	case checkpointMagicV1:
		parts, required = []*[]byte{&hdr, &c.SLI, &c.Cookies, &c.Edges}, 3
	default:
		return nil, fmt.Errorf("%w: bad magic", ErrCorruptCheckpoint)
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorruptCheckpoint)
	}
	rest := body[len(checkpointMagic):]
	for i, part := range parts {
		if i >= required && len(rest) == 0 {
			break // an optional part the writer did not have yet
		}
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > maxCheckpointPart || n > uint64(len(rest)-k) {
			return nil, fmt.Errorf("%w: bad length of part %d", ErrCorruptCheckpoint, i)
		}
		*part, rest = rest[k:k+int(n)], rest[k+int(n):]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last part", ErrCorruptCheckpoint, len(rest))
	}
	if err := json.Unmarshal(hdr, &c.checkpointHeader); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrCorruptCheckpoint, err)
	}
	if c.Partition < 0 || c.NextOffset < 0 {
		return nil, fmt.Errorf("%w: partition %d, next offset %d", ErrCorruptCheckpoint, c.Partition, c.NextOffset)
	}
	return c, nil
}

// stateKey is the state-topic key of a record partition's checkpoints.
func stateKey(partition int) []byte { return strconv.AppendInt(nil, int64(partition), 10) }

// keyPartition sends a checkpoint to the state-topic partition its key
// names, so every state partition holds the checkpoints of one record
// partition and its newest message is the one to restore.
type keyPartition struct{}

func (keyPartition) Balance(msg kafka.Message, partitions ...int) int {
	if len(partitions) == 0 {
		return 0
	}
	p, err := strconv.Atoi(string(msg.Key))
	if err != nil || p < 0 {
		return partitions[0]
	}
	return partitions[p%len(partitions)]
}

var _ kafka.Balancer = keyPartition{}

// ensureStateTopic returns the partition count of the record topic, and
// creates the state topic (compacted, as many partitions) when it is
// missing. A state topic with fewer partitions than the record topic is
// an error: checkpoints of two record partitions would share one.
func (a *Aggregator) ensureStateTopic(ctx context.Context) (int, error) {
	n, err := a.partitionCount(ctx, a.cfg.Topic)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("record topic %q does not exist", a.cfg.Topic)
	}
	m, err := a.partitionCount(ctx, a.cfg.StateTopic)
	if err != nil {
		return 0, err
	}
	if m == 0 {
		resp, err := a.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
			Topic:             a.cfg.StateTopic,
			NumPartitions:     n,
			ReplicationFactor: a.cfg.StateReplicationFactor,
			ConfigEntries: []kafka.ConfigEntry{
				{ConfigName: "cleanup.policy", ConfigValue: "compact"},
				// A checkpoint holds every cookie sketch of its services:
				// larger than the 1 MB default allows.
				{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(maxMessageBytes)},
				// Small segments get compacted soon, so a restore never
				// has to skip far.
				{ConfigName: "segment.bytes", ConfigValue: strconv.Itoa(64 << 20)},
			},
		}}})
		if err == nil {
			err = resp.Errors[a.cfg.StateTopic]
		}
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return 0, fmt.Errorf("create state topic %q: %w", a.cfg.StateTopic, err)
		}
		a.log.Info("created the aggregator state topic", "topic", a.cfg.StateTopic, "partitions", n)
		if m, err = a.waitPartitions(ctx, a.cfg.StateTopic, n); err != nil {
			return 0, err
		}
	}
	if m < n {
		return 0, fmt.Errorf("state topic %q has %d partitions, fewer than the %d of record topic %q: add partitions to it", a.cfg.StateTopic, m, n, a.cfg.Topic)
	}
	return n, nil
}

// maxMessageBytes is the largest checkpoint the state topic accepts.
const maxMessageBytes = 64 << 20

// partitionCount returns how many partitions topic has with a leader; 0
// when the topic does not exist.
func (a *Aggregator) partitionCount(ctx context.Context, topic string) (int, error) {
	md, err := a.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("metadata of topic %q: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return 0, nil
		}
		if t.Error != nil {
			return 0, fmt.Errorf("metadata of topic %q: %w", topic, t.Error)
		}
		return len(t.Partitions), nil
	}
	return 0, nil
}

// waitPartitions waits until a new topic shows its n partitions.
func (a *Aggregator) waitPartitions(ctx context.Context, topic string, n int) (int, error) {
	for {
		m, err := a.partitionCount(ctx, topic)
		if err == nil && m >= n {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("topic %q not ready: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// restoreTail is how many of a state partition's last messages a restore
// weighs against each other.
const restoreTail = 8

// latestCheckpoint returns the most advanced valid checkpoint of partition
// p, or nil when there is none: of the last restoreTail messages, the one
// with the highest next offset (then generation, then the later written).
// Normally that is the last message; it is not when a member that lost the
// partition wrote after its new owner (the offset-commit fence makes that
// rare, not impossible), and then the restore does not go back in time.
// When none of them is intact, older ones are read: any intact checkpoint
// is consistent with its own offset, so resuming from it stays exact.
func (a *Aggregator) latestCheckpoint(ctx context.Context, p int) (*checkpoint, error) {
	resp, err := a.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		a.cfg.StateTopic: {kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p)},
	}})
	if err != nil {
		return nil, fmt.Errorf("offsets of state partition %d: %w", p, err)
	}
	var first, end int64 = -1, -1
	for _, po := range resp.Topics[a.cfg.StateTopic] {
		if po.Partition != p {
			continue
		}
		if po.Error != nil {
			return nil, fmt.Errorf("offsets of state partition %d: %w", p, po.Error)
		}
		first, end = po.FirstOffset, po.LastOffset
	}
	if first < 0 || end < 0 {
		return nil, fmt.Errorf("offsets of state partition %d: no answer", p)
	}
	if end <= first {
		return nil, nil
	}
	from := max(first, end-restoreTail)
	if c, err := a.readCheckpoints(ctx, p, from, end); err != nil || c != nil {
		return c, err
	}
	if from <= first {
		return nil, nil
	}
	return a.readCheckpoints(ctx, p, first, from)
}

// readCheckpoints reads state partition p from offset from up to end
// (exclusive) and returns the most advanced valid checkpoint of record
// partition p among them.
func (a *Aggregator) readCheckpoints(ctx context.Context, p int, from, end int64) (*checkpoint, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     a.cfg.Brokers,
		Topic:       a.cfg.StateTopic,
		Partition:   p,
		Dialer:      a.cfg.Dialer,
		MinBytes:    1,
		MaxBytes:    maxMessageBytes,
		MaxWait:     100 * time.Millisecond,
		ErrorLogger: kafka.LoggerFunc(a.kafkaLog),
	})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return nil, err
	}
	var last *checkpoint
	for from < end {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read state partition %d at offset %d: %w", p, from, err)
		}
		from = m.Offset + 1
		if string(m.Key) != string(stateKey(p)) {
			continue
		}
		c, err := unmarshalCheckpoint(m.Value)
		if err == nil && (c.Topic != a.cfg.Topic || c.Partition != p) {
			err = fmt.Errorf("%w: it is for topic %q partition %d", ErrCorruptCheckpoint, c.Topic, c.Partition)
		}
		if err != nil {
			a.metrics.checkpointCorrupt.Inc()
			a.log.Error("corrupt checkpoint skipped", "state_topic", a.cfg.StateTopic, "partition", p, "offset", m.Offset, "err", err)
			continue
		}
		if last != nil && (c.NextOffset < last.NextOffset || c.NextOffset == last.NextOffset && c.Generation < last.Generation) {
			a.metrics.checkpointStale.Inc()
			a.log.Warn("stale checkpoint skipped: a newer state was written before it (by a member that had lost the partition)",
				"state_topic", a.cfg.StateTopic, "partition", p, "offset", m.Offset, "next_offset", c.NextOffset,
				"generation", c.Generation, "member", c.Member, "newer_next_offset", last.NextOffset)
			continue
		}
		last = c
	}
	return last, nil
}

// writeCheckpoint produces c to the state topic and waits for all in-sync
// replicas to have it.
func (a *Aggregator) writeCheckpoint(ctx context.Context, c *checkpoint) error {
	value, err := c.marshal()
	if err != nil {
		return err
	}
	err = a.writer.WriteMessages(ctx, kafka.Message{Key: stateKey(c.Partition), Value: value})
	if err != nil {
		return fmt.Errorf("write checkpoint of partition %d to %q: %w", c.Partition, a.cfg.StateTopic, err)
	}
	a.metrics.checkpointBytes.Observe(float64(len(value)))
	return nil
}

// CheckpointInfo says what one state-topic message is a checkpoint of,
// for operators' tools and tests that watch the state topic.
type CheckpointInfo struct {
	Topic      string    // the record topic
	Partition  int       // its partition
	NextOffset int64     // the first record the state does not include
	SavedAt    time.Time // the writer's clock
	Member     string    // the consumer group member that wrote it
	Generation int       // the group generation it wrote it in
}

// DecodeCheckpointInfo decodes what a state-topic message value is a
// checkpoint of; damage is an error wrapping ErrCorruptCheckpoint.
func DecodeCheckpointInfo(value []byte) (CheckpointInfo, error) {
	c, err := unmarshalCheckpoint(value)
	if err != nil {
		return CheckpointInfo{}, err
	}
	h := c.checkpointHeader
	return CheckpointInfo{Topic: h.Topic, Partition: h.Partition, NextOffset: h.NextOffset, SavedAt: h.SavedAt,
		Member: h.Member, Generation: h.Generation}, nil
}
