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
	"path/filepath"
	"strings"
	"time"

	oklog "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/meshtel/meshtel/accesslog"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/kafkasink"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/sli"
	"github.com/meshtel/meshtel/webui"
)

// serveConfig is the sink's command line (SPEC §1).
type serveConfig struct {
	alsAddr         string
	otlpAddr        string
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
	keepPII         bool
	maxStreams      int
	maxMessageBytes byteSize
	maxEntries      int
	idleTimeout     time.Duration
	maxStreamAge    time.Duration
	demo            bool
	demoRate        float64
	compute         bool
	logLevel        string
	hardening       // TLS, header cap, self-tracing: tls.go
}

// serveFlags defines the sink's flags; out receives --help.
func serveFlags(out io.Writer) (*flag.FlagSet, *serveConfig) {
	c := &serveConfig{spoolMaxBytes: 1 << 30, maxMessageBytes: 4 << 20}
	fs := flag.NewFlagSet("alsd", flag.ContinueOnError)
	fs.SetOutput(out)
	withHelp(fs, serveHelp)
	fs.StringVar(&c.alsAddr, "als-addr", defaultALSAddr, "`host:port` to listen on for Envoy's gRPC Access Log Service, and OTLP logs")
	fs.StringVar(&c.otlpAddr, "otlp-addr", "", "a second `host:port` to listen on, for OTLP logs only (e.g. :4317); empty: none")
	fs.StringVar(&c.adminAddr, "admin-addr", defaultAdminAddr, "`host:port` of the HTTP admin server: /metrics, /healthz, /readyz, /api/slo, /api/cookies, the web UI")
	fs.Var(&c.brokers, "kafka-brokers", "Kafka bootstrap brokers `host:port,...`; empty: do not produce (SLIs and cookies are still computed)")
	fs.StringVar(&c.topic, "kafka-topic", record.DefaultTopic, "Kafka `topic` for records")
	fs.StringVar(&c.encoding, "kafka-encoding", "json", "record `encoding`: json or proto")
	fs.StringVar(&c.catalogPath, "catalog", "", "mesh catalog YAML `file`: service names, SLOs, health checks, owners, cookie rules")
	fs.StringVar(&c.cookieDB, "cookie-db", "", "cookie knowledge base CSV `file` (Open Cookie Database layout) that labels cookies with category and vendor")
	fs.StringVar(&c.stateDir, "state-dir", "./alsd-data", "`directory` of the spool of undelivered records and the SLI/cookie checkpoints")
	fs.DurationVar(&c.deliveryTimeout, "kafka-delivery-timeout", 500*time.Millisecond, "how long a record may wait for Kafka's acknowledgement before it is spooled; accepted records are on Kafka or in the spool within twice this")
	fs.Var(&c.spoolMaxBytes, "spool-max-bytes", "cap of the on-disk spool, a `size` such as 1GiB or 500MB; beyond it records are dropped")
	fs.BoolVar(&c.keepQuery, "keep-query", false, "keep the query string in path (dropped by default: it carries PII)")
	fs.BoolVar(&c.keepPII, "keep-pii", false, "keep e-mail addresses, card numbers, JWTs and tokens found in paths and user agents (masked by default)")
	fs.IntVar(&c.maxStreams, "max-streams", 1024, "concurrent ALS streams, all connections together, and apart from them concurrent OTLP Export calls; more are refused")
	fs.Var(&c.maxMessageBytes, "max-message-bytes", "largest StreamAccessLogsMessage or OTLP request (a `size`); a larger one ends its stream, or is refused")
	fs.IntVar(&c.maxEntries, "max-entries-per-message", 10000, "most log entries in one message, log records in one OTLP request; more end the stream, or refuse the request")
	fs.DurationVar(&c.idleTimeout, "stream-idle-timeout", 10*time.Minute, "close streams silent this long")
	fs.DurationVar(&c.maxStreamAge, "max-stream-age", 15*time.Minute, "end ALS streams this old (±10%) so Envoy reopens them through its load balancer, spreading them over replicas; 0: never")
	fs.BoolVar(&c.demo, "demo", false, "run with an embedded Kafka broker, the demo catalog and simulated Envoys, printing a live summary")
	fs.Float64Var(&c.demoRate, "demo-rate", 2000, "entries per second the demo's simulated Envoys send; 0: none (drive the demo with alsd simulate)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.BoolVar(&c.compute, "compute", true, "compute SLIs and cookie inventories here; false: only ingest (ALS to Kafka) and leave them to alsd aggregate")
	c.hardening.register(fs)
	return fs, c
}

// parseServe parses and checks the sink's command line.
func parseServe(args []string, stdout io.Writer, getenv func(string) string) (*serveConfig, record.Encoding, error) {
	fs, cfg := serveFlags(stdout)
	if err := parseFlags(fs, args, getenv); err != nil {
		return nil, 0, err
	}
	if err := noArgs(fs); err != nil {
		return nil, 0, err
	}
	if !cfg.compute && (cfg.demo || len(cfg.brokers) == 0) {
		return nil, 0, usageError{errors.New("--compute=false only ingests: it needs --kafka-brokers and excludes --demo")}
	}
	if err := cfg.hardening.validate(); err != nil {
		return nil, 0, usageError{err}
	}
	if cfg.maxStreamAge < 0 {
		return nil, 0, usageError{fmt.Errorf("--max-stream-age %s: want 0 (never) or a positive duration", cfg.maxStreamAge)}
	}
	enc, err := record.ParseEncoding(cfg.encoding)
	if err != nil {
		return nil, 0, usageError{fmt.Errorf("--kafka-encoding: %w", err)}
	}
	return cfg, enc, nil
}

// runServe is alsd itself: build the pipeline, run its parts as actors
// until a signal or the first failure, then drain in order.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, enc, err := parseServe(args, stdout, getenv)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.logLevel)
	if err != nil {
		return err
	}
	cat, err := loadCatalog(cfg.catalogPath, cfg.demo)
	if err != nil {
		return err
	}
	// The demo composes the pipeline: it supplies the broker and the
	// listen address, and adds its own actors; it never edits cfg.
	ends := endpoints{als: cfg.alsAddr, brokers: cfg.brokers}
	var d *demo
	if cfg.demo {
		if d, err = newDemo(cfg.topic); err != nil {
			return err
		}
		defer d.close()
		ends = d.endpoints(cfg.alsAddr)
	}
	p, err := build(cfg, enc, ends, cat, log)
	if err != nil {
		return err
	}
	defer p.close()

	var g oklog.Group
	addContext(&g, ctx)
	if d != nil {
		// Added first, so the simulated Envoys stop before the server does.
		if err := d.add(&g, p, stdout); err != nil {
			return err
		}
	}
	p.add(&g)
	p.started()
	if err := g.Run(); err != nil {
		log.Error("stopped", "err", err)
		return err
	}
	p.stopped()
	return nil
}

