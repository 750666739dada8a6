package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/meshtel/meshtel/accesslog"
)

// hardening is the command line of the ALS listener's TLS, the header
// cap and self-tracing (SPEC §1).
type hardening struct {
	tlsCert        string
	tlsKey         string
	tlsClientCA    string
	allowedSANs    listFlag
	maxHeaderBytes byteSize
	otlpEndpoint   string
}

func (h *hardening) register(fs *flag.FlagSet) {
	h.maxHeaderBytes = accesslog.DefaultMaxHeaderBytes
	fs.StringVar(&h.tlsCert, "tls-cert", "", "PEM certificate (chain) `file` for TLS on the ALS listener; reloaded when it changes")
	fs.StringVar(&h.tlsKey, "tls-key", "", "PEM private key `file` of --tls-cert; reloaded when it changes")
	fs.StringVar(&h.tlsClientCA, "tls-client-ca", "", "PEM CA bundle `file`: require and verify Envoys' client certificates (mTLS); reloaded when it changes")
	fs.Var(&h.allowedSANs, "allowed-sans", "comma-separated client certificate `SANs` allowed to log (needs --tls-client-ca; may repeat): entries with :// match URI SANs, others DNS SANs; a trailing * matches any rest, a leading *. one DNS label")
	fs.Var(&h.maxHeaderBytes, "max-header-bytes", "`size` of the logged headers (request id, user agent, cookies) kept per record; the rest is cut and counted; 0: no cap")
	fs.StringVar(&h.otlpEndpoint, "otlp-endpoint", "", "export alsd's own traces over OTLP/gRPC to this collector `endpoint`, host:port (plaintext) or http(s)://host:port; empty: tracing off")
}

// validate checks what can be checked before anything starts: flag
// combinations, and that every file named can be read.
func (h *hardening) validate() error {
	switch {
	case len(h.allowedSANs) > 0 && h.tlsClientCA == "":
		return errors.New("--allowed-sans needs --tls-client-ca: without client certificates there are no SANs to match")
	case h.tlsCert != "" && h.tlsKey == "":
		return fmt.Errorf("--tls-cert %q needs its key: --tls-key", h.tlsCert)
	case h.tlsKey != "" && h.tlsCert == "":
		return fmt.Errorf("--tls-key %q needs its certificate: --tls-cert", h.tlsKey)
	case h.tlsClientCA != "" && h.tlsCert == "":
		return fmt.Errorf("--tls-client-ca %q needs --tls-cert and --tls-key: client certificates are verified over TLS", h.tlsClientCA)
	}
	for _, f := range []struct{ flag, path string }{{"--tls-cert", h.tlsCert}, {"--tls-key", h.tlsKey}, {"--tls-client-ca", h.tlsClientCA}} {
		if f.path == "" {
			continue
		}
		file, err := os.Open(f.path)
		if err != nil {
			return fmt.Errorf("%s: %w", f.flag, err)
		}
		file.Close()
	}
	if h.otlpEndpoint != "" && strings.Contains(h.otlpEndpoint, "://") {
		u, err := url.Parse(h.otlpEndpoint)
		if err != nil {
			return fmt.Errorf("--otlp-endpoint: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("--otlp-endpoint %q: the scheme must be http or https", h.otlpEndpoint)
		}
	}
	return nil
}

// harden applies the flags to cfg: TLS credentials and the SAN check, the
// header cap, and the global tracer provider the server and the sink trace
// into. The certificate reloader runs as an actor (see pipeline.add); the
// tracer provider is flushed by pipeline.close.
func (p *pipeline) harden(cfg *accesslog.ServerConfig) error {
	h := &p.cfg.hardening
	cfg.Converter.MaxHeaderBytes = int(h.maxHeaderBytes)
	if h.maxHeaderBytes == 0 {
		cfg.Converter.MaxHeaderBytes = -1
	}
	if h.tlsCert != "" {
		var err error
		p.tls, err = accesslog.NewTLS(accesslog.TLSConfig{
			CertFile:     h.tlsCert,
			KeyFile:      h.tlsKey,
			ClientCAFile: h.tlsClientCA,
			AllowedSANs:  h.allowedSANs,
			Registerer:   p.reg,
			Logger:       p.log,
		})
		if err != nil {
			return usageError{err}
		}
		cfg.ServerOptions = append(cfg.ServerOptions, p.tls.ServerOptions()...)
	}
	if h.otlpEndpoint != "" {
		tp, err := newTracerProvider(context.Background(), h.otlpEndpoint)
		if err != nil {
			return usageError{fmt.Errorf("--otlp-endpoint: %w", err)}
		}
		otel.SetTracerProvider(tp)
		p.tp = tp
		p.log.Info("exporting alsd's own traces over OTLP", "endpoint", h.otlpEndpoint)
	}
	return nil
}

// flushTraces exports the spans still buffered, within a short budget.
func (p *pipeline) flushTraces() {
	if p.tp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.tp.Shutdown(ctx); err != nil {
		p.log.Warn("flushing traces", "endpoint", p.cfg.otlpEndpoint, "err", err)
	}
}

// newTracerProvider exports spans in batches: a slow or absent collector
// costs dropped spans, never a blocked stream. Sampling follows the
// standard OTEL_TRACES_SAMPLER variables (default: every batch).
func newTracerProvider(ctx context.Context, endpoint string) (*sdktrace.TracerProvider, error) {
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure()}
	if strings.Contains(endpoint, "://") {
		opts = []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(endpoint)}
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, err
	}
	res := resource.NewSchemaless(attribute.String("service.name", "alsd"))
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// warnListener says at start who may send access logs (SPEC §1).
func (p *pipeline) warnListener() {
	addr := p.alsLis.Addr().String()
	switch {
	case p.tls == nil:
		p.log.Warn("the ALS listener is plaintext and unauthenticated: anyone who can reach it can send access logs", "addr", addr)
	case !p.tls.Mutual():
		p.log.Warn("ALS log senders are unauthenticated (TLS without --tls-client-ca): anyone who can reach the listener can send access logs", "addr", addr)
	case len(p.cfg.allowedSANs) == 0:
		p.log.Info("ALS listener requires client certificates; every certificate the client CA signed may send logs (no --allowed-sans)", "addr", addr)
	default:
		p.log.Info("ALS listener requires client certificates with an allowed SAN", "addr", addr, "allowed_sans", p.cfg.allowedSANs.String())
	}
	if p.tls == nil || !p.tls.Mutual() {
		for _, s := range p.cat.Services {
			if len(s.SPIFFE) > 0 {
				p.log.Warn("the catalog lists spiffe identities, which bind services to the Envoys allowed to log for them; without --tls-client-ca they cannot be enforced", "service", s.Name)
				break
			}
		}
	}
}
