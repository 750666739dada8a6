package aggregate

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/record"
)

// idMessages encodes recs as an ingester does: meshtel-id in acceptance
// order from first, meshtel-prev linking each service's records; last
// carries the chains across calls.
func idMessages(ingester string, first uint64, last map[string]uint64, recs []*record.Record) []kafka.Message {
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		seq := first + uint64(i)
		hs := []kafka.Header{
			{Key: record.HeaderContentType, Value: []byte(record.JSON.ContentType())},
			{Key: record.HeaderID, Value: record.ID{Ingester: ingester, Seq: seq}.Append(nil)},
		}
		if p := last[r.Service]; p != 0 {
			hs = append(hs, kafka.Header{Key: record.HeaderPrev, Value: strconv.AppendUint(nil, p, 10)})
		}
		last[r.Service] = seq
		msgs[i] = kafka.Message{Key: []byte(r.Service), Value: record.AppendJSON(nil, r), Headers: hs}
	}
	return msgs
}

func write(t *testing.T, addr string, msgs []kafka.Message) {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections() // after the writer's Close: it leaves them open
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: testTopic, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, Transport: tr}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// Records sent twice — a retry right after the first copy, a spool replay
// long after it, across a crash and a restore on another member — count
// once, and the aggregators say how many copies they dropped; records with
// the same sequence from another ingester are not duplicates.
func TestDuplicatesCountedOnce(t *testing.T) {
	t.Parallel()
	b := kafkatest.FromEnv(t)
	b.CreateTopic(t, testTopic, testPartitions, nil)
	cat := testCatalog(t)
	ref := newReference(t, cat)

	a := startMember(t, b.Addr, cat, 200*time.Millisecond, nil)
	waitOwners(t, 20*time.Second, a)
	chainsA, chainsB := map[string]uint64{}, map[string]uint64{}
	first := workload(11, 1500)
	msgs := idMessages("ing-a", 1, chainsA, first)
	// Ingester b numbers from 1 too: same sequences, other records.
	other := workload(12, 500)
	otherMsgs := idMessages("ing-b", 1, chainsB, other)
	ref.add(first)
	ref.add(other)
	retried := msgs[100:160]
	write(t, b.Addr, msgs[:160])
	write(t, b.Addr, retried)
	write(t, b.Addr, msgs[160:])
	write(t, b.Addr, otherMsgs)
	waitTotals(t, 20*time.Second, ref, a)

	// a dies past its last checkpoint; b restores and gets the replays of
	// records a had counted.
	a.crash()
	bm := startMember(t, b.Addr, cat, 200*time.Millisecond, nil)
	waitOwners(t, 30*time.Second, bm)
	replayed := append(append([]kafka.Message(nil), msgs[:300]...), otherMsgs[400:]...)
	write(t, b.Addr, replayed)
	later := workload(13, 500)
	ref.add(later)
	write(t, b.Addr, idMessages("ing-a", 1501, chainsA, later))
	waitTotals(t, 20*time.Second, ref, bm)
	checkEqual(t, ref, bm)

	dropped := counterWith(t, a.reg, metricSkipped, reasonDuplicate) + counterWith(t, bm.reg, metricSkipped, reasonDuplicate)
	t.Logf("copies sent twice: %d retried + %d replayed; dropped as duplicates: %v (some by both members: a's uncheckpointed tail is consumed again by b)",
		len(retried), len(replayed), dropped)
	if got := counterWith(t, bm.reg, metricSkipped, reasonDuplicate); got < float64(len(replayed)) {
		t.Errorf("b dropped %v duplicates, want at least the %d replayed", got, len(replayed))
	}
}

// counterWith returns the value of counter name with label value lv.
func counterWith(t *testing.T, reg *prometheus.Registry, name, lv string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == lv {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
