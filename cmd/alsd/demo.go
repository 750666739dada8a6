package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/sli"
)

// demo is alsd --demo: an embedded Kafka broker (kfake), the built-in demo
// catalog, simulated Envoys and a live summary on stdout.
type demo struct {
	broker *kfake.Cluster
	addr   string
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	onKafka map[string]int64 // records consumed back from Kafka, per key
}

const demoPartitions = 6

// startDemo starts the embedded broker and points the pipeline at it.
func startDemo(p *pipeline) (*demo, error) {
	cfg := p.cfg
	if cfg.alsAddr == ":18000" {
		cfg.alsAddr = "127.0.0.1:18000"
	}
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(demoPartitions, cfg.topic))
	if err != nil {
		return nil, fmt.Errorf("demo: start embedded Kafka broker: %w", err)
	}
	d := &demo{broker: broker, addr: broker.ListenAddrs()[0], onKafka: map[string]int64{}}
	cfg.brokers = listFlag{d.addr}
	return d, nil
}

// start runs the simulator, a consumer reading the topic back and the
// summary printer.
func (d *demo) start(ctx context.Context, p *pipeline) error {
	ctx, d.cancel = context.WithCancel(ctx)
	sim, err := envoysim.New(envoysim.Config{
		Target:    p.alsLis.Addr().String(),
		Catalog:   p.cat,
		Sidecars:  1,
		Streams:   2,
		Rate:      p.cfg.demoRate,
		BatchSize: 50,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(p.stdout, `meshtel demo
  ALS (Envoy access logs)  %s
  admin                    http://%s  (/metrics /readyz /api/slo /api/cookies)
  Kafka (embedded)         %s  topic %s
  read the records:        kcat -C -b %s -t %s -e
Simulated Envoys send %.0f entries/s (--demo-rate; 0: none, drive it with alsd simulate). Ctrl-C stops.

`, p.alsLis.Addr(), p.admLis.Addr(), d.addr, p.cfg.topic, d.addr, p.cfg.topic, p.cfg.demoRate)
	d.wg.Add(2)
	if p.cfg.demoRate > 0 {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if _, err := sim.Run(ctx); err != nil && ctx.Err() == nil {
				p.log.Error("demo simulator", "err", err)
			}
		}()
	}
	go func() {
		defer d.wg.Done()
		d.consume(ctx, p.cfg.topic)
	}()
	go func() {
		defer d.wg.Done()
		d.summarize(ctx, p)
	}()
	return nil
}

func (d *demo) consume(ctx context.Context, topic string) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     []string{d.addr},
		Topic:       topic,
		GroupID:     "meshtel-demo",
		StartOffset: kafka.FirstOffset,
		MaxWait:     200 * time.Millisecond,
		// The demo only counts; committing every message would cost alsd's
		// process a tenth of its CPU.
		CommitInterval: time.Second,
	})
	defer r.Close()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return
		}
		d.mu.Lock()
		d.onKafka[string(m.Key)]++
		d.mu.Unlock()
	}
}

func (d *demo) summarize(ctx context.Context, p *pipeline) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := map[string]int64{}
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			received := p.stages.receivedByService()
			d.mu.Lock()
			onKafka := make(map[string]int64, len(d.onKafka))
			for k, v := range d.onKafka {
				onKafka[k] = v
			}
			d.mu.Unlock()
			writeSummary(p.stdout, now, now.Sub(lastAt), received, last, onKafka, p.tracker.Snapshot(), p.inventory.Snapshot())
			last, lastAt = received, now
		}
	}
}

// writeSummary prints one live table: per service, request rate, records
// read back from Kafka, where each SLO stands, and its cookies (how many,
// how many with findings).
func writeSummary(w io.Writer, now time.Time, elapsed time.Duration, received, last, onKafka map[string]int64, slo sli.Report, ck cookies.Report) {
	type cookieCount struct{ all, flagged int }
	counts := map[string]cookieCount{}
	for _, svc := range ck.Services {
		c := cookieCount{all: len(svc.Cookies)}
		for _, cookie := range svc.Cookies {
			if len(cookie.Findings) > 0 && !(len(cookie.Findings) == 1 && cookie.Findings[0] == cookies.FindingNone) {
				c.flagged++
			}
		}
		counts[svc.Service] = c
	}
	type row struct{ avail, lat *sli.SLOStatus }
	rows := map[string]*row{}
	for i := range slo.SLOs {
		s := &slo.SLOs[i]
		r := rows[s.Service]
		if r == nil {
			r = &row{}
			rows[s.Service] = r
		}
		if s.SLO == sli.Latency {
			r.lat = s
		} else {
			r.avail = s
		}
	}
	names := make([]string, 0, len(received))
	for name := range received {
		names = append(names, name)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tREQ/S\tON KAFKA\tAVAIL SLI\tBUDGET LEFT\tBURN 5m\tBURN 1h\tLATENCY SLI\tCOOKIES\tWITH FINDINGS\t\n", "service "+now.Format("15:04:05"))
	for _, name := range names {
		rate := float64(received[name]-last[name]) / elapsed.Seconds()
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t", name, rate, onKafka[name])
		r := rows[name]
		if r == nil || r.avail == nil {
			fmt.Fprint(tw, "-\t-\t-\t-\t")
		} else {
			fmt.Fprintf(tw, "%.3f%%\t%.1f%%\t%.2f\t%.2f\t", r.avail.SLI*100, r.avail.ErrorBudgetRemaining*100, r.avail.BurnRates["5m"], r.avail.BurnRates["1h"])
		}
		if r == nil || r.lat == nil {
			fmt.Fprint(tw, "-\t")
		} else {
			fmt.Fprintf(tw, "%.2f%%\t", r.lat.SLI*100)
		}
		fmt.Fprintf(tw, "%d\t%d\t\n", counts[name].all, counts[name].flagged)
	}
	tw.Flush()
	fmt.Fprintln(w, strings.Repeat("─", 100))
}

func (d *demo) close() {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	d.broker.Close()
}
