package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/internal/kafkatest"
)

// A produce call that times out while others succeed means a slow broker,
// not a down one: new records keep going to Kafka. Without a recent
// success the same timeout sends them to the spool at once.
func TestSlowIsNotDown(t *testing.T) {
	t.Parallel()
	b := kafkatest.FromEnv(t, testTopic)
	s := startSink(t, b.Addr, t.TempDir(), nil)
	s.Submit(testMessages("warm", 10))
	s.waitProduced(t, 10)

	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err := s.produce(expired, pathLive, testMessages("late", 5))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("produce with an expired deadline: %v", err)
	}
	if s.failing.Load() {
		t.Error("one timeout among successes marked Kafka as failing")
	}
	s.healthMu.Lock()
	s.lastOKAt = time.Now().Add(-time.Minute)
	s.healthMu.Unlock()
	_ = s.produce(expired, pathLive, testMessages("late", 5))
	if !s.failing.Load() {
		t.Error("timeouts without any success did not mark Kafka as failing")
	}
}

// The replay waits while live records are slow to produce, and delivers
// the spool once they are not.
func TestReplayYieldsToLive(t *testing.T) {
	t.Parallel()
	b := kafkatest.FromEnv(t, testTopic)
	s := startSink(t, b.Addr, t.TempDir(), nil)
	press, stop := context.WithCancel(context.Background())
	pressed := make(chan struct{})
	go func() {
		defer close(pressed)
		for press.Err() == nil {
			s.pace.live(s.cfg.DeliveryTimeout) // a live produce as slow as the timeout
			sleep(press, 50*time.Millisecond)
		}
	}()
	for !s.pressed() {
		time.Sleep(10 * time.Millisecond)
	}
	s.toSpool(testMessages("backlog", 200), spoolKafkaError)
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(s.m.replayYields) < 5 {
		if time.Now().After(deadline) {
			t.Fatal("the replay did not yield to pressed live traffic")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := testutil.ToFloat64(s.m.replayed); n != 0 {
		t.Errorf("%v records replayed while live records were pressed", n)
	}
	stop()
	<-pressed
	s.pace.latency.Store(0)
	s.waitProduced(t, 200)
	if s.Spooled() != 0 {
		t.Errorf("%d bytes still spooled", s.Spooled())
	}
}

// slowConn delays every read, as a broker at its limit answers late.
type slowConn struct {
	net.Conn
	delay time.Duration
}

func (c slowConn) Read(b []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Conn.Read(b)
}

// Records whose produce call outlives their delivery timeout are spooled,
// and when the call delivers them after all, the replay does not send them
// again: a slow broker gets each record once, not twice.
func TestStragglersNotReplayed(t *testing.T) {
	t.Parallel()
	b := kafkatest.FromEnv(t, testTopic)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return slowConn{c, 150 * time.Millisecond}, nil
	}
	s := startSink(t, b.Addr, t.TempDir(), func(c *Config) {
		c.DeliveryTimeout = 50 * time.Millisecond
		c.Transport = &kafka.Transport{Dial: dial, MetadataTTL: time.Minute}
	})
	for i := range 10 {
		s.Submit(testMessages(fmt.Sprintf("slow-%d", i), 20))
		time.Sleep(20 * time.Millisecond)
	}
	s.waitProduced(t, 200)
	deadline := time.Now().Add(30 * time.Second)
	for s.Spooled() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	spooled := testutil.ToFloat64(s.m.spooled.WithLabelValues(spoolTimeout))
	landed, replayed := testutil.ToFloat64(s.m.landed), testutil.ToFloat64(s.m.replayed)
	t.Logf("200 records: %v spooled after their delivery timeout, %v of them delivered by their own call, %v replayed", spooled, landed, replayed)
	if spooled == 0 {
		t.Fatal("no record outlived the delivery timeout: the test measures nothing")
	}
	if landed+replayed != spooled {
		t.Errorf("spooled %v = landed %v + replayed %v does not hold", spooled, landed, replayed)
	}
	s.stop()
	msgs := kafkatest.ReadAll(t, b.Addr, testTopic, 200, 30*time.Second)
	if len(msgs) != 200 {
		t.Errorf("%d messages on Kafka, want the 200 sent once each", len(msgs))
	}
}
