// Package envoytext parses one access-log line in Envoy's default text
// format: the format Istio sends as the body of its OpenTelemetry access
// logs when no attributes are configured (SPEC §7, vocabulary 4), and the
// shorter default of Envoy itself.
//
// Istio's format:
//
//	[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
//	%RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"
//	%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%"
//	"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER%
//	%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%
//
// (one line). Envoy's own default stops after "%UPSTREAM_HOST%" and has no
// response code details, termination details or transport failure reason.
//
// Parse only splits the line into the operators' texts, as Envoy printed
// them ("-" for a missing value); it does not interpret them. It does not
// allocate: every field of a Line is a substring of the parsed line.
package envoytext

import (
	"errors"
	"fmt"
	"strings"
)

// Line holds the texts of one access-log line, field by field, as Envoy
// printed them. Fields a format lacks are "".
type Line struct {
	StartTime string // %START_TIME%, e.g. 2026-11-25T10:00:00.123Z
	// Method, Path and Protocol are the three words of the request line;
	// a TCP proxy prints "- - -".
	Method, Path, Protocol string

	ResponseCode, ResponseFlags                     string
	ResponseCodeDetails, ConnectionTermination      string
	UpstreamTransportFailureReason                  string
	BytesReceived, BytesSent                        string
	Duration, UpstreamServiceTime                   string
	ForwardedFor, UserAgent, RequestID              string
	Authority, UpstreamHost                         string
	UpstreamCluster, UpstreamLocalAddress           string
	DownstreamLocalAddress, DownstreamRemoteAddress string
	RequestedServerName, RouteName                  string
}

// ErrNotEnvoyText is what errors.Is finds in every error of Parse.
var ErrNotEnvoyText = errors.New("not an access-log line in Envoy's default text format")

// SyntaxError says where a line departs from the format: Offset is the
// byte offset in the line.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("envoytext: byte %d: %s", e.Offset, e.Msg)
}

// Is makes errors.Is(err, ErrNotEnvoyText) true.
func (e *SyntaxError) Is(target error) bool { return target == ErrNotEnvoyText }

// token is one space-separated field after the start time: bare, or
// quoted (text excludes the quotes).
type token struct {
	text   string
	quoted bool
	at     int
}

// The shapes of the two formats after the start time, one letter per
// field: Q quoted, B bare.
const (
	istioShape = "QBBBBQBBBBQQQQQBBBBBB"
	envoyShape = "QBBBBBBQQQQQ"
)

// Parse splits line (a trailing newline is allowed) into its fields.
func Parse(line string) (Line, error) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	var l Line
	if !strings.HasPrefix(line, "[") {
		return l, &SyntaxError{0, `want "[" and the start time`}
	}
	end := strings.Index(line, "] ")
	if end < 0 {
		return l, &SyntaxError{1, `the start time has no closing "] "`}
	}
	l.StartTime = line[1:end]
	var toks [len(istioShape)]token
	n, err := tokenize(line, end+2, toks[:])
	if err != nil {
		return l, err
	}
	switch {
	case shaped(toks[:n], istioShape):
		l.istio(toks[:n])
	case shaped(toks[:n], envoyShape):
		l.envoy(toks[:n])
	default:
		shape := make([]byte, n)
		for i, t := range toks[:n] {
			shape[i] = 'B'
			if t.quoted {
				shape[i] = 'Q'
			}
		}
		return l, &SyntaxError{end + 2, fmt.Sprintf("%d fields shaped %s (Q quoted, B bare), want Istio's %s or Envoy's %s",
			n, shape, istioShape, envoyShape)}
	}
	return l, l.request(toks[0])
}

// shaped reports whether toks are quoted and bare as shape says.
func shaped(toks []token, shape string) bool {
	if len(toks) != len(shape) {
		return false
	}
	for i, t := range toks {
		if t.quoted != (shape[i] == 'Q') {
			return false
		}
	}
	return true
}

// tokenize splits line from pos into at most len(toks) tokens. A quoted
// field ends at the first '"' followed by a space or the end of the line,
// since Envoy does not escape quotes inside one.
func tokenize(line string, pos int, toks []token) (int, error) {
	n := 0
	for pos < len(line) {
		if n == len(toks) {
			return n, &SyntaxError{pos, fmt.Sprintf("more than %d fields", len(toks))}
		}
		t := token{at: pos}
		if line[pos] == '"' {
			rest := line[pos+1:]
			i := 0
			for {
				j := strings.IndexByte(rest[i:], '"')
				if j < 0 {
					return n, &SyntaxError{pos, "a quoted field has no closing quote"}
				}
				i += j
				if i+1 == len(rest) || rest[i+1] == ' ' {
					break
				}
				i++
			}
			t.text, t.quoted = rest[:i], true
			pos += i + 2
		} else {
			j := strings.IndexByte(line[pos:], ' ')
			if j < 0 {
				j = len(line) - pos
			}
			t.text = line[pos : pos+j]
			pos += j
		}
		toks[n] = t
		n++
		if pos < len(line) {
			if line[pos] != ' ' {
				return n, &SyntaxError{pos, "want a space between fields"}
			}
			pos++
			if pos == len(line) {
				return n, &SyntaxError{pos, "the line ends in a space"}
			}
		}
	}
	return n, nil
}

func (l *Line) istio(t []token) {
	l.ResponseCode, l.ResponseFlags = t[1].text, t[2].text
	l.ResponseCodeDetails, l.ConnectionTermination = t[3].text, t[4].text
	l.UpstreamTransportFailureReason = t[5].text
	l.BytesReceived, l.BytesSent, l.Duration, l.UpstreamServiceTime = t[6].text, t[7].text, t[8].text, t[9].text
	l.ForwardedFor, l.UserAgent, l.RequestID, l.Authority, l.UpstreamHost = t[10].text, t[11].text, t[12].text, t[13].text, t[14].text
	l.UpstreamCluster, l.UpstreamLocalAddress = t[15].text, t[16].text
	l.DownstreamLocalAddress, l.DownstreamRemoteAddress = t[17].text, t[18].text
	l.RequestedServerName, l.RouteName = t[19].text, t[20].text
}

func (l *Line) envoy(t []token) {
	l.ResponseCode, l.ResponseFlags = t[1].text, t[2].text
	l.BytesReceived, l.BytesSent, l.Duration, l.UpstreamServiceTime = t[3].text, t[4].text, t[5].text, t[6].text
	l.ForwardedFor, l.UserAgent, l.RequestID, l.Authority, l.UpstreamHost = t[7].text, t[8].text, t[9].text, t[10].text, t[11].text
}

// request splits the request line "METHOD PATH PROTOCOL"; the path is
// everything between the first and the last space.
func (l *Line) request(t token) error {
	first := strings.IndexByte(t.text, ' ')
	last := strings.LastIndexByte(t.text, ' ')
	if first < 0 || first == last {
		// The line itself is not quoted: paths carry personal data.
		return &SyntaxError{t.at, `the request line is not "METHOD PATH PROTOCOL"`}
	}
	l.Method, l.Path, l.Protocol = t.text[:first], t.text[first+1:last], t.text[last+1:]
	return nil
}
