package envoytext

import (
	"errors"
	"strings"
	"testing"
)

// Lines as Istio's and Envoy's default formats print them.
const (
	istioHTTP = `[2026-11-25T10:00:00.123Z] "GET /api/v1/pins?page=2 HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{connection_failure} - "delayed connect error: 111" 0 91 12 11 "10.0.0.7" "Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0" "5f1c9a2e-7b1d-4c3e-9a0b-1d2e3f4a5b6c" "www.example.com" "10.0.0.9:9000" outbound|9000||some-service.mesh.svc.cluster.local 10.0.0.1:51000 10.0.0.1:8080 10.0.0.7:51234 - default` + "\n"
	istioTCP  = `[2026-11-25T10:00:01.000Z] "- - -" 0 - - - "-" 512 1024 30012 - "-" "-" "-" "-" "10.0.0.5:6379" outbound|6379||redis.mesh.svc.cluster.local 10.0.0.1:40000 10.0.0.10:6379 10.0.0.1:39999 - -`
	envoyHTTP = `[2026-11-25T10:00:00.123Z] "POST /login HTTP/2" 200 - 120 456 7 6 "-" "curl/8.0" "abc" "shop.example.com" "127.0.0.1:8080"` + "\n"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Line
	}{
		{"istio http", istioHTTP, Line{
			StartTime: "2026-11-25T10:00:00.123Z", Method: "GET", Path: "/api/v1/pins?page=2", Protocol: "HTTP/1.1",
			ResponseCode: "503", ResponseFlags: "UF,URX", ResponseCodeDetails: "upstream_reset_before_response_started{connection_failure}",
			ConnectionTermination: "-", UpstreamTransportFailureReason: "delayed connect error: 111",
			BytesReceived: "0", BytesSent: "91", Duration: "12", UpstreamServiceTime: "11", ForwardedFor: "10.0.0.7",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0", RequestID: "5f1c9a2e-7b1d-4c3e-9a0b-1d2e3f4a5b6c",
			Authority: "www.example.com", UpstreamHost: "10.0.0.9:9000", UpstreamCluster: "outbound|9000||some-service.mesh.svc.cluster.local",
			UpstreamLocalAddress: "10.0.0.1:51000", DownstreamLocalAddress: "10.0.0.1:8080", DownstreamRemoteAddress: "10.0.0.7:51234",
			RequestedServerName: "-", RouteName: "default",
		}},
		{"istio tcp", istioTCP, Line{
			StartTime: "2026-11-25T10:00:01.000Z", Method: "-", Path: "-", Protocol: "-", ResponseCode: "0", ResponseFlags: "-",
			ResponseCodeDetails: "-", ConnectionTermination: "-", UpstreamTransportFailureReason: "-",
			BytesReceived: "512", BytesSent: "1024", Duration: "30012", UpstreamServiceTime: "-", ForwardedFor: "-", UserAgent: "-",
			RequestID: "-", Authority: "-", UpstreamHost: "10.0.0.5:6379", UpstreamCluster: "outbound|6379||redis.mesh.svc.cluster.local",
			UpstreamLocalAddress: "10.0.0.1:40000", DownstreamLocalAddress: "10.0.0.10:6379", DownstreamRemoteAddress: "10.0.0.1:39999",
			RequestedServerName: "-", RouteName: "-",
		}},
		{"envoy default", envoyHTTP, Line{
			StartTime: "2026-11-25T10:00:00.123Z", Method: "POST", Path: "/login", Protocol: "HTTP/2", ResponseCode: "200", ResponseFlags: "-",
			BytesReceived: "120", BytesSent: "456", Duration: "7", UpstreamServiceTime: "6", ForwardedFor: "-", UserAgent: "curl/8.0",
			RequestID: "abc", Authority: "shop.example.com", UpstreamHost: "127.0.0.1:8080",
		}},
		{"quote inside a quoted field", strings.Replace(envoyHTTP, `"curl/8.0"`, `"say "hi"x"`, 1), Line{
			StartTime: "2026-11-25T10:00:00.123Z", Method: "POST", Path: "/login", Protocol: "HTTP/2", ResponseCode: "200", ResponseFlags: "-",
			BytesReceived: "120", BytesSent: "456", Duration: "7", UpstreamServiceTime: "6", ForwardedFor: "-", UserAgent: `say "hi"x`,
			RequestID: "abc", Authority: "shop.example.com", UpstreamHost: "127.0.0.1:8080",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"empty", "", `byte 0: want "["`},
		{"json", `{"status":"200"}`, `byte 0: want "["`},
		{"no closing bracket", `[2026-11-25T10:00:00.123Z "GET / HTTP/1.1"`, `byte 1: the start time has no closing "] "`},
		{"unterminated quote", `[t] "GET / HTTP/1.1 200`, `byte 4: a quoted field has no closing quote`},
		{"too few fields", `[t] "GET / HTTP/1.1" 200 -`, `byte 4: 3 fields shaped QBB`},
		{"two spaces", strings.Replace(envoyHTTP, " 200 ", " 200  ", 1), "want Istio's"},
		{"trailing space", strings.TrimSuffix(envoyHTTP, "\n") + " ", "the line ends in a space"},
		{"request line of two words", strings.Replace(envoyHTTP, "POST /login HTTP/2", "POST /login", 1), `byte 27: the request line is not "METHOD PATH PROTOCOL"`},
		{"too many fields", strings.Repeat("x ", 30), `want "["`},
		{"more fields than Istio's", strings.TrimSuffix(istioHTTP, "\n") + " extra", "more than 21 fields"},
		{"text after a quote", strings.Replace(envoyHTTP, `"abc" `, `"abc"x `, 1), "want Istio's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.line)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.line)
			}
			if !errors.Is(err, ErrNotEnvoyText) {
				t.Errorf("error %v is not ErrNotEnvoyText", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(istioHTTP) }); n != 0 {
		t.Errorf("Parse allocates %v times per line", n)
	}
}

// format prints l in Istio's format, or Envoy's when istio is false: the
// inverse of Parse, written from the format strings.
func format(l Line, istio bool) string {
	q := func(s string) string { return `"` + s + `"` }
	f := []string{"[" + l.StartTime + "]", q(l.Method + " " + l.Path + " " + l.Protocol), l.ResponseCode, l.ResponseFlags}
	if istio {
		f = append(f, l.ResponseCodeDetails, l.ConnectionTermination, q(l.UpstreamTransportFailureReason))
	}
	f = append(f, l.BytesReceived, l.BytesSent, l.Duration, l.UpstreamServiceTime,
		q(l.ForwardedFor), q(l.UserAgent), q(l.RequestID), q(l.Authority), q(l.UpstreamHost))
	if istio {
		f = append(f, l.UpstreamCluster, l.UpstreamLocalAddress, l.DownstreamLocalAddress, l.DownstreamRemoteAddress,
			l.RequestedServerName, l.RouteName)
	}
	return strings.Join(f, " ")
}

// FuzzParse: Parse never panics, and a line it accepts is printed back
// byte for byte by format, so no field is lost, shifted or invented.
func FuzzParse(f *testing.F) {
	for _, s := range []string{istioHTTP, istioTCP, envoyHTTP, `[t] "a b c" 1 2 3 4 5 6 "" "" "" "" ""`, `[] "  " "`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrNotEnvoyText) {
				t.Fatalf("error %v is not ErrNotEnvoyText", err)
			}
			return
		}
		trimmed := strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
		istio := l.RouteName != "" || l.ResponseCodeDetails != ""
		if got := format(l, istio); got != trimmed {
			// An Envoy-shaped line whose last Istio-only fields are all
			// empty is ambiguous only in this test's guess of istio.
			if got2 := format(l, !istio); got2 != trimmed {
				t.Fatalf("Parse(%q) = %+v, which prints back as %q", s, l, got)
			}
		}
	})
}
