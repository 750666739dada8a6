package record

import (
	"time"

	"github.com/meshtel/meshtel/outcome"

	"github.com/meshtel/meshtel/cookies/httpcookie"
)

// Kind is the protocol of the entry a Record came from.
type Kind uint8

// Record kinds.
const (
	HTTP Kind = iota
	TCP
)

// String returns "http" or "tcp", the record's kind field.
func (k Kind) String() string {
	if k == TCP {
		return "tcp"
	}
	return "http"
}

// Direction tells whether the reporting Envoy served its own service
// (Inbound) or called another one (Outbound), as Istio's cluster names say.
type Direction uint8

// Directions; DirectionUnknown is left out of encodings.
const (
	DirectionUnknown Direction = iota
	Inbound
	Outbound
)

// String returns "inbound", "outbound", or "" when unknown.
func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	}
	return ""
}

// Record is one Envoy access-log entry, cleaned: the one model the Kafka
// encodings, the SLI engine and the cookie inventory are fed from. String
// fields are empty and numeric fields zero when Envoy did not send them;
// encodings leave such fields out (SPEC §2).
//
// A Record never holds a cookie value or a raw Cookie/Set-Cookie header:
// those are reduced to Cookies while converting.
type Record struct {
	Time    time.Time // request start, UTC
	Kind    Kind
	Service string
	NodeID  string
	LogName string

	RouteName               string
	UpstreamCluster         string
	UpstreamHost            string
	DownstreamRemoteAddress string
	// DownstreamLocalPort is the port the request arrived on; not encoded,
	// used for naming the service of an ingress Envoy.
	DownstreamLocalPort int

	Protocol  string
	Method    string
	Authority string
	Path      string

	Status        int // 0 when Envoy sent no response code
	GRPCStatus    int // -1 when absent
	ResponseFlags []string

	DurationMs            float64
	HasDuration           bool
	UpstreamDurationMs    float64
	HasUpstreamDuration   bool
	RequestBytes          uint64
	ResponseBytes         uint64
	UserAgent             string
	RequestID             string
	TLSVersion            string
	PeerPrincipal         string
	ReporterPrincipal     string
	Direction             Direction
	PeerService           string
	ResponseCodeDetails   string
	ConnectionTermination string
	UpstreamFailure       string

	Intermediate bool
	Outcome      outcome.Outcome // set by the classifier; Unknown until then

	Cookies []httpcookie.Observation
	// MalformedCookies are the reasons cookies in the logged headers could
	// not be parsed; counted by the inventory, never encoded.
	MalformedCookies []httpcookie.Malformed
}

// Reset clears r for reuse, keeping the capacity of its slices.
func (r *Record) Reset() {
	flags, ck, bad := r.ResponseFlags[:0], r.Cookies[:0], r.MalformedCookies[:0]
	*r = Record{GRPCStatus: -1, ResponseFlags: flags, Cookies: ck, MalformedCookies: bad}
}
