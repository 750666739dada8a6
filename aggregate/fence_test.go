package aggregate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/internal/kafkatest"
)

// freezer stops an aggregator's conversation with Kafka as SIGSTOP would:
// while frozen, every read, write and dial of its connections waits; thawed,
// they carry on as if nothing happened — with whatever they had in hand.
type freezer struct {
	mu     sync.Mutex
	frozen chan struct{} // closed when thawed; nil while running
}

func (f *freezer) wait() {
	f.mu.Lock()
	c := f.frozen
	f.mu.Unlock()
	if c != nil {
		<-c
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	f.frozen = make(chan struct{})
	f.mu.Unlock()
}

func (f *freezer) thaw() {
	f.mu.Lock()
	close(f.frozen)
	f.frozen = nil
	f.mu.Unlock()
}

func (f *freezer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	f.wait()
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return frozenConn{c, f}, nil
}

type frozenConn struct {
	net.Conn
	f *freezer
}

func (c frozenConn) Read(b []byte) (int, error)  { c.f.wait(); return c.Conn.Read(b) }
func (c frozenConn) Write(b []byte) (int, error) { c.f.wait(); return c.Conn.Write(b) }

// restoreLog records every restore of a test's members.
type restoreLog struct {
	mu     sync.Mutex
	events []restoreEvent
}

type restoreEvent struct {
	p    int
	next int64
	at   time.Time
}

func (l *restoreLog) add(p int, next int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, restoreEvent{p, next, time.Now()})
}

