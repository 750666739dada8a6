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

	oklog "github.com/oklog/run"
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

	mu      sync.Mutex
	onKafka map[string]int64 // records consumed back from Kafka, per key
}

const demoPartitions = 6

// newDemo starts the embedded broker with the record topic.
func newDemo(topic string) (*demo, error) {
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(demoPartitions, topic))
	if err != nil {
		return nil, fmt.Errorf("demo: start embedded Kafka broker: %w", err)
	}
	return &demo{broker: broker, addr: broker.ListenAddrs()[0], onKafka: map[string]int64{}}, nil
}

// endpoints are the pipeline's endpoints in the demo: the embedded broker,
// and loopback unless --als-addr says otherwise.
func (d *demo) endpoints(alsAddr string) endpoints {
	if alsAddr == defaultALSAddr {
		alsAddr = demoALSAddr
	}
	return endpoints{als: alsAddr, brokers: []string{d.addr}}
}

// add prints where everything is and adds the demo's actors to g: the
// simulated Envoys (unless --demo-rate is 0), a consumer reading the topic
// back, and the live summary.
func (d *demo) add(g *oklog.Group, p *pipeline, stdout io.Writer) error {
	sim, err := envoysim.New(envoysim.Config{
		Target:    p.alsLis.Addr().String(),
		Catalog:   p.cat,
		Sidecars:  1,
		Streams:   2,
		Rate:      p.cfg.demoRate,
		BatchSize: 50,
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(stdout, `meshtel demo
  ALS (Envoy access logs)  %s
  admin                    %s  (/metrics /readyz /api/slo /api/cookies)
  Kafka (embedded)         %s  topic %s
  read the records:        kcat -C -b %s -t %s -e
Simulated Envoys send %.0f entries/s (--demo-rate; 0: none, drive it with alsd simulate). Ctrl-C stops.

`, p.alsLis.Addr(), p.admin.URL(), d.addr, p.cfg.topic, d.addr, p.cfg.topic, p.cfg.demoRate)
	if p.cfg.demoRate > 0 {
		addAfter(g, "demo simulator", immediately, func(ctx context.Context) error {
			// A failed simulator leaves alsd running: drive it by hand then.
			if _, err := sim.Run(ctx); err != nil && ctx.Err() == nil {
				p.log.Error("demo simulator stopped", "err", err)
			}
			<-ctx.Done()
			return nil
		})
	}
	addAfter(g, "demo consumer", immediately, func(ctx context.Context) error { d.consume(ctx, p.cfg.topic); return nil })
	addAfter(g, "demo summary", immediately, func(ctx context.Context) error { d.summarize(ctx, p, stdout); return nil })
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

func (d *demo) summarize(ctx context.Context, p *pipeline, stdout io.Writer) {
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
			writeSummary(stdout, now, now.Sub(lastAt), received, last, onKafka, p.tracker.Snapshot(), p.inventory.Snapshot())
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

func (d *demo) close() { d.broker.Close() }
