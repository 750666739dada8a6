// Command dashgen checks mesh catalogs and generates, from one, the
// Prometheus rules and tests, Alertmanager routes, Grafana dashboards,
// Envoy access log configs and Istio wiring of SPEC §5, and the rules as a
// Prometheus Operator PrometheusRule.
//
//	dashgen check FILE…                         exit 1 on catalog mistakes
//	dashgen generate --catalog FILE --out DIR   write every output file
//
// Exit codes: 0 clean, 1 catalog mistakes, 2 usage or I/O errors.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/meshtel/meshtel/alerts"
	"github.com/meshtel/meshtel/artifacts"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/dashboards"
	"github.com/meshtel/meshtel/envoyconfig"
	"github.com/meshtel/meshtel/internal/cmdhelp"
	"github.com/meshtel/meshtel/istioconfig"
)

// Exit codes.
const (
	exitOK      = 0
	exitCatalog = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return usageError(stderr, "dashgen", "no command (check or generate)")
	}
	switch args[0] {
	case "check":
		return check(args[1:], stdout, stderr)
	case "generate":
		return generate(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		_ = rootHelp.Write(stdout, flag.NewFlagSet("dashgen", flag.ContinueOnError))
		return exitOK
	default:
		return usageError(stderr, "dashgen", fmt.Sprintf("unknown command %q (check or generate)", args[0]))
	}
}

// usageError reports a usage mistake of command once, with where its help
// is, and returns exit 2.
func usageError(stderr io.Writer, command, msg string) int {
	fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", command, msg, command)
	return exitUsage
}

// parse parses a subcommand's flags; done is true when the command ends
// here, with code: its help was printed (0) or the flags are wrong (2).
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, done bool) {
	err := cmdhelp.Parse(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK, true
	case err != nil:
		return usageError(stderr, fs.Name(), err.Error()), true
	}
	return 0, false
}

// check prints every mistake of every file as FILE:LINE:COL: message on
// stdout. Catalog mistakes outrank I/O errors only when there are no I/O
// errors: an unreadable file is exit 2 whatever else happened.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dashgen check", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = cmdhelp.Func(fs, checkHelp)
	if code, done := parse(fs, args, stderr); done {
		return code
	}
	if fs.NArg() == 0 {
		return usageError(stderr, fs.Name(), "no files")
	}
	code := exitOK
	for _, f := range fs.Args() {
		_, err := catalog.Load(f)
		var cerrs catalog.Errors
		switch {
		case err == nil:
		case errors.As(err, &cerrs):
			for _, e := range cerrs {
				fmt.Fprintln(stdout, e.Error())
			}
			code = max(code, exitCatalog)
		default:
			fmt.Fprintf(stderr, "dashgen check: %v\n", err)
			code = exitUsage
		}
	}
	return code
}

func generate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dashgen generate", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = cmdhelp.Func(fs, generateHelp)
	var cfg artifacts.Config
	catalogPath := fs.String("catalog", "", "mesh catalog YAML `file` (required)")
	out := fs.String("out", "", "output `directory` (required)")
	fs.StringVar(&cfg.GrafanaURL, "grafana-url", artifacts.DefaultGrafanaURL, "Grafana base `URL` for dashboard links in alerts")
	fs.StringVar(&cfg.Provisioning.PrometheusURL, "prometheus-url", dashboards.DefaultPrometheusURL, "`URL` of the provisioned Prometheus datasource")
	fs.StringVar(&cfg.Provisioning.DashboardsPath, "dashboards-path", dashboards.DefaultDashboardsPath, "`directory` where Grafana reads DIR/grafana/dashboards")
	fs.StringVar(&cfg.Envoy.ALSAddress, "als-address", envoyconfig.DefaultALSAddress, "alsd's ALS listener as Envoy reaches it, `host:port`")
	fs.StringVar(&cfg.Envoy.Cluster, "als-cluster", envoyconfig.DefaultCluster, "Envoy cluster `name` for alsd")
	fs.StringVar(&cfg.ALSDJob, "alsd-job", alerts.DefaultALSDJob, "Prometheus `job` scraping alsd (MeshTelemetryDown watches its up series)")
	fs.Int64Var(&cfg.AggregatorLagThreshold, "aggregator-lag-threshold", alerts.DefaultAggregatorLagThreshold, "consumer lag in `records` above which MeshAggregatorLag fires")
	fs.StringVar(&cfg.Istio.Service, "istio-service", istioconfig.DefaultService, "alsd's Kubernetes Service as Istio knows it (`FQDN`) in istio/extension-providers.yaml")
	alsPort := fs.Uint("istio-als-port", istioconfig.DefaultALSPort, "Service `port` of alsd's ALS listener for Istio")
	otlpPort := fs.Uint("istio-otlp-port", istioconfig.DefaultOTLPPort, "Service `port` that takes OTLP logs for Istio's envoyOtelAls provider")
	fs.StringVar(&cfg.Istio.RootNamespace, "istio-root-namespace", istioconfig.DefaultRootNamespace, "Istio's root `namespace`, where istio/telemetry.yaml applies mesh-wide")
	if code, done := parse(fs, args, stderr); done {
		return code
	}
	for _, p := range []struct {
		flag string
		port uint
	}{{"--istio-als-port", *alsPort}, {"--istio-otlp-port", *otlpPort}} {
		if p.port == 0 || p.port > 65535 {
			return usageError(stderr, fs.Name(), fmt.Sprintf("%s %d: want a port in 1-65535", p.flag, p.port))
		}
	}
	cfg.Istio.ALSPort, cfg.Istio.OTLPPort = uint32(*alsPort), uint32(*otlpPort)
	if *catalogPath == "" || *out == "" || fs.NArg() > 0 {
		return usageError(stderr, fs.Name(), "--catalog and --out are required, and nothing else")
	}
	if cfg.ALSDJob == "" || cfg.AggregatorLagThreshold < 1 {
		return usageError(stderr, fs.Name(), "--alsd-job must not be empty and --aggregator-lag-threshold must be at least 1")
	}
	cat, err := catalog.Load(*catalogPath)
	if err != nil {
		var cerrs catalog.Errors
		if errors.As(err, &cerrs) {
			fmt.Fprintln(stderr, err)
			return exitCatalog
		}
		fmt.Fprintf(stderr, "dashgen generate: %v\n", err)
		return exitUsage
	}
	files, err := artifacts.Build(cat, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "dashgen generate: %v\n", err)
		return exitUsage
	}
	if err := artifacts.Write(*out, files); err != nil {
		fmt.Fprintf(stderr, "dashgen generate: %v\n", err)
		return exitUsage
	}
	return exitOK
}
