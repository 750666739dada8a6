package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshtel/meshtel/aggregate"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/record"
)

var (
	generationRE = regexp.MustCompile(`msg="consumer group generation" group=\S+ generation=(\d+) member=("(?:[^"\\]|\\.)*"|\S+)`)
	restoredRE   = regexp.MustCompile(`^time=(\S+) level=INFO msg="partition restored" partition=(\d+) next_offset=(\d+)`)
)

// lastGeneration returns the generation and member id an aggregator's log
// names last.
func (p *aggProcess) lastGeneration(t *testing.T) (int, string) {
	t.Helper()
	ms := generationRE.FindAllStringSubmatch(p.log(), -1)
	if len(ms) == 0 {
		t.Fatalf("no generation in the log:\n%s", p.log())
	}
	g, _ := strconv.Atoi(ms[len(ms)-1][1])
	member := ms[len(ms)-1][2]
	if m, err := strconv.Unquote(member); err == nil {
		member = m // kafka-go's member ids hold spaces: slog quotes them
	}
	return g, member
}

type restore struct {
	at        time.Time
	partition int
	next      int64
}

func (p *aggProcess) restores(t *testing.T) []restore {
	t.Helper()
	var out []restore
	for _, line := range strings.Split(p.log(), "\n") {
		m := restoredRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatal(err)
		}
		part, _ := strconv.Atoi(m[2])
		next, _ := strconv.ParseInt(m[3], 10, 64)
		out = append(out, restore{at, part, next})
	}
	return out
}

// owned is how many partitions an aggregator answers for.
func (p *aggProcess) owned() float64 { return metric(p.admin, "alsd_aggregate_partitions") }

