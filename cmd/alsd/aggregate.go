package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshtel/meshtel/aggregate"
	"github.com/meshtel/meshtel/catalog"
)

// aggregateConfig is `alsd aggregate`'s command line (SPEC §1).
type aggregateConfig struct {
	adminAddr          string
	brokers            listFlag
	topic              string
	stateTopic         string
	group              string
	catalogPath        string
	sessionTimeout     time.Duration
	checkpointInterval time.Duration
	logLevel           string
}

func aggregateFlags(stderr io.Writer) (*flag.FlagSet, *aggregateConfig) {
	c := &aggregateConfig{}
	fs := flag.NewFlagSet("alsd aggregate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:9102", "HTTP address for /metrics, /healthz, /readyz, /api/slo, /api/cookies")
	fs.Var(&c.brokers, "kafka-brokers", "comma-separated Kafka bootstrap brokers, host:port (required)")
	fs.StringVar(&c.topic, "kafka-topic", aggregate.DefaultTopic, "record topic to consume")
	fs.StringVar(&c.stateTopic, "state-topic", aggregate.DefaultStateTopic, "compacted topic of per-partition checkpoints, created when missing")
	fs.StringVar(&c.group, "group", aggregate.DefaultGroup, "Kafka consumer group of the aggregators")
	fs.StringVar(&c.catalogPath, "catalog", "", "mesh catalog YAML: SLOs and health-check paths outcomes are derived with")
	fs.DurationVar(&c.sessionTimeout, "session-timeout", aggregate.DefaultSessionTimeout, "how long a silent aggregator keeps its partitions before the group moves them")
	fs.DurationVar(&c.checkpointInterval, "checkpoint-interval", aggregate.DefaultCheckpointInterval, "how often each owned partition's state is checkpointed to the state topic")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	return fs, c
}

// runAggregate is `alsd aggregate`: consume the record topic in a consumer
// group, compute SLI and cookie state for the partitions owned, serve it.
func runAggregate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cfg := aggregateFlags(stderr)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if len(cfg.brokers) == 0 {
		return usageError{errors.New("--kafka-brokers is required: aggregators consume Kafka")}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cat := catalog.Empty()
	if cfg.catalogPath != "" {
		var err error
		if cat, err = catalog.Load(cfg.catalogPath); err != nil {
			return usageError{fmt.Errorf("--catalog: %w", err)}
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	agg, err := aggregate.New(aggregate.Config{
		Brokers:            cfg.brokers,
		Topic:              cfg.topic,
		StateTopic:         cfg.stateTopic,
		Group:              cfg.group,
		SessionTimeout:     cfg.sessionTimeout,
		CheckpointInterval: cfg.checkpointInterval,
		Catalog:            cat,
		Registerer:         reg,
		Logger:             logger,
	})
	if err != nil {
		return usageError{err}
	}
	defer agg.Close()
	lis, err := listen(cfg.adminAddr, false)
	if err != nil {
		return usageError{fmt.Errorf("--admin-addr: %w", err)}
	}
	admin := &http.Server{Handler: aggregateMux(agg, reg), ReadHeaderTimeout: 10 * time.Second}
	adminErr := make(chan error, 1)
	go func() {
		if err := admin.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			adminErr <- err
		}
		close(adminErr)
	}()
	logger.Info("alsd aggregate started", "admin", "http://"+lis.Addr().String(), "kafka", cfg.brokers.String(),
		"topic", cfg.topic, "group", cfg.group, "state_topic", cfg.stateTopic, "catalog_services", len(cat.Services))

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runErr := make(chan error, 1)
	go func() { runErr <- agg.Run(runCtx) }()
	var firstErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down: checkpointing owned partitions and leaving the group")
		firstErr = <-runErr
	case firstErr = <-runErr:
	case firstErr = <-adminErr:
		stopRun()
		<-runErr
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = admin.Shutdown(shutdownCtx)
	if firstErr == nil {
		logger.Info("alsd aggregate stopped cleanly")
	}
	return firstErr
}

// aggregateMux is the aggregator's admin API: the same paths as the
// all-in-one alsd, answering for the services it owns.
func aggregateMux(agg *aggregate.Aggregator, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	g := prometheus.Gatherers{reg, agg.Gatherer()}
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, text := agg.Ready()
		if !ok {
			http.Error(w, "not ready: "+text, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ready: %s\n", text)
	})
	mux.Handle("GET /api/slo", agg.SLOHandler())
	mux.Handle("GET /api/cookies", agg.CookiesHandler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
