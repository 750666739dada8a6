package accesslog

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestSinkThroughputProbe(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := NewSink(SinkConfig{Brokers: c.ListenAddrs(), Topic: "t", SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	val := make([]byte, 800)
	start := time.Now()
	for i := 0; i < 500; i++ {
		msgs := make([]Message, 100)
		for j := range msgs {
			msgs[j] = Message{Key: []byte(fmt.Sprintf("svc%d", j%9)), Value: val, Encoding: JSON, Time: time.Now()}
		}
		s.Submit(msgs)
	}
	for s.m.produced.Desc() != nil {
		time.Sleep(10 * time.Millisecond)
		if time.Since(start) > 20*time.Second {
			break
		}
		var n float64
		n = testutilCounter(s)
		if n >= 50000 {
			break
		}
	}
	t.Logf("elapsed %s produced %v spooled %v", time.Since(start), testutilCounter(s), s.spool.Bytes())
	cancel()
	<-done
}
