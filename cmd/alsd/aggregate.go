package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"time"

	oklog "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtel/meshtel/aggregate"
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

// aggregateFlags defines alsd aggregate's flags; out receives --help.
func aggregateFlags(out io.Writer) (*flag.FlagSet, *aggregateConfig) {
	c := &aggregateConfig{}
	fs := flag.NewFlagSet("alsd aggregate", flag.ContinueOnError)
	fs.SetOutput(out)
	withHelp(fs, aggregateHelp)
	fs.StringVar(&c.adminAddr, "admin-addr", defaultAdminAddr, "`host:port` of the HTTP admin server: /metrics, /healthz, /readyz, /api/slo, /api/cookies")
	fs.Var(&c.brokers, "kafka-brokers", "Kafka bootstrap brokers `host:port,...` (required)")
	fs.StringVar(&c.topic, "kafka-topic", aggregate.DefaultTopic, "record `topic` to consume")
	fs.StringVar(&c.stateTopic, "state-topic", aggregate.DefaultStateTopic, "compacted `topic` of per-partition checkpoints, created when missing")
	fs.StringVar(&c.group, "group", aggregate.DefaultGroup, "Kafka consumer `group` of the aggregators")
	fs.StringVar(&c.catalogPath, "catalog", "", "mesh catalog YAML `file` outcomes, SLOs and cookie rules are derived with")
	fs.DurationVar(&c.sessionTimeout, "session-timeout", aggregate.DefaultSessionTimeout, "how long a silent aggregator keeps its partitions before the group moves them")
	fs.DurationVar(&c.checkpointInterval, "checkpoint-interval", aggregate.DefaultCheckpointInterval, "how often each owned partition's state is checkpointed to the state topic")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	return fs, c
}

// runAggregate is `alsd aggregate`: consume the record topic in a consumer
// group, compute SLI and cookie state for the partitions owned, serve it.
func runAggregate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cfg := aggregateFlags(stdout)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if len(cfg.brokers) == 0 {
		return usageError{errors.New("--kafka-brokers is required: aggregators consume Kafka")}
	}
	logger, err := newLogger(stderr, cfg.logLevel)
	if err != nil {
		return err
	}
	cat, err := loadCatalog(cfg.catalogPath, false)
	if err != nil {
		return err
	}
	reg := newRegistry()
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
	adm, err := newAdmin(cfg.adminAddr, false, prometheus.Gatherers{reg, agg.Gatherer()}, reg, agg.Ready)
	if err != nil {
		return err
	}
	adm.mux.Handle("GET /api/slo", agg.SLOHandler())
	adm.mux.Handle("GET /api/cookies", agg.CookiesHandler())
	adm.mux.Handle("GET /api/dependencies", agg.DependenciesHandler())
	logger.Info("alsd aggregate started", "admin", adm.URL(), "kafka", cfg.brokers.String(),
		"topic", cfg.topic, "group", cfg.group, "state_topic", cfg.stateTopic, "catalog_services", len(cat.Services))

	var g oklog.Group
	addContext(&g, ctx)
	// The aggregator checkpoints owned partitions and leaves the group
	// when stopped; the admin server stops after it.
	addAfter(&g, "aggregate", immediately, agg.Run)
	adm.add(&g)
	if err := g.Run(); err != nil {
		logger.Error("stopped", "err", err)
		return err
	}
	logger.Info("alsd aggregate stopped cleanly")
	return nil
}