// endpoints are where the pipeline listens for Envoys and produces to.
type endpoints struct {
	als     string
	brokers []string
}

// pipeline is one alsd: the ALS server, the Kafka sink, the SLI and cookie
// stages, the web UI and the admin server.
type pipeline struct {
	cfg *serveConfig
	cat *catalog.Catalog
	log *slog.Logger

	reg       *prometheus.Registry
	server    *accesslog.Server
	sink      *kafkasink.Sink // nil without brokers
	tracker   *sli.Tracker
	inventory *cookies.Inventory
	edges     *edges.Tracker
	ui        *webui.UI
	stages    *stages
	alsLis    net.Listener
	otlpLis   net.Listener // nil without --otlp-addr
	admin     *admin
	tls       *accesslog.TLS           // nil: plaintext
	tp        *sdktrace.TracerProvider // nil: self-tracing off
	brokers   []string
}

// build makes every part of the pipeline and binds both listeners, so that
// every start failure surfaces here, before anything runs.
func build(cfg *serveConfig, enc record.Encoding, ends endpoints, cat *catalog.Catalog, log *slog.Logger) (*pipeline, error) {
	p := &pipeline{cfg: cfg, cat: cat, log: log, reg: newRegistry(), brokers: ends.brokers}
	if err := p.bind(enc, ends.als); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// bind builds the parts in dependency order and binds both listeners.
func (p *pipeline) bind(enc record.Encoding, alsAddr string) error {
	if err := p.buildState(); err != nil {
		return err
	}
	if err := p.buildIngest(enc, p.brokers); err != nil {
		return err
	}
	var err error
	if p.alsLis, err = listen(alsAddr, p.cfg.demo); err != nil {
		return usageError{fmt.Errorf("--als-addr: %w", err)}
	}
	if p.cfg.otlpAddr != "" {
		if p.otlpLis, err = listen(p.cfg.otlpAddr, false); err != nil {
			return usageError{fmt.Errorf("--otlp-addr: %w", err)}
		}
	}
	if p.admin, err = newAdmin(p.cfg.adminAddr, p.cfg.demo, p.reg, p.reg, p.ready); err != nil {
		return err
	}
	p.routes(p.admin.mux)
	return nil
}

// buildState makes the SLI tracker, the cookie inventory, the edge
// tracker, the stages that feed them and the web UI.
func (p *pipeline) buildState() error {
	// An ingest-only alsd keeps its tracker and inventory empty (no stage
	// feeds them), unexported and unsaved: the aggregators own that state.
	stateReg, stateDir := prometheus.Registerer(p.reg), p.cfg.stateDir
	if !p.cfg.compute {
		stateReg, stateDir = nil, ""
	}
	var err error
	p.tracker, err = sli.New(sli.Config{Catalog: p.cat, Registerer: stateReg, StateDir: stateDir, Logger: p.log})
	if err != nil {
		return fmt.Errorf("sli: %w", err)
	}
	p.inventory, err = cookies.New(cookies.Config{Catalog: p.cat, Registerer: stateReg, StateDir: stateDir,
		CookieDB: p.cfg.cookieDB, Logger: p.log})
	if err != nil {
		return usageError{fmt.Errorf("cookies: %w", err)}
	}
	p.edges, err = edges.New(edges.Config{Catalog: p.cat, Registerer: stateReg, StateDir: stateDir, Logger: p.log})
	if err != nil {
		return fmt.Errorf("edges: %w", err)
	}
	p.stages = newStages(p.cat, p.tracker, p.inventory)
	p.stages.edges = p.edges
	var deps func() edges.Report // an ingest-only alsd counts no edges
	if p.cfg.compute {
		deps = p.edges.Snapshot
	}
	p.ui, err = webui.New(webui.Config{SLO: p.tracker.Snapshot, SLOState: p.tracker.State, Month: p.tracker.Month, Cookies: p.inventory.Snapshot,
		Dependencies: deps, Catalog: p.cat, Gatherer: p.reg, Logger: p.log})
	if err != nil {
		return err
	}
	p.stages.onBad = p.ui.ObserveBad
	return nil
}

// buildIngest makes the Kafka sink (when there are brokers) and the ALS
// server that feeds it and the stages.
func (p *pipeline) buildIngest(enc record.Encoding, brokers []string) error {
	cfg := p.cfg
	serverCfg := accesslog.ServerConfig{
		Converter:            &accesslog.Converter{Catalog: p.cat, KeepQuery: cfg.keepQuery, KeepPII: cfg.keepPII, Classify: p.stages.classify},
		Encoding:             enc,
		Stages:               p.stagesFor(cfg.compute),
		MaxStreams:           cfg.maxStreams,
		MaxMessageBytes:      int(cfg.maxMessageBytes),
		MaxEntriesPerMessage: cfg.maxEntries,
		StreamIdleTimeout:    cfg.idleTimeout,
		MaxStreamAge:         cfg.maxStreamAge,
		Registerer:           p.reg,
		Logger:               p.log,
	}
	if len(brokers) > 0 {
		var err error
		p.sink, err = kafkasink.New(kafkasink.Config{
			Brokers:         brokers,
			Topic:           cfg.topic,
			SpoolDir:        filepath.Join(cfg.stateDir, "spool"),
			IdentityDir:     cfg.stateDir,
			SpoolMaxBytes:   int64(cfg.spoolMaxBytes),
			DeliveryTimeout: cfg.deliveryTimeout,
			Registerer:      p.reg,
			Logger:          p.log,
		})
		if err != nil {
			return err
		}
		serverCfg.Sink = p.sink
	} else {
		p.log.Warn("no --kafka-brokers: records are not produced; SLIs and cookies are still computed")
	}
	if err := p.harden(&serverCfg); err != nil {
		return err
	}
	var err error
	p.server, err = accesslog.NewServer(serverCfg)
	return err
}

// add runs the pipeline's parts as actors of g. They stop in drain order:
// the ALS server first, so every record it accepted has been submitted
// when the sink drains its queue to Kafka or the spool; the SLI and cookie
// state checkpoint after that; the admin server last, so /metrics answers
// throughout.
func (p *pipeline) add(g *oklog.Group) {
	serverCtx, stopServer := context.WithCancel(context.Background())
	served := make(chan struct{})
	g.Add(func() error {
		defer close(served)
		if err := p.server.Serve(serverCtx, p.alsLis, p.otlpListeners()...); err != nil {
			return fmt.Errorf("als server: %w", err)
		}
		return nil
	}, func(error) { stopServer() })
	if p.tls != nil {
		addAfter(g, "tls reload", served, p.tls.Run)
	}
	var drained <-chan struct{} = served
	if p.sink != nil {
		drained = addAfter(g, "kafka sink", served, p.sink.Run)
	}
	addAfter(g, "sli", drained, p.tracker.Run)
	addAfter(g, "cookies", drained, p.inventory.Run)
	addAfter(g, "edges", drained, p.edges.Run)
	addAfter(g, "webui", drained, p.ui.Run)
	p.admin.add(g)
}

// addAfter adds an actor running fn(ctx) to g. When the group stops, its
// ctx is cancelled only once before is closed: that orders the drain. The
// returned channel is closed when fn has returned.
func addAfter(g *oklog.Group, name string, before <-chan struct{}, fn func(context.Context) error) <-chan struct{} {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	g.Add(func() error {
		defer close(done)
		if err := fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}, func(error) {
		<-before
		cancel()
	})
	return done
}

// immediately is the before of actors that stop as soon as the group does.
var immediately = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// close releases what build made and run did not: listeners of a pipeline
// that never ran, buffered spans.
func (p *pipeline) close() {
	if p.alsLis != nil {
		p.alsLis.Close()
	}
	if p.otlpLis != nil {
		p.otlpLis.Close()
	}
	if p.admin != nil {
		p.admin.lis.Close()
	}
	p.flushTraces()
}

func (p *pipeline) started() {
	p.warnListener()
	otlp := p.alsLis.Addr().String()
	if p.otlpLis != nil {
		otlp += "," + p.otlpLis.Addr().String()
	}
	attrs := []any{"als", p.alsLis.Addr().String(), "admin", p.admin.URL(), "otlp", otlp,
		"kafka", strings.Join(p.brokers, ","), "topic", p.cfg.topic, "encoding", p.cfg.encoding, "catalog_services", len(p.cat.Services)}
	if p.sink != nil {
		attrs = append(attrs, "ingester", p.sink.Ingester())
	}
	p.log.Info("alsd started", attrs...)
}

func (p *pipeline) stopped() {
	attrs := []any{"records_accepted", p.server.Accepted()}
	if p.sink != nil {
		attrs = append(attrs, "spool_bytes", p.sink.Spooled())
	}
	p.log.Info("alsd stopped cleanly", attrs...)
}

// ready answers /readyz: ready while the ALS listener serves, even while
// Kafka is down, since records spool (SPEC §1); the body says so.
func (p *pipeline) ready() (bool, string) {
	if !p.server.Ready() {
		return false, "the ALS listener is not serving"
	}
	text := "ALS and OTLP logs listening on " + p.alsLis.Addr().String() + "\n"
	if p.otlpLis != nil {
		text += "OTLP logs listening on " + p.otlpLis.Addr().String() + "\n"
	}
	if p.sink == nil {
		return true, text + "kafka: not configured (--kafka-brokers empty)"
	}
	_, status := p.sink.Status()
	return true, text + status
}

// otlpListeners is the OTLP-only listener, when --otlp-addr gave one.
func (p *pipeline) otlpListeners() []net.Listener {
	if p.otlpLis == nil {
		return nil
	}
	return []net.Listener{p.otlpLis}
}

// routes adds the sink's API and the web UI to the admin server.
func (p *pipeline) routes(mux *http.ServeMux) {
	if p.cfg.compute {
		mux.Handle("GET /api/slo", p.tracker.Handler())
		mux.Handle("GET /api/cookies", p.inventory.Handler())
		mux.Handle("GET /api/dependencies", p.edges.Handler())
	} else {
		mux.HandleFunc("GET /api/slo", ingestOnly)
		mux.HandleFunc("GET /api/cookies", ingestOnly)
		mux.HandleFunc("GET /api/dependencies", ingestOnly)
	}
	mux.Handle("/", p.ui.Handler())
}

// stagesFor returns the ingest stages: none when alsd only ingests.
func (p *pipeline) stagesFor(compute bool) []accesslog.Stage {
	if !compute {
		return nil
	}
	return []accesslog.Stage{p.stages.observe}
}

// ingestOnly answers /api/slo, /api/cookies and /api/dependencies of an
// alsd run with --compute=false (SPEC §1): 404, and where to ask instead.
func ingestOnly(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	json.NewEncoder(w).Encode(map[string]string{
		"error": "this alsd runs with --compute=false (role: ingest): it keeps no SLI or cookie state; ask the aggregators (alsd aggregate)",
		"role":  "ingest",
	})
}
