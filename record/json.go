package record

import (
	"strconv"
	"unicode/utf8"

	"github.com/meshtel/meshtel/cookies/httpcookie"
)

// AppendJSON appends the SPEC §2 JSON encoding of r to dst. It is written
// by hand, not with encoding/json, because it runs once per log entry on
// the ingest hot path and must neither reflect nor allocate.
func AppendJSON(dst []byte, r *Record) []byte {
	dst = append(dst, `{"time":"`...)
	dst = r.Time.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	dst = append(dst, `","kind":"`...)
	dst = append(dst, r.Kind.String()...)
	dst = append(dst, '"')
	dst = appendStringField(dst, "service", r.Service)
	dst = appendStringField(dst, "node_id", r.NodeID)
	dst = appendStringField(dst, "log_name", r.LogName)
	dst = appendStringField(dst, "route_name", r.RouteName)
	dst = appendStringField(dst, "upstream_cluster", r.UpstreamCluster)
	dst = appendStringField(dst, "upstream_host", r.UpstreamHost)
	dst = appendStringField(dst, "downstream_remote_address", r.DownstreamRemoteAddress)
	dst = appendStringField(dst, "protocol", r.Protocol)
	dst = appendStringField(dst, "method", r.Method)
	dst = appendStringField(dst, "authority", r.Authority)
	dst = appendStringField(dst, "path", r.Path)
	if r.Status != 0 {
		dst = append(dst, `,"status":`...)
		dst = strconv.AppendInt(dst, int64(r.Status), 10)
	}
	if r.GRPCStatus >= 0 {
		dst = append(dst, `,"grpc_status":`...)
		dst = strconv.AppendInt(dst, int64(r.GRPCStatus), 10)
	}
	if len(r.ResponseFlags) > 0 {
		dst = append(dst, `,"response_flags":[`...)
		for i, f := range r.ResponseFlags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, f)
		}
		dst = append(dst, ']')
	}
	if r.HasDuration {
		dst = append(dst, `,"duration_ms":`...)
		dst = strconv.AppendFloat(dst, r.DurationMs, 'f', -1, 64)
	}
	if r.HasUpstreamDuration {
		dst = append(dst, `,"upstream_duration_ms":`...)
		dst = strconv.AppendFloat(dst, r.UpstreamDurationMs, 'f', -1, 64)
	}
	dst = append(dst, `,"request_bytes":`...)
	dst = strconv.AppendUint(dst, r.RequestBytes, 10)
	dst = append(dst, `,"response_bytes":`...)
	dst = strconv.AppendUint(dst, r.ResponseBytes, 10)
	dst = appendStringField(dst, "user_agent", r.UserAgent)
	dst = appendStringField(dst, "request_id", r.RequestID)
	dst = appendStringField(dst, "tls_version", r.TLSVersion)
	dst = appendStringField(dst, "peer_principal", r.PeerPrincipal)
	dst = appendStringField(dst, "reporter_principal", r.ReporterPrincipal)
	dst = appendStringField(dst, "direction", r.Direction.String())
	dst = appendStringField(dst, "peer_service", r.PeerService)
	dst = appendStringField(dst, "response_code_details", r.ResponseCodeDetails)
	dst = appendStringField(dst, "connection_termination_details", r.ConnectionTermination)
	dst = appendStringField(dst, "upstream_transport_failure_reason", r.UpstreamFailure)
	dst = append(dst, `,"intermediate":`...)
	dst = strconv.AppendBool(dst, r.Intermediate)
	dst = appendStringField(dst, "outcome", r.Outcome.String())
	if len(r.Cookies) > 0 {
		dst = append(dst, `,"cookies":[`...)
		for i := range r.Cookies {
			if i > 0 {
				dst = append(dst, ',')
			}
			c := &r.Cookies[i]
			dst = append(dst, `{"name":`...)
			dst = appendJSONString(dst, c.Name)
			dst = appendStringField(dst, "source", c.Source.String())
			dst = appendStringField(dst, "domain", c.Domain)
			dst = appendStringField(dst, "path", c.Path)
			if c.Source == httpcookie.Response {
				dst = append(dst, `,"secure":`...)
				dst = strconv.AppendBool(dst, c.Secure)
				dst = append(dst, `,"http_only":`...)
				dst = strconv.AppendBool(dst, c.HTTPOnly)
				if c.Partitioned {
					dst = append(dst, `,"partitioned":true`...)
				}
			}
			dst = appendStringField(dst, "same_site", c.SameSite)
			if c.HasMaxAge {
				dst = append(dst, `,"max_age_s":`...)
				dst = strconv.AppendInt(dst, c.MaxAgeS, 10)
			}
			dst = appendStringField(dst, "value_class", c.ValueClass.String())
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendStringField appends ,"name":"value", or nothing for an empty value:
// SPEC §2 leaves unknown fields out.
func appendStringField(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return appendJSONString(dst, value)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD
// and U+2028/U+2029 are escaped, as encoding/json does, so any consumer
// (including JavaScript ones) can read what Envoy sent.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
