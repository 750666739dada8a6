package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

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
	fs.SetOutput(stderr)
	target := fs.String("target", demoALSAddr, "alsd ALS address")
	admin := fs.String("admin", "", "alsd admin URL ("+defaultAdminURL+"): report end-to-end records/s and CPU-seconds per million records")
	catalogPath := fs.String("catalog", "", "mesh catalog whose services to simulate (default: a small built-in mesh)")
	sidecars := fs.Int("sidecars", 2, "simulated Envoys per service")
	streams := fs.Int("streams", 2, "ALS streams (worker threads) per Envoy")
	rate := fs.Float64("rate", 0, "entries per second in total; 0: as fast as alsd takes them")
	batch := fs.Int("batch", 100, "entries per message")
	total := fs.Int64("total", 0, "stop after this many entries (0: use --duration)")
	duration := fs.Duration("duration", 10*time.Second, "how long to send when --total is 0")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	var cat *catalog.Catalog
	if *catalogPath != "" {
		var err error
		if cat, err = catalog.Load(*catalogPath); err != nil {
			return usageError{fmt.Errorf("--catalog: %w", err)}
		}
	}
	sim, err := envoysim.New(envoysim.Config{
		Target: *target, Catalog: cat, Sidecars: *sidecars, Streams: *streams,
		Rate: *rate, BatchSize: *batch, Total: *total,
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
	// End to end: wait until alsd has had every sent entry acknowledged by
	// Kafka (or 30s pass), then divide by the time since the first send.
	var after alsdCounters
	deadline := time.Now().Add(30 * time.Second)
	for {
		if after, err = scrape(ctx, *admin); err != nil {
			return err
		}
		if after.produced-before.produced >= float64(stats.Entries) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)
	produced := after.produced - before.produced
	cpu := after.cpuSeconds - before.cpuSeconds
	fmt.Fprintf(stdout, "end to end: %.0f of %d records on Kafka, %.0f records/s; alsd used %.2f CPU-seconds, %.2f per million records\n",
		produced, stats.Entries, produced/elapsed.Seconds(), cpu, cpu/produced*1e6)
	accepted, spooled := after.accepted-before.accepted, after.spooled-before.spooled
	fmt.Fprintf(stdout, "spooled: %.0f of %.0f accepted records (%.2f%%) took the spool instead of going straight to Kafka\n",
		spooled, accepted, 100*spooled/max(accepted, 1))
	return nil
}

type alsdCounters struct {
	produced   float64
	cpuSeconds float64
	accepted   float64 // alsd_records_total, all labels
	spooled    float64 // alsd_spooled_total, all reasons
}

// scrape reads the two counters the benchmark needs from alsd's /metrics.
func scrape(ctx context.Context, admin string) (alsdCounters, error) {
	var c alsdCounters
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(admin, "/")+"/metrics", nil)
	if err != nil {
		return c, usageError{fmt.Errorf("--admin: %w", err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, fmt.Errorf("scrape alsd metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		series, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		name, _, _ := strings.Cut(series, "{")
		switch name {
		case kafkasink.MetricKafkaProduced:
			c.produced = v
		case "process_cpu_seconds_total":
			c.cpuSeconds = v
		case accesslog.MetricRecords:
			c.accepted += v
		case kafkasink.MetricSpooled:
			c.spooled += v
		}
	}
	return c, sc.Err()
}
