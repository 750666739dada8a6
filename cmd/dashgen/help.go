package main

import "github.com/meshtel/meshtel/internal/cmdhelp"

var rootHelp = cmdhelp.Help{
	Usage: "dashgen check|generate [flags]",
	Text: `
dashgen checks mesh catalogs and generates from one the Prometheus rules and
tests, Alertmanager routes, Grafana dashboards and Envoy access-log configs of
the mesh.

Commands:
  dashgen check FILE...                       print every catalog mistake as
                                              FILE:LINE:COL: message
  dashgen generate --catalog FILE --out DIR   write every output file
Run "dashgen COMMAND --help" for a command's flags.

Exit status: 0 clean, 1 catalog mistakes, 2 usage or I/O errors.`,
	Examples: []string{
		"dashgen check mesh.yaml",
		"dashgen generate --catalog mesh.yaml --out generated/",
	},
}

var checkHelp = cmdhelp.Help{
	Usage: "dashgen check FILE...",
	Text: `
dashgen check reads each mesh catalog FILE and prints every mistake to
stdout, one per line, as FILE:LINE:COL: message (1-based): YAML syntax, wrong
types, unknown keys (with a "did you mean"), invalid or duplicate names,
ports outside 1-65535 or clashing, upstreams that name no service, objectives
outside (0, 100), thresholds and cookie lifetimes that do not parse, health
checks not starting with /, undefined teams and teams without a receiver. It
prints nothing when every file is clean.

Exit status: 0 clean, 1 catalog mistakes, 2 usage errors or unreadable files.`,
	Examples: []string{
		"dashgen check mesh.yaml",
		"dashgen check catalogs/*.yaml",
	},
}

var generateHelp = cmdhelp.Help{
	Usage: "dashgen generate --catalog FILE --out DIR [flags]",
	Text: `
dashgen generate reads the mesh catalog and writes under DIR, byte-identical
on every run (and deletes generated files of services that left the catalog):
  prometheus/rules/, prometheus/tests/  recording rules and MeshErrorBudgetBurn
                                        alerts per service, the pipeline's
                                        alerts, and promtool test cases
  alertmanager/routes.yml               the route tree by team and severity
  grafana/dashboards/                   per service, mesh overview, cookies,
                                        pipeline
  grafana/provisioning/                 the datasource and dashboard providers
  envoy/<service>.als.yaml              the Envoy access_log config per service

Exit status: 0 written, 1 catalog mistakes (on stderr, as dashgen check
prints them), 2 usage or I/O errors.`,
	Examples: []string{
		"dashgen generate --catalog mesh.yaml --out generated/",
		"dashgen generate --catalog mesh.yaml --out generated/ --als-address alsd.telemetry:18000 --grafana-url https://grafana.example.com",
	},
}
