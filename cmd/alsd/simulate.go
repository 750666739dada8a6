package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/meshtel/meshtel/accesslog"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/kafkasink"
)

// runSimulate is `alsd simulate`: drive a running alsd with simulated Envoy
// traffic and, given its admin address, measure end-to-end throughput
// (records acknowledged by Kafka per second) and alsd's CPU cost.
func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("alsd simulate", flag.ContinueOnError)
	fs.SetOutput(stdout)
	withHelp(fs, simulateHelp)
	target := fs.String("target", demoALSAddr, "alsd's ALS listener (it takes OTLP logs too) or its --otlp-addr, `host:port`")
	protocol := fs.String("protocol", "als", "how the simulated Envoys log: als (gRPC Access Log Service streams) or otlp (OpenTelemetry logs Export calls)")
	vocabulary := fs.String("vocabulary", "meshtel", "with --protocol otlp, the attributes: meshtel, gateway (Envoy Gateway's), semconv (OpenTelemetry's) or text (a body in Envoy's default format)")
	admin := fs.String("admin", "", "alsd's admin `URL`, such as "+defaultAdminURL+": measure end-to-end records/s and CPU-seconds per million records")
	catalogPath := fs.String("catalog", "", "mesh catalog `file` whose services to simulate (default: a small built-in mesh)")
	sidecars := fs.Int("sidecars", 2, "simulated Envoys per service")
	streams := fs.Int("streams", 2, "ALS streams, or OTLP loggers (worker threads) per Envoy")
	rate := fs.Float64("rate", 0, "entries per second in total; 0: as fast as alsd takes them")
	batch := fs.Int("batch", 100, "entries per message (per Export call with otlp)")
	total := fs.Int64("total", 0, "stop after this many entries; 0: send for --duration")
	duration := fs.Duration("duration", 10*time.Second, "how long to send when --total is 0")
	badRatios := ratioFlag{}
	fs.Var(badRatios, "bad-ratio", "the share of a service's requests that fail, as `SERVICE=RATIO` from 0 to 1 (checkout=1 is an outage); comma-separated, may repeat")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	var cat *catalog.Catalog
	if *catalogPath != "" {
		var err error
		if cat, err = catalog.Load(*catalogPath); err != nil {
			return usageError{fmt.Errorf("--catalog: %w", err)}
		}
	}
	proto, err := envoysim.ParseProtocol(*protocol)
	if err != nil {
		return usageError{fmt.Errorf("--protocol: %w", err)}
	}
	vocab, err := envoysim.ParseVocabulary(*vocabulary)
	if err != nil {
		return usageError{fmt.Errorf("--vocabulary: %w", err)}
	}
	sim, err := envoysim.New(envoysim.Config{
		Target: *target, Catalog: cat, Sidecars: *sidecars, Streams: *streams,
		Rate: *rate, BatchSize: *batch, Total: *total, BadRatios: badRatios, Protocol: proto, Vocabulary: vocab,
	})
	if err != nil {
		return usageError{err}
	}
	var before alsdCounters
	if *admin != "" {
		if before, err = scrape(ctx, *admin); err != nil {
			return err
		}
	}
	runCtx := ctx
	if *total == 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	start := time.Now()
	stats, err := sim.Run(runCtx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent %d entries in %d messages in %s: %.0f entries/s\n",
		stats.Entries, stats.Messages, stats.Elapsed.Round(time.Millisecond), float64(stats.Entries)/stats.Elapsed.Seconds())
	if *admin == "" {
		return nil
	}
	return reportEndToEnd(ctx, stdout, *admin, before, stats.Entries, start)
}

// reportEndToEnd waits until alsd has had every sent entry acknowledged by
// Kafka (or 30s pass), then reports records/s since the first send and
// alsd's CPU per million records.
func reportEndToEnd(ctx context.Context, stdout io.Writer, admin string, before alsdCounters, sent int64, start time.Time) error {
	// The streams are closed and every Export answered: what alsd accepted
	// is final. Wait for it on Kafka.
	after, err := scrape(ctx, admin)
	if err != nil {
		return err
	}
	accepted := after.accepted - before.accepted
	for deadline := time.Now().Add(30 * time.Second); after.produced-before.produced < accepted; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		if after, err = scrape(ctx, admin); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	produced := after.produced - before.produced
	cpu := after.cpuSeconds - before.cpuSeconds
	fmt.Fprintf(stdout, "end to end: %.0f of %d records on Kafka, %.0f records/s; alsd used %.2f CPU-seconds, %.2f per million records\n",
		produced, sent, produced/elapsed.Seconds(), cpu, cpu/produced*1e6)
	if rotated := after.rotated - before.rotated; rotated > 0 {
		lost := float64(sent) - accepted
		fmt.Fprintf(stdout, "alsd ended %.0f streams (--max-stream-age); %.0f entries sent were not accepted, %.1f per rotation\n",
			rotated, lost, lost/rotated)
	}
	spooled := after.spooled - before.spooled
	fmt.Fprintf(stdout, "spooled: %.0f of %.0f accepted records (%.2f%%) took the spool instead of going straight to Kafka\n",
		spooled, accepted, 100*spooled/max(accepted, 1))
	return nil
}

type alsdCounters struct {
	produced   float64
	cpuSeconds float64
	accepted   float64 // alsd_records_total, all labels
	rotated    float64 // alsd_streams_rotated_total
	spooled    float64 // alsd_spooled_total, all reasons
}

// scrape reads the counters the benchmark needs from alsd's /metrics.
func scrape(ctx context.Context, admin string) (alsdCounters, error) {
	var c alsdCounters
	url := strings.TrimSuffix(admin, "/") + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return c, usageError{fmt.Errorf("--admin: %w", err)}
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, fmt.Errorf("scrape alsd metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return c, fmt.Errorf("scrape %s: %w", url, err)
	}
	produced, ok := families[kafkasink.MetricKafkaProduced]
	if !ok {
		return c, fmt.Errorf("scrape %s: no %s; is that alsd producing to Kafka (--kafka-brokers)?", url, kafkasink.MetricKafkaProduced)
	}
	c.produced = counterSum(produced)
	c.cpuSeconds = counterSum(families["process_cpu_seconds_total"])
	c.accepted = counterSum(families[accesslog.MetricRecords])
	c.rotated = counterSum(families[accesslog.MetricStreamsRotated])
	c.spooled = counterSum(families[kafkasink.MetricSpooled])
	return c, nil
}

// counterSum adds up the counter's series (0 for a missing family).
func counterSum(f *dto.MetricFamily) float64 {
	var sum float64
	for _, m := range f.GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

// ratioFlag collects SERVICE=RATIO pairs; the flag takes a comma-separated
// list and may repeat.
type ratioFlag map[string]float64

func (r ratioFlag) Set(s string) error {
	for _, pair := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		f, err := strconv.ParseFloat(value, 64)
		if !ok || name == "" || err != nil {
			return fmt.Errorf("%q is not SERVICE=RATIO (example: checkout=1)", pair)
		}
		r[name] = f
	}
	return nil
}

func (r ratioFlag) String() string {
	pairs := make([]string, 0, len(r))
	for name, f := range r {
		pairs = append(pairs, name+"="+strconv.FormatFloat(f, 'f', -1, 64))
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}
