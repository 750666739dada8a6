package main

import (
	"flag"

	"github.com/meshtel/meshtel/internal/cmdhelp"
)

// envNote follows the flags of every alsd command: parseFlags reads each
// flag not given on the command line from its ALSD_<NAME> variable.
const envNote = "Every flag can also be set as an environment variable ALSD_<NAME> " +
	"(--kafka-brokers as ALSD_KAFKA_BROKERS); the command line wins."

// withHelp makes fs print h for -h, -help and --help (see parseFlags).
func withHelp(fs *flag.FlagSet, h cmdhelp.Help) {
	h.FlagNote = envNote
	fs.Usage = cmdhelp.Func(fs, h)
}

var serveHelp = cmdhelp.Help{
	Usage: "alsd [flags]",
	Text: `
alsd receives Envoy access logs over gRPC (the Access Log Service, or
OpenTelemetry logs), produces one Kafka record per log entry and keeps live
SLIs, error budgets, a cookie inventory and the dependency edges of the mesh.
It serves /metrics, /healthz, /readyz, /api/slo, /api/cookies,
/api/dependencies and the web UI on --admin-addr. SIGINT or SIGTERM drains
every accepted record to Kafka or the spool, then exits 0; bad flags or a
bad catalog exit 2.

Commands:
  alsd [flags]              run the sink
  alsd aggregate [flags]    consume the Kafka topic in a consumer group and
                            serve SLIs and cookies for the partitions owned
  alsd report cookies|slo|dependencies
                            render reports from running alsd instances
  alsd simulate [flags]     drive a running alsd with simulated Envoy traffic
Run "alsd COMMAND --help" for a command's flags.`,
	Examples: []string{
		"alsd --kafka-brokers kafka-1:9092,kafka-2:9092 --catalog mesh.yaml --state-dir /var/lib/alsd",
		"alsd --demo",
	},
}

var aggregateHelp = cmdhelp.Help{
	Usage: "alsd aggregate --kafka-brokers HOST:PORT,... [flags]",
	Text: `
alsd aggregate consumes the record topic in a Kafka consumer group and
computes SLI, cookie and dependency-edge state for the partitions it owns,
with its own --catalog. Each partition's state is checkpointed with its next
offset to the compacted --state-topic, so totals stay exact across crashes and
rebalances. It serves /metrics, /healthz, /readyz, /api/slo, /api/cookies and
/api/dependencies (for the services it owns) on --admin-addr. Run several: a stopped aggregator's
partitions move to the others within --session-timeout. The ingesters in
front of them run alsd --compute=false.`,
	Examples: []string{
		"alsd aggregate --kafka-brokers kafka-1:9092 --catalog mesh.yaml --admin-addr :9103",
		"alsd report slo --admin http://agg-1:9103,http://agg-2:9103",
	},
}

var reportHelp = cmdhelp.Help{
	Usage: "alsd report cookies|slo|dependencies [flags]",
	Text: `
alsd report reads the /api/slo, /api/cookies or /api/dependencies JSON of one
or more running alsd or alsd aggregate instances (--admin; several answers are
merged), or the checkpoints in a stopped alsd's --state-dir, and prints to
stdout:
  slo           per service and SLO: objective, SLI, error budget left, burn
                rates over 1h, 6h and 3d, status
  cookies       per service and cookie: where it was seen, Secure, HttpOnly,
                SameSite, lifetime, value classes, distinct values, findings,
                and which long-lifetime rule applied; never a cookie value
  dependencies  per edge (caller → called, as the caller's sidecar logged it):
                requests, errors, p99, recent rate, declared or not; then the
                undeclared calls and the unused declarations
as a Markdown table (md), CSV (cookies only), Graphviz DOT (dependencies only:
pipe it to dot -Tsvg) or the API's JSON. With --diff it reads two saved JSON
cookie reports and prints the cookies added, removed and changed between them.
slo --month YYYY-MM prints that calendar month (UTC) per SLO: objective, SLI,
budget consumed, worst day and every day's SLI (md, csv or json), from the
per-day totals alsd keeps for 400 days.`,
	Examples: []string{
		"alsd report slo",
		"alsd report cookies --admin http://alsd-1:9102,http://alsd-2:9102 --format csv > cookies.csv",
		"alsd report cookies --format json > week-48.json",
		"alsd report cookies --diff week-47.json week-48.json",
		"alsd report slo --state-dir /var/lib/alsd --catalog mesh.yaml",
		"alsd report slo --month 2026-11 --format csv > slo-2026-11.csv",
		"alsd report dependencies --format dot | dot -Tsvg > mesh.svg",
	},
}

var simulateHelp = cmdhelp.Help{
	Usage: "alsd simulate [flags]",
	Text: `
alsd simulate drives a running alsd as a fleet of Envoys would: --sidecars
simulated Envoys per catalog service, each with --streams ALS streams, send
batches of realistic HTTP and TCP access-log entries (errors, response flags,
latencies, cookies) to --target until --total entries or --duration.
--bad-ratio sets a service's share of failed requests: checkout=1 is a total
outage of checkout, checkout=0 a spotless checkout. With --protocol otlp the
Envoys send the same traffic as OpenTelemetry logs, with the attributes of
--vocabulary. A stream alsd ends (--max-stream-age) is reopened, as Envoy
does.
It prints to stdout the entries and messages sent and entries per second. With
--admin it also reads alsd's /metrics before and after
(alsd_kafka_produced_total, process_cpu_seconds_total), waits up to 30s for
every entry to reach Kafka, and prints the end-to-end records per second and
alsd's CPU-seconds per million records.`,
	Examples: []string{
		"alsd simulate --rate 5000 --duration 1m",
		"alsd simulate --target alsd:18000 --admin http://alsd:9102 --total 1000000",
		"alsd simulate --catalog mesh.yaml --rate 200 --bad-ratio checkout=1 --duration 10m",
	},
}