func waitCond(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestZombieAggregator freezes an aggregator with SIGSTOP beyond its
// session timeout while records stream in, so the group moves its
// partitions to the other; then SIGCONT, and the group rebalances again.
// The zombie writes no checkpoint for the partitions it lost, no restore
// goes back in time, and the totals stay exact.
func TestZombieAggregator(t *testing.T) {
	const partitions = 6
	b := kafkatest.FromEnv(t)
	b.CreateTopic(t, recordTopic, partitions, nil)
	p := startAlsd(t, "--kafka-brokers", b.Addr, "--state-dir", t.TempDir())
	// The zombie checkpoints only when it hands partitions over: frozen, it
	// holds records counted since, a state older than its successor's.
	z := startAggregate(t, b.Addr, "--checkpoint-interval", "1m")
	o := startAggregate(t, b.Addr)
	waitCond(t, 30*time.Second, "both aggregators own partitions", func() bool {
		return z.owned() > 0 && o.owned() > 0 && z.owned()+o.owned() == partitions
	})

	sent := make(chan struct{})
	go func() { defer close(sent); simulate(t, p.als, nil, 3, 800, 24000) }()
	time.Sleep(3 * time.Second)
	gen, member := z.lastGeneration(t)
	if err := z.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitCond(t, 30*time.Second, "the other aggregator owns every partition", func() bool { return o.owned() == partitions })
	t.Logf("the group moved the partitions of %s (generation %d) after %s", member, gen, time.Since(stopped).Round(time.Millisecond))
	time.Sleep(3 * time.Second) // the new owner checkpoints past the zombie's state
	if err := z.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	// It answers for nothing it may have lost: the coordinator has not
	// confirmed its partitions for longer than a session.
	if c, err := aggregatorCounts(z); err != nil || len(c) != 0 {
		t.Errorf("the resumed zombie answers for %s (%v)", c, err)
	}
	if code := httpStatus(z.admin + "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("the resumed zombie's /readyz = %d, want 503", code)
	}
	waitCond(t, 30*time.Second, "the zombie rejoins", func() bool {
		g, _ := z.lastGeneration(t)
		return g > gen && z.owned() > 0 && z.owned()+o.owned() == partitions
	})
	<-sent
	waitMetric(t, p, "alsd_spool_bytes", 0)
	waitExact(t, 60*time.Second, alsdCounts(t, p), z, o)

	checkState(t, b.Addr, member, gen, resumed, append(z.restores(t), o.restores(t)...))
	t.Logf("commits refused to the zombie: %v; stale checkpoints passed over at restore: %v",
		metric(z.admin, "alsd_aggregate_commits_refused_total"),
		metric(z.admin, "alsd_aggregate_checkpoint_stale_total")+metric(o.admin, "alsd_aggregate_checkpoint_stale_total"))
}

// checkState reads every checkpoint of the state topic: none may come
// from the zombie's lost generation after it resumed, and no restore may
// have resumed behind a checkpoint written before it.
func checkState(t *testing.T, addr, member string, gen int, resumed time.Time, restores []restore) {
	t.Helper()
	msgs := kafkatest.ReadAll(t, addr, stateTopic, 1, 30*time.Second)
	type written struct {
		at   time.Time
		info aggregate.CheckpointInfo
	}
	byPartition := map[int][]written{}
	for _, m := range msgs {
		info, err := aggregate.DecodeCheckpointInfo(m.Value)
		if err != nil {
			t.Fatalf("state topic %d/%d: %v", m.Partition, m.Offset, err)
		}
		byPartition[info.Partition] = append(byPartition[info.Partition], written{m.Time, info})
		if info.Member == member && info.Generation == gen && m.Time.After(resumed) {
			t.Errorf("the zombie wrote a checkpoint of partition %d (next offset %d) after it resumed, in its lost generation %d",
				info.Partition, info.NextOffset, gen)
		}
	}
	if len(restores) == 0 {
		t.Fatal("no restore in the logs")
	}
	for _, r := range restores {
		var newest int64
		for _, w := range byPartition[r.partition] {
			// Log and Kafka timestamps come from one clock, in ms.
			if w.at.Before(r.at.Add(-50 * time.Millisecond)) {
				newest = max(newest, w.info.NextOffset)
			}
		}
		if r.next < newest {
			t.Errorf("partition %d restored at %s from offset %d, behind the checkpoint at %d written before", r.partition, r.at.Format(time.RFC3339Nano), r.next, newest)
		}
	}
	t.Logf("%d checkpoints, %d restores checked", len(msgs), len(restores))
}

// TestIDsAcrossRestarts runs alsd three times on one state dir — stopped
// with SIGTERM, then SIGKILL mid-stream, then SIGTERM — and checks every
// record on Kafka: one ingester id throughout (the one alsd logs), no id
// shared by two records, and every run's sequences after the last run's.
func TestIDsAcrossRestarts(t *testing.T) {
	b := kafkatest.FromEnv(t, recordTopic)
	state := t.TempDir()
	var ingesters []string
	for run := 1; run <= 3; run++ {
		p := startAlsd(t, "--kafka-brokers", b.Addr, "--state-dir", state)
		_, rest, _ := strings.Cut(p.log(), "ingester=")
		ingesters = append(ingesters, strings.Fields(rest + " ")[0])
		cat, err := catalog.Parse("runs.yaml", fmt.Appendf(nil, "services:\n  - http_service: run%d\n    port: 8080\n", run))
		if err != nil {
			t.Fatal(err)
		}
		if run == 2 {
			go simulate(t, p.als, cat, uint64(run), 1000, 0)
			time.Sleep(2 * time.Second)
			_ = p.cmd.Process.Kill()
			<-p.exited
			continue
		}
		simulate(t, p.als, cat, uint64(run), 2000, 2000)
		waitMetric(t, p, "alsd_spool_bytes", 0)
		p.stop(t, syscall.SIGTERM)
	}
	if ingesters[0] == "" || ingesters[1] != ingesters[0] || ingesters[2] != ingesters[0] {
		t.Fatalf("ingester ids of the three runs: %q", ingesters)
	}
	ids, msgs := topicIDs(t, b.Addr, 4000)
	lo, hi := map[string]uint64{}, map[string]uint64{}
	for _, m := range kafkatest.ReadAll(t, b.Addr, recordTopic, msgs, 30*time.Second) {
		var id []byte
		for _, h := range m.Headers {
			if h.Key == record.HeaderID {
				id = h.Value
			}
		}
		ing, seq, _ := record.ParseID(id)
		if string(ing) != ingesters[0] {
			t.Fatalf("record of ingester %q, want %q", ing, ingesters[0])
		}
		run := string(m.Key)
		if lo[run] == 0 || seq < lo[run] {
			lo[run] = seq
		}
		hi[run] = max(hi[run], seq)
	}
	t.Logf("%d messages, %d ids; sequences per run: run1 %d-%d, run2 %d-%d, run3 %d-%d", msgs, len(ids),
		lo["run1"], hi["run1"], lo["run2"], hi["run2"], lo["run3"], hi["run3"])
	if hi["run1"] >= lo["run2"] || hi["run2"] >= lo["run3"] || lo["run2"] == 0 {
		t.Error("a run's sequences do not all come after the previous run's")
	}
}
