package aggregate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
)

// benchRecords are typical inbound sidecar records of 48 services, a
// quarter with a request cookie, encoded as the ingesters encode them.
func benchRecords(n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		svc := fmt.Sprintf("svc-%02d", i%48)
		r := &record.Record{Time: now.Add(-time.Duration(i%3600) * time.Second), Service: svc,
			NodeID: "sidecar~10.0.0.1~" + svc + "-7f~shop", LogName: "als", RouteName: "default",
			UpstreamCluster: "inbound|8080||", UpstreamHost: "10.0.0.9:8080", DownstreamRemoteAddress: "10.0.0.7:51234",
			Protocol: "HTTP/1.1", Method: "GET", Authority: svc + ".example.com", Path: "/api/v1/items",
			Status: []int{200, 200, 200, 503}[i%4], GRPCStatus: -1, DurationMs: float64(i%700) + 0.5, HasDuration: true,
			RequestBytes: 512, ResponseBytes: 2048, UserAgent: "Mozilla/5.0", RequestID: fmt.Sprintf("req-%d", i),
			Direction: record.Inbound, Outcome: outcome.Good}
		if i%4 == 0 {
			r.Cookies = []httpcookie.Observation{{Name: "sid", Source: httpcookie.Request, ValueClass: httpcookie.Opaque}}
		}
		msgs[i] = kafka.Message{Key: []byte(svc), Value: record.AppendJSON(nil, r)}
	}
	return msgs
}

// BenchmarkAccount is the CPU cost of one record once consumed: decode,
// classify, count, inventory. Its inverse is what one core can account
// per second, whatever the partition count.
func BenchmarkAccount(b *testing.B) {
	a, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Catalog: testCatalog(b), Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	pt, err := a.newPartition(0)
	if err != nil {
		b.Fatal(err)
	}
	msgs := benchRecords(4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m := &msgs[i%len(msgs)]
		m.Offset = int64(i)
		a.apply(pt, m)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAggregate measures records consumed and accounted per second
// by 1, 2 and 3 aggregators sharing a 12-partition topic, between 10% and
// 90% of b.N records (join and tail excluded), next to the ceiling: bare
// kafka-go readers of the same partitions that decode nothing. Run it
// with enough records to reach steady state, e.g. -benchtime=300000x.
func BenchmarkAggregate(b *testing.B) {
	const partitions = 12
	for _, members := range []int{0, 1, 2, 3} {
		name := fmt.Sprintf("members=%d", members)
		if members == 0 {
			name = "ceiling=bare-readers"
		}
		b.Run(name, func(b *testing.B) {
			br := kafkatest.FromEnv(b)
			br.CreateTopic(b, DefaultTopic, partitions, nil)
			benchProduce(b, br.Addr, b.N)
			cat := testCatalog(b)
			var count func() float64
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			b.ResetTimer()
			if members == 0 {
				var mu sync.Mutex
				n := 0
				count = func() float64 { mu.Lock(); defer mu.Unlock(); return float64(n) }
				for p := range partitions {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{br.Addr}, Topic: DefaultTopic, Partition: p,
							MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond})
						defer r.Close()
						for {
							if _, err := r.FetchMessage(ctx); err != nil {
								return
							}
							mu.Lock()
							n++
							mu.Unlock()
						}
					}()
				}
			} else {
				var regs []*prometheus.Registry
				for range members {
					reg := prometheus.NewRegistry()
					regs = append(regs, reg)
					a, err := New(Config{Brokers: []string{br.Addr}, Group: "bench", SessionTimeout: 6 * time.Second,
						Catalog: cat, Registerer: reg, Now: func() time.Time { return now },
						Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
					if err != nil {
						b.Fatal(err)
					}
					wg.Add(1)
					go func() { defer wg.Done(); _ = a.Run(ctx) }()
				}
				count = func() float64 {
					sum := 0.0
					for _, reg := range regs {
						sum += gathered(b, reg, metricRecords)
					}
					return sum
				}
			}
			total := float64(b.N)
			var t10, t90 time.Time
			var c10, c90 float64
			var cpu10, cpu90 float64
			deadline := time.Now().Add(5 * time.Minute)
			for {
				c := count()
				if t10.IsZero() && c >= 0.1*total {
					t10, c10 = time.Now(), c
					cpu10 = cpuTime()
				}
				if c >= 0.9*total {
					t90, c90 = time.Now(), c
					cpu90 = cpuTime()
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("consumed %v of %v records in 5m", c, total)
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.StopTimer()
			if d := t90.Sub(t10).Seconds(); d > 0 {
				b.ReportMetric((c90-c10)/d, "records/s")
				// Cores used by the whole process, broker included when
				// in-process: below GOMAXPROCS means waiting, not computing.
				b.ReportMetric((cpu90-cpu10)/d, "cores")
			}
		})
	}
}

func benchProduce(b *testing.B, addr string, n int) {
	b.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: DefaultTopic, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, Compression: kafka.Lz4, BatchSize: 5000, BatchBytes: 16 << 20,
		BatchTimeout: 5 * time.Millisecond, Transport: &kafka.Transport{}}
	defer w.Close()
	tmpl := benchRecords(4096)
	chunk := make([]kafka.Message, 0, 20000)
	for i := 0; i < n; {
		chunk = chunk[:0]
		for ; i < n && len(chunk) < cap(chunk); i++ {
			chunk = append(chunk, tmpl[i%len(tmpl)])
		}
		if err := w.WriteMessages(context.Background(), chunk...); err != nil {
			b.Fatalf("produce: %v", err)
		}
	}
}

func gathered(b *testing.B, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
