// Package catalog holds the mesh catalog: the declarative list of meshified
// services (the platform team's control-plane macros as data), their owners
// and SLOs. It loads and statically checks catalog YAML, keeping file
// positions so every mistake is reported as FILE:LINE:COL.
//
// The package is a leaf: it knows nothing of access logs, Kafka, rules or
// dashboards. Those packages read a *Catalog; none writes to it.
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
	Teams    []Team    // in file order
	Services []Service // in file order; SLOs already merged over Defaults.SLOs

	// idx answers Lookup, ByPort and Team in O(1). Parse and Empty build it;
	// a Catalog assembled by hand has none and is searched linearly.
	idx *index
}

// Defaults apply to every service that does not override them.
type Defaults struct {
	Team string
	SLOs SLOs
}

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
	SLOs        SLOs // effective: merged field by field over Defaults.SLOs
	Pos         Pos  // position of the service's name key
}

// SLOs are the objectives of one service. A nil field means the SLO is
// disabled (latency: null, or any latency SLO of a tcp_service).
type SLOs struct {
	Availability *Objective
	Latency      *LatencyObjective
}

// Objective is a target percentage over the 30-day window.
type Objective struct {
	// Percent is the objective as a number, e.g. 99.9.
	Percent float64
	// Text is the objective exactly as written in the catalog ("99.9"), so
	// generated rules and reports never print 99.90000000000001.
	Text string
}

// Ratio returns the objective as a ratio (0.999 for 99.9).
func (o Objective) Ratio() float64 { return o.Percent / 100 }

// LatencyObjective is the share of requests that must be faster than Threshold.
type LatencyObjective struct {
	Objective
	Threshold     time.Duration
	ThresholdText string // as written, "500ms"
}

// Window is the SLO window of every objective.
const Window = 30 * 24 * time.Hour
