package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	oklog "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/examples"
)

// Flag defaults shared by several commands, each written once.
const (
	defaultALSAddr   = ":18000"
	defaultAdminAddr = "127.0.0.1:9102"
	defaultAdminURL  = "http://" + defaultAdminAddr
	// demoALSAddr is where --demo listens when --als-addr is left at its
	// default: loopback, since the demo's Envoys are local.
	demoALSAddr = "127.0.0.1:18000"
)

// newLogger is the text logger every long-running command writes to
// stderr, at --log-level.
func newLogger(stderr io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l})), nil
}

// loadCatalog reads --catalog; without one, the demo uses the built-in demo
// catalog and everything else an empty catalog.
func loadCatalog(path string, demo bool) (*catalog.Catalog, error) {
	switch {
	case path != "":
		cat, err := catalog.Load(path)
		if err != nil {
			return nil, usageError{fmt.Errorf("--catalog: %w", err)}
		}
		return cat, nil
	case demo:
		cat, err := catalog.Parse("examples/mesh.yaml (built in)", examples.Mesh)
		if err != nil {
			return nil, fmt.Errorf("built-in demo catalog: %w", err)
		}
		return cat, nil
	}
	return catalog.Empty(), nil
}

// newRegistry is a command's metric registry, with the Go runtime and
// process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// admin is the HTTP admin server of alsd and alsd aggregate: /metrics,
// /healthz, /readyz, pprof, and whatever API the command adds to mux.
type admin struct {
	lis    net.Listener
	mux    *http.ServeMux
	server *http.Server
}

// newAdmin listens on addr (--admin-addr; fallback: see listen) and
// registers the endpoints every command has. ready answers /readyz: ok and
// a text for the body.
func newAdmin(addr string, fallback bool, metrics prometheus.Gatherer, reg prometheus.Registerer, ready func() (bool, string)) (*admin, error) {
	lis, err := listen(addr, fallback)
	if err != nil {
		return nil, usageError{fmt.Errorf("--admin-addr: %w", err)}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, text := ready()
		if !ok {
			http.Error(w, "not ready: "+text, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ready: %s\n", text)
	})
	// Profiles, as Prometheus and the OpenTelemetry Collector serve them:
	// the admin address is loopback by default.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &admin{lis: lis, mux: mux, server: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// URL is the admin server's base URL.
func (a *admin) URL() string { return "http://" + a.lis.Addr().String() }

// add runs the admin server as an actor of g; it shuts down last of all,
// with a short budget, so /metrics stays scrapeable while the rest drains.
func (a *admin) add(g *oklog.Group) {
	g.Add(func() error {
		if err := a.server.Serve(a.lis); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("admin server: %w", err)
		}
		return nil
	}, func(error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = a.server.Shutdown(ctx)
	})
}

// addContext adds an actor that returns when ctx (the signal context) ends,
// which stops the whole group.
func addContext(g *oklog.Group, ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	g.Add(func() error {
		<-ctx.Done()
		return nil
	}, func(error) { cancel() })
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