func startFreezable(t *testing.T, addr string, cat *catalog.Catalog, interval time.Duration, restores *restoreLog) (*member, *freezer) {
	t.Helper()
	f := &freezer{}
	reg := prometheus.NewRegistry()
	tr := &kafka.Transport{Dial: f.dial}
	// Registered before the member's cleanup, so it runs after: the
	// transport's connections outlive the writer that used them.
	t.Cleanup(tr.CloseIdleConnections)
	a, err := New(Config{
		Brokers: []string{addr}, Topic: testTopic, Group: "test-aggregate", SessionTimeout: sessionTimeout,
		CheckpointInterval: interval, Catalog: cat,
		Dialer:     &kafka.Dialer{Timeout: 5 * time.Second, DialFunc: f.dial},
		Transport:  tr,
		Registerer: reg, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	a.afterRestore = restores.add
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{Aggregator: a, ks: &killSwitch{}, cancel: cancel, done: make(chan error, 1), reg: reg}
	go func() { m.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		f.mu.Lock()
		if f.frozen != nil {
			close(f.frozen)
			f.frozen = nil
		}
		f.mu.Unlock()
		cancel()
		<-m.done
	})
	return m, f
}

// stateMessage is one checkpoint as the state topic holds it.
type stateMessage struct {
	*checkpoint
	at time.Time // Kafka timestamp: when it was written
}

func readState(t *testing.T, addr string) map[int][]stateMessage {
	t.Helper()
	msgs := kafkatest.ReadAll(t, addr, DefaultStateTopic, 0, 30*time.Second)
	out := map[int][]stateMessage{}
	for _, m := range msgs {
		c, err := unmarshalCheckpoint(m.Value)
		if err != nil {
			t.Fatalf("state topic %d/%d: %v", m.Partition, m.Offset, err)
		}
		out[c.Partition] = append(out[c.Partition], stateMessage{c, m.Time})
	}
	return out
}

// TestZombieFenced freezes an aggregator beyond its session timeout while
// records stream in, so the group gives its partitions to the other; thawed,
// the zombie must not answer for them, must write no checkpoint for them,
// and the rebalance that follows must restore no partition back in time;
// totals stay exact throughout.
func TestZombieFenced(t *testing.T) {
	t.Parallel()
	b := kafkatest.FromEnv(t)
	b.CreateTopic(t, testTopic, testPartitions, nil)
	cat := testCatalog(t)
	ref := newReference(t, cat)
	restores := &restoreLog{}

	// The zombie checkpoints rarely: when frozen it holds records counted
	// after its last checkpoint, a state older than what its successor
	// will write.
	z, zf := startFreezable(t, b.Addr, cat, time.Minute, restores)
	waitOwners(t, 20*time.Second, z)
	o, _ := startFreezable(t, b.Addr, cat, 200*time.Millisecond, restores)
	waitOwners(t, 30*time.Second, z, o)
	batch := workload(21, 2000)
	produce(t, b.Addr, batch)
	ref.add(batch)
	waitTotals(t, 20*time.Second, ref, z, o)
	zombieParts := z.Partitions()

	zf.freeze()
	frozenAt := time.Now()
	waitOwners(t, 4*sessionTimeout, o)
	t.Logf("the group moved the zombie's partitions %v after %s", zombieParts, time.Since(frozenAt).Round(time.Millisecond))
	batch = workload(22, 2000)
	produce(t, b.Addr, batch)
	ref.add(batch)
	waitTotals(t, 20*time.Second, ref, o)
	// o checkpoints what it counted: every state partition now holds a
	// newer state than the zombie's.
	time.Sleep(3 * 200 * time.Millisecond)

	zf.thaw()
	thawedAt := time.Now()
	if got := z.Partitions(); len(got) != 0 {
		t.Errorf("thawed zombie answers for partitions %v", got)
	}
	if ok, text := z.Ready(); ok {
		t.Errorf("thawed zombie ready: %s", text)
	}
	// It rejoins: another rebalance splits the partitions again.
	waitOwners(t, 4*sessionTimeout, z, o)
	batch = workload(23, 1000)
	produce(t, b.Addr, batch)
	ref.add(batch)
	waitTotals(t, 20*time.Second, ref, z, o)
	checkEqual(t, ref, z, o)

	checkFenced(t, readState(t, b.Addr), restores, frozenAt, thawedAt)
}

// checkFenced asserts what fencing promises, from the state topic and the
// restores: in each state partition the next offsets never go down (a
// stale write would), none was written by a generation ended by the
// freeze after the thaw, and every restore resumed from at least the most
// advanced checkpoint written before it.
func checkFenced(t *testing.T, state map[int][]stateMessage, restores *restoreLog, frozenAt, thawedAt time.Time) {
	t.Helper()
	maxGenBefore := 0
	for _, msgs := range state {
		for _, m := range msgs {
			if m.at.Before(frozenAt) {
				maxGenBefore = max(maxGenBefore, m.Generation)
			}
		}
	}
	for p, msgs := range state {
		for i, m := range msgs {
			if i > 0 && m.NextOffset < msgs[i-1].NextOffset {
				t.Errorf("state partition %d: checkpoint %d (generation %d, %s) goes back from offset %d to %d",
					p, i, m.Generation, m.Member, msgs[i-1].NextOffset, m.NextOffset)
			}
			if m.at.After(thawedAt) && m.Generation <= maxGenBefore {
				t.Errorf("state partition %d: checkpoint of generation %d (%s) written after the thaw", p, m.Generation, m.Member)
			}
		}
	}
	restores.mu.Lock()
	defer restores.mu.Unlock()
	for _, r := range restores.events {
		var newest int64
		for _, m := range state[r.p] {
			if m.at.Before(r.at.Add(-100 * time.Millisecond)) {
				newest = max(newest, m.NextOffset)
			}
		}
		if r.next < newest {
			t.Errorf("partition %d restored at offset %d, behind the checkpoint at %d written before", r.p, r.next, newest)
		}
	}
	if len(restores.events) == 0 {
		t.Error("no restore recorded")
	}
}

// A restore weighs the last checkpoints against each other: a stale one
// written last (by a member that lost the partition) does not win over a
// more advanced one written before it, nor does an older generation of the
// same offset.
func TestRestorePicksNewest(t *testing.T) {
	t.Parallel()
	b := kafkatest.FromEnv(t)
	b.CreateTopic(t, testTopic, 2, nil)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	a, err := New(Config{Brokers: []string{b.Addr}, Topic: testTopic, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer a.writer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.ensureStateTopic(ctx); err != nil {
		t.Fatal(err)
	}
	write := func(p int, next int64, gen int, member string) {
		c := &checkpoint{checkpointHeader: checkpointHeader{Topic: testTopic, Partition: p, NextOffset: next, Generation: gen, Member: member}}
		if err := a.writeCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 250, 2, "a")
	write(0, 600, 3, "b")
	write(0, 250, 2, "a") // the zombie, last
	write(1, 400, 3, "b")
	write(1, 400, 2, "a")
	for p, want := range map[int]string{0: "b", 1: "b"} {
		c, err := a.latestCheckpoint(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if c == nil || c.Member != want {
			t.Errorf("partition %d restored %+v, want the checkpoint of %s", p, c, want)
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}
