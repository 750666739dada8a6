package record

import (
	"fmt"
	"time"

	"github.com/meshtel/meshtel/outcome"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/record/recordpb"
)

// Encoding is the format of Kafka message values.
type Encoding uint8

// Encodings of --kafka-encoding. The values are stored in the spool: never
// renumber them.
const (
	JSON  Encoding = 1
	Proto Encoding = 2
)

// ParseEncoding parses a --kafka-encoding value.
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "json":
		return JSON, nil
	case "proto":
		return Proto, nil
	}
	return 0, fmt.Errorf("unknown encoding %q (want json or proto)", s)
}

// String returns the --kafka-encoding name.
func (e Encoding) String() string {
	if e == Proto {
		return "proto"
	}
	return "json"
}

// DefaultTopic is the record topic of SPEC §1 (--kafka-topic): the one
// default the sink, the aggregators and alsd's flags share.
const DefaultTopic = "mesh.accesslog.v1"

// HeaderContentType is the Kafka header that carries Encoding.ContentType on
// every message alsd produces.
const HeaderContentType = "content-type"

// ContentType is the value of the content-type header of Kafka messages.
func (e Encoding) ContentType() string {
	if e == Proto {
		return "application/x-protobuf; messageType=meshtel.accesslog.v1.Record"
	}
	return "application/json"
}

// Message is one encoded Record on its way to Kafka: key = service.
type Message struct {
	Key      []byte
	Value    []byte
	Encoding Encoding
	// Time is when alsd accepted the record; it becomes the Kafka timestamp
	// and bounds how long the message may wait before it is spooled.
	Time time.Time
	// ID becomes the HeaderID header; the sink assigns it on acceptance
	// and it stays with the message through retries, the spool and replays.
	ID ID
	// Prev is the sequence of the ingester's previous message with the
	// same Key (HeaderPrev); 0 for the first one since the ingester started.
	Prev uint64
}

// Append appends the encoding of r to dst.
func (e Encoding) Append(dst []byte, r *Record) ([]byte, error) {
	if e == Proto {
		return proto.MarshalOptions{}.MarshalAppend(dst, ToProto(r))
	}
	return AppendJSON(dst, r), nil
}

// ToProto converts r to its protobuf form.
func ToProto(r *Record) *recordpb.Record {
	p := &recordpb.Record{
		Time:                           timestamppb.New(r.Time),
		Service:                        r.Service,
		NodeId:                         r.NodeID,
		LogName:                        r.LogName,
		RouteName:                      r.RouteName,
		UpstreamCluster:                r.UpstreamCluster,
		UpstreamHost:                   r.UpstreamHost,
		DownstreamRemoteAddress:        r.DownstreamRemoteAddress,
		Protocol:                       r.Protocol,
		Method:                         r.Method,
		Authority:                      r.Authority,
		Path:                           r.Path,
		ResponseFlags:                  r.ResponseFlags,
		RequestBytes:                   r.RequestBytes,
		ResponseBytes:                  r.ResponseBytes,
		UserAgent:                      r.UserAgent,
		RequestId:                      r.RequestID,
		TlsVersion:                     r.TLSVersion,
		PeerPrincipal:                  r.PeerPrincipal,
		ReporterPrincipal:              r.ReporterPrincipal,
		Direction:                      recordpb.Record_Direction(r.Direction),
		PeerService:                    r.PeerService,
		ResponseCodeDetails:            r.ResponseCodeDetails,
		ConnectionTerminationDetails:   r.ConnectionTermination,
		UpstreamTransportFailureReason: r.UpstreamFailure,
		Intermediate:                   r.Intermediate,
	}
	if r.Kind == TCP {
		p.Kind = recordpb.Record_KIND_TCP
	}
	if r.Status != 0 {
		p.Status = proto.Uint32(uint32(r.Status))
	}
	if r.GRPCStatus >= 0 {
		p.GrpcStatus = proto.Uint32(uint32(r.GRPCStatus))
	}
	if r.HasDuration {
		p.DurationMs = proto.Float64(r.DurationMs)
	}
	if r.HasUpstreamDuration {
		p.UpstreamDurationMs = proto.Float64(r.UpstreamDurationMs)
	}
	switch r.Outcome {
	case outcome.Good:
		p.Outcome = recordpb.Record_OUTCOME_GOOD
	case outcome.Bad:
		p.Outcome = recordpb.Record_OUTCOME_BAD
	case outcome.Excluded:
		p.Outcome = recordpb.Record_OUTCOME_EXCLUDED
	}
	for i := range r.Cookies {
		c := &r.Cookies[i]
		pc := &recordpb.Cookie{
			Name: c.Name, Domain: c.Domain, Path: c.Path, Secure: c.Secure, HttpOnly: c.HTTPOnly,
			Partitioned: c.Partitioned, SameSite: c.SameSite, ValueClass: c.ValueClass.String(),
			Source: recordpb.Cookie_SOURCE_REQUEST,
		}
		if c.Source == httpcookie.Response {
			pc.Source = recordpb.Cookie_SOURCE_RESPONSE
		}
		if c.HasMaxAge {
			pc.MaxAgeS = proto.Int64(c.MaxAgeS)
		}
		p.Cookies = append(p.Cookies, pc)
	}
	return p
}
