// Package catalog holds the mesh catalog: the declarative list of meshified
// services (the platform team's control-plane macros as data), their owners
// and SLOs. It loads and statically checks catalog YAML, keeping file
// positions so every mistake is reported as FILE:LINE:COL.
//
// Parse reports all mistakes of a file at once, as Errors sorted by
// position: YAML syntax, wrong types, duplicate or unknown keys (with a
// "did you mean"), invalid or duplicate names and aliases, ports outside
// 1-65535 or used twice, upstreams and teams that name nothing, objectives
// outside (0, 100), thresholds that are not Go durations, health checks
// that are not a path, teams without a receiver.
//
// Where SPEC §4 leaves room, the package decides:
//   - A team named by a service or by defaults.team must be defined under
//     teams. A catalog without a teams section defines none, so naming a
//     team there is a mistake too. A service may name no team at all (nor
//     defaults.team); its Team is then empty.
//   - SLO fields merge in three layers: built-in defaults (availability 99.9,
//     latency 99 under 500ms), then defaults.slos, then the service's slos,
//     field by field. latency: null disables latency at either level; a
//     service re-enabling it under disabled defaults must give both
//     objective and threshold. Availability cannot be disabled.
//   - A tcp_service has no latency SLO: defaults do not give it one and
//     declaring one is a mistake (latency: null is accepted).
//   - An SLO's window is 30d (the default), 28d, 7d or month, written as a
//     string; it merges field by field like the objective, so a service
//     setting only its objective keeps the defaults' window.
//   - Objectives must be plain decimals (99.95, not 9.995e1), since their
//     text is printed verbatim into rules and reports.
//   - alerting.min_bad_events is a whole number of bad requests, 0 or more
//     (0 turns the low-traffic guard off); a service's value replaces the
//     one under defaults, which defaults to DefaultMinBadEvents.
//   - pipeline.team, the team paged for alsd itself, defaults to
//     defaults.team and must be defined under teams like any other.
//   - privacy.max_cookie_lifetime is a whole number of months ("13mo", a
//     month being a twelfth of the Gregorian year) or a Prometheus duration
//     ("400d", "1y", "9600h"), at least one second; default 400d.
//   - The service name meshtel-pipeline is reserved (PipelineName).
//   - Every service has a port, as the macros take one.
//   - Upstreams may name a service by an alias; the catalog stores the
//     service's name.
//   - Service names and aliases share one namespace across the mesh.
//   - YAML anchors, aliases and merge keys (<<) work as in YAML 1.1; top-level
//     keys starting with x- are ignored, to hold anchors. A file holds one
//     YAML document.
//
// The package is a leaf: it knows nothing of access logs, Kafka, rules or
// dashboards. Those packages read a *Catalog; none writes to it. It does not
// watch files or reload them; callers Load again.
package catalog

import "time"

// Kind is the macro a service was declared with.
type Kind string

// The service kinds of SPEC §4.
const (
	HTTPService Kind = "http_service" // mesh.http_service(name, port, healthcheck=…)
	Cluster     Kind = "cluster"      // mesh.cluster(name, port): an HTTP upstream cluster
	TCPService  Kind = "tcp_service"  // raw TCP: availability SLOs only
)

// Pos is a 1-based position in a catalog file.
type Pos struct {
	File   string
	Line   int
	Column int
}

// Catalog is a loaded, checked mesh catalog.
type Catalog struct {
	File     string
	Defaults Defaults
	Pipeline Pipeline
	Privacy  Privacy   // see CookieLifetime for the effective limit
	Teams    []Team    // in file order
	Services []Service // in file order; SLOs already merged over Defaults.SLOs

	// idx answers Lookup, ByPort and Team in O(1). Parse and Empty build it;
	// a Catalog assembled by hand has none and is searched linearly.
	idx *index
}

// Defaults apply to every service that does not override them.
type Defaults struct {
	Team     string
	SLOs     SLOs
	Alerting Alerting
}

// Pipeline says who answers for the telemetry pipeline itself (alsd).
type Pipeline struct {
	// Team is paged when alsd stops reporting or loses records; "" when
	// neither pipeline.team nor defaults.team names one.
	Team string
}

// Alerting tunes a service's MeshErrorBudgetBurn alerts.
type Alerting struct {
	// MinBadEvents is the fewest bad requests each burn-rate window pair
	// needs in its long window before it may fire, so that one failure
	// among a handful of requests never pages. 0 turns the guard off.
	MinBadEvents int
}

// PipelineName names the pipeline's own generated files and rule groups
// (meshtel-pipeline.rules.yml), so no service may take it.
const PipelineName = "meshtel-pipeline"

// DefaultMinBadEvents is alerting.min_bad_events when the catalog sets none.
const DefaultMinBadEvents = 10

// Team is an on-call owner of services.
type Team struct {
	Name        string
	Receiver    string // Alertmanager receiver name
	Slack       string
	RunbookBase string
	Pos         Pos
}

// Service is one meshified service.
type Service struct {
	Name        string
	Kind        Kind
	Port        int
	HealthCheck string // path without query, "" when none
	Team        string // effective team (Defaults.Team when not set)
	Upstreams   []string
	Aliases     []string // other names Envoy may report (Istio's "reviews.default")
	Cookies     []string // declared cookie names
	Domains     []string // the service's own cookie domains
	SPIFFE      []string // identities allowed to log for the service
	Runbook     string
	SLOs        SLOs     // effective: merged field by field over Defaults.SLOs
	Alerting    Alerting // effective: the service's own, else Defaults.Alerting
	Pos         Pos      // position of the service's name key
}

// SLOs are the objectives of one service. A nil field means the SLO is
// disabled (latency: null, or any latency SLO of a tcp_service).
type SLOs struct {
	Availability *Objective
	Latency      *LatencyObjective
}

// Objective is a target percentage over a window.
type Objective struct {
	// Percent is the objective as a number, e.g. 99.9.
	Percent float64
	// Text is the objective exactly as written in the catalog ("99.9"), so
	// generated rules and reports never print 99.90000000000001.
	Text string
	// Window is the period the objective and its error budget cover.
	// Parse always sets it; "" (a hand-built Objective) means DefaultWindow.
	Window Window
}

// Ratio returns the objective as a ratio (0.999 for 99.9).
func (o Objective) Ratio() float64 { return o.Percent / 100 }

// LatencyObjective is the share of requests that must be faster than Threshold.
type LatencyObjective struct {
	Objective
	Threshold     time.Duration
	ThresholdText string // as written, "500ms"
}

// Window names the period an objective is measured over (SPEC §9): a
// rolling number of days or the calendar month. Package sli gives the
// names their meaning (lengths, month arithmetic, burn factors); the
// catalog only checks that a window is one of them.
type Window string

// The windows an SLO may name.
const (
	Window30d   Window = "30d"   // rolling 30 days, the default
	Window28d   Window = "28d"   // rolling 4 weeks
	Window7d    Window = "7d"    // rolling week
	WindowMonth Window = "month" // the calendar month, UTC
)

// DefaultWindow is the window of an objective that names none.
const DefaultWindow = Window30d

// Windows lists every valid window, the default first.
var Windows = []Window{Window30d, Window28d, Window7d, WindowMonth}

// OrDefault returns w, or DefaultWindow when w is empty.
func (w Window) OrDefault() Window {
	if w == "" {
		return DefaultWindow
	}
	return w
}
