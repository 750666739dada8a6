package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshtel/meshtel/accesslog"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/examples"
	"github.com/meshtel/meshtel/kafkasink"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/sli"
	"github.com/meshtel/meshtel/webui"
)

// serveConfig is the sink's command line (SPEC §1).
type serveConfig struct {
	alsAddr         string
	adminAddr       string
	brokers         listFlag
	topic           string
	encoding        string
	catalogPath     string
	cookieDB        string
	stateDir        string
	spoolMaxBytes   byteSize
	deliveryTimeout time.Duration
	keepQuery       bool
	maxStreams      int
	maxMessageBytes byteSize
	maxEntries      int
	idleTimeout     time.Duration
	demo            bool
	demoRate        float64
	compute         bool
	logLevel        string
	hardening       // TLS, header cap, self-tracing: tls.go
}

func serveFlags(stderr io.Writer) (*flag.FlagSet, *serveConfig) {
	c := &serveConfig{spoolMaxBytes: 1 << 30, maxMessageBytes: 4 << 20}
	fs := flag.NewFlagSet("alsd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.alsAddr, "als-addr", ":18000", "gRPC listen address for Envoy ALS")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:9102", "HTTP address for /metrics, /healthz, /readyz, /api/slo, /api/cookies")
	fs.Var(&c.brokers, "kafka-brokers", "comma-separated Kafka bootstrap brokers, host:port; empty: do not produce")
	fs.StringVar(&c.topic, "kafka-topic", "mesh.accesslog.v1", "Kafka topic for records")
	fs.StringVar(&c.encoding, "kafka-encoding", "json", "record encoding: json or proto")
	fs.StringVar(&c.catalogPath, "catalog", "", "mesh catalog YAML: SLOs, health checks, owners")
	fs.StringVar(&c.cookieDB, "cookie-db", "", "cookie knowledge base CSV (Open Cookie Database layout) that labels cookies with category and vendor")
	fs.StringVar(&c.stateDir, "state-dir", "./alsd-data", "spool of undelivered records and SLI/cookie checkpoints")
	fs.DurationVar(&c.deliveryTimeout, "kafka-delivery-timeout", 500*time.Millisecond, "how long a record may wait for Kafka's acknowledgement before it is spooled; accepted records are on Kafka or in the spool within twice this")
	fs.Var(&c.spoolMaxBytes, "spool-max-bytes", "cap of the on-disk spool; beyond it records are dropped (default 1GiB)")
	fs.BoolVar(&c.keepQuery, "keep-query", false, "keep the query string in path (dropped by default: it carries PII)")
	fs.IntVar(&c.maxStreams, "max-streams", 1024, "concurrent ALS streams, all connections together")
	fs.Var(&c.maxMessageBytes, "max-message-bytes", "largest StreamAccessLogsMessage (default 4MiB)")
	fs.IntVar(&c.maxEntries, "max-entries-per-message", 10000, "most log entries in one message")
	fs.DurationVar(&c.idleTimeout, "stream-idle-timeout", 10*time.Minute, "close streams silent this long")
	fs.BoolVar(&c.demo, "demo", false, "run with an embedded Kafka broker, the demo catalog and simulated Envoys, printing a live summary")
	fs.Float64Var(&c.demoRate, "demo-rate", 2000, "entries per second the demo's simulated Envoys send; 0: none (drive the demo with alsd simulate)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&c.compute, "compute", true, "compute SLIs and cookie inventories here; false: only ingest (ALS to Kafka) and leave them to `alsd aggregate`")
	c.hardening.register(fs)
	return fs, c
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cfg := serveFlags(stderr)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if !cfg.compute && (cfg.demo || len(cfg.brokers) == 0) {
		return usageError{errors.New("--compute=false only ingests: it needs --kafka-brokers and excludes --demo")}
	}
	if err := cfg.hardening.validate(); err != nil {
		return usageError{err}
	}
	enc, err := record.ParseEncoding(cfg.encoding)
	if err != nil {
		return usageError{fmt.Errorf("--kafka-encoding: %w", err)}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cat := catalog.Empty()
	switch {
	case cfg.catalogPath != "":
		if cat, err = catalog.Load(cfg.catalogPath); err != nil {
			return usageError{fmt.Errorf("--catalog: %w", err)}
		}
	case cfg.demo:
		if cat, err = catalog.Parse("examples/mesh.yaml (built in)", examples.Mesh); err != nil {
			return fmt.Errorf("built-in demo catalog: %w", err)
		}
	}
	p := &pipeline{cfg: cfg, cat: cat, enc: enc, log: logger, stdout: stdout}
	return p.run(ctx)
}

// pipeline is one running alsd: listeners, sink, stages, admin server.
type pipeline struct {
	cfg    *serveConfig
	cat    *catalog.Catalog
	enc    record.Encoding
	log    *slog.Logger
	stdout io.Writer

	reg       *prometheus.Registry
	server    *accesslog.Server
	sink      *kafkasink.Sink
	tracker   *sli.Tracker
	inventory *cookies.Inventory
	ui        *webui.UI
	stages    *stages
	alsLis    net.Listener
	admLis    net.Listener
	tls       *accesslog.TLS // nil: plaintext
}

func (p *pipeline) run(ctx context.Context) error {
	cfg := p.cfg
	p.reg = prometheus.NewRegistry()
	p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var demo *demo
	if cfg.demo {
		var err error
		if demo, err = startDemo(p); err != nil {
			return err
		}
		defer demo.close()
	}

	// An ingest-only alsd keeps its tracker and inventory empty (no stage
	// feeds them), unexported and unsaved: the aggregators own that state.
	stateReg, stateDir := prometheus.Registerer(p.reg), cfg.stateDir
	if !cfg.compute {
		stateReg, stateDir = nil, ""
	}
	var err error
	p.tracker, err = sli.New(sli.Config{
		Catalog:    p.cat,
		Registerer: stateReg,
		StateDir:   stateDir,
		Logger:     p.log,
	})
	if err != nil {
		return fmt.Errorf("sli: %w", err)
	}
	p.inventory, err = cookies.New(cookies.Config{
		Catalog:    p.cat,
		Registerer: stateReg,
		StateDir:   stateDir,
		CookieDB:   cfg.cookieDB,
		Logger:     p.log,
	})
	if err != nil {
		return usageError{fmt.Errorf("cookies: %w", err)}
	}
	p.stages = newStages(p.cat, p.tracker, p.inventory)
	p.ui, err = webui.New(webui.Config{SLO: p.tracker.Snapshot, SLOState: p.tracker.State, Cookies: p.inventory.Snapshot,
		Catalog: p.cat, Gatherer: p.reg, Logger: p.log})
	if err != nil {
		return err
	}
	p.stages.onBad = p.ui.ObserveBad

	if len(cfg.brokers) > 0 {
		p.sink, err = kafkasink.New(kafkasink.Config{
			Brokers:         cfg.brokers,
			Topic:           cfg.topic,
			SpoolDir:        filepath.Join(cfg.stateDir, "spool"),
			SpoolMaxBytes:   int64(cfg.spoolMaxBytes),
			DeliveryTimeout: cfg.deliveryTimeout,
			Registerer:      p.reg,
			Logger:          p.log,
		})
		if err != nil {
			return err
		}
	} else {
		p.log.Warn("no --kafka-brokers: records are not produced; SLIs and cookies are still computed")
	}
	serverCfg := accesslog.ServerConfig{
		Converter:            &accesslog.Converter{Catalog: p.cat, KeepQuery: cfg.keepQuery, Classify: p.stages.classify},
		Encoding:             p.enc,
		Stages:               p.stagesFor(cfg.compute),
		MaxStreams:           cfg.maxStreams,
		MaxMessageBytes:      int(cfg.maxMessageBytes),
		MaxEntriesPerMessage: cfg.maxEntries,
		StreamIdleTimeout:    cfg.idleTimeout,
		Registerer:           p.reg,
		Logger:               p.log,
	}
	if p.sink != nil {
		serverCfg.Sink = p.sink
	}
	stopHardening, err := p.harden(&serverCfg)
	if err != nil {
		return err
	}
	defer stopHardening()
	p.server, err = accesslog.NewServer(serverCfg)
	if err != nil {
		return err
	}

	if p.alsLis, err = listen(cfg.alsAddr, cfg.demo); err != nil {
		return usageError{fmt.Errorf("--als-addr: %w", err)}
	}
	if p.admLis, err = listen(cfg.adminAddr, cfg.demo); err != nil {
		p.alsLis.Close()
		return usageError{fmt.Errorf("--admin-addr: %w", err)}
	}

	// Shutdown order matters: the ALS server stops first so that every
	// record it accepted is already submitted when the sink drains, and
	// the stages checkpoint last.
	serverCtx, stopServer := context.WithCancel(context.Background())
	sinkCtx, stopSink := context.WithCancel(context.Background())
	stageCtx, stopStages := context.WithCancel(context.Background())
	defer stopServer()
	defer stopSink()
	defer stopStages()

	admin := &http.Server{Handler: p.adminMux(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	goRun := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	goRun("admin", func() error {
		if err := admin.Serve(p.admLis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	var sinkDone, stagesDone sync.WaitGroup
	if p.sink != nil {
		sinkDone.Add(1)
		goRun("kafka sink", func() error { defer sinkDone.Done(); return p.sink.Run(sinkCtx) })
	}
	stagesDone.Add(2)
	goRun("sli", func() error { defer stagesDone.Done(); return p.tracker.Run(stageCtx) })
	goRun("cookies", func() error { defer stagesDone.Done(); return p.inventory.Run(stageCtx) })
	goRun("webui", func() error { return p.ui.Run(stageCtx) })
	serverDone := make(chan struct{})
	goRun("als server", func() error { defer close(serverDone); return p.server.Serve(serverCtx, p.alsLis) })
	for i := 0; !p.server.Ready() && i < 1000; i++ {
		time.Sleep(time.Millisecond)
	}
	p.warnListener()
	p.log.Info("alsd started", "als", p.alsLis.Addr().String(), "admin", "http://"+p.admLis.Addr().String(),
		"kafka", strings.Join(cfg.brokers, ","), "topic", cfg.topic, "encoding", p.enc.String(), "catalog_services", len(p.cat.Services))

	if demo != nil {
		if err := demo.start(ctx, p); err != nil {
			stopServer()
		}
	}

	var runErr error
	select {
	case <-ctx.Done():
		p.log.Info("shutting down: closing ALS streams, draining records to Kafka or the spool")
	case runErr = <-errc:
		p.log.Error("stopping", "err", runErr)
	}
	stopServer()
	<-serverDone
	stopSink()
	sinkDone.Wait()
	stopStages()
	stagesDone.Wait()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = admin.Shutdown(shutdownCtx)
	wg.Wait()
	close(errc)
	for err := range errc {
		if runErr == nil {
			runErr = err
		}
	}
	if runErr == nil {
		attrs := []any{"records_accepted", p.server.Accepted()}
		if p.sink != nil {
			attrs = append(attrs, "spool_bytes", p.sink.Spooled())
		}
		p.log.Info("alsd stopped cleanly", attrs...)
	}
	return runErr
}

// listen listens on addr; in the demo, a busy default port falls back to a
// free one so that the demo always starts.
func listen(addr string, fallback bool) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil && fallback {
		host, _, _ := net.SplitHostPort(addr)
		if host == "" {
			host = "127.0.0.1"
		}
		return net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	return lis, err
}

func (p *pipeline) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{Registry: p.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !p.server.Ready() {
			http.Error(w, "not ready: the ALS listener is not serving", http.StatusServiceUnavailable)
			return
		}
		// Ready even while Kafka is down: records spool (SPEC §1).
		fmt.Fprintf(w, "ready: ALS listening on %s\n", p.alsLis.Addr())
		if p.sink == nil {
			fmt.Fprintln(w, "kafka: not configured (--kafka-brokers empty)")
			return
		}
		_, status := p.sink.Status()
		fmt.Fprintln(w, status)
	})
	if p.cfg.compute {
		mux.Handle("GET /api/slo", p.tracker.Handler())
		mux.Handle("GET /api/cookies", p.inventory.Handler())
	} else {
		mux.HandleFunc("GET /api/slo", ingestOnly)
		mux.HandleFunc("GET /api/cookies", ingestOnly)
	}
	// Profiles, as Prometheus and the OpenTelemetry Collector serve them:
	// the admin address is loopback by default.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", p.ui.Handler())
	return mux
}

// stagesFor returns the ingest stages: none when alsd only ingests.
func (p *pipeline) stagesFor(compute bool) []accesslog.Stage {
	if !compute {
		return nil
	}
	return []accesslog.Stage{p.stages.observe}
}

// ingestOnly answers /api/slo and /api/cookies of an alsd run with
// --compute=false (SPEC §1): 404, and where to ask instead.
func ingestOnly(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	json.NewEncoder(w).Encode(map[string]string{
		"error": "this alsd runs with --compute=false (role: ingest): it keeps no SLI or cookie state; ask the aggregators (alsd aggregate)",
		"role":  "ingest",
	})
}
