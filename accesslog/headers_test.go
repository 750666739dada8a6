package accesslog

import (
	"strings"
	"testing"
	"time"

	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"github.com/meshtel/meshtel/record"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMaxHeaderBytes(t *testing.T) {
	t.Parallel()
	const planted = "PLANTEDBEYONDTHECUT"
	tests := []struct {
		name      string
		max       int
		requestID string
		ua        string
		cookie    string
		setCookie string
		wantID    string
		wantUA    string
		wantNames string // cookie names observed, request then response
		wantCut   bool
	}{
		{
			name: "default keeps ordinary headers", requestID: "r-1", ua: "curl/8.0", cookie: "a=1; b=2", setCookie: "s=1; Path=/",
			wantID: "r-1", wantUA: "curl/8.0", wantNames: "a b s",
		},
		{
			name: "default cuts past 8KiB", ua: strings.Repeat("u", 9000), cookie: "a=1",
			wantUA: strings.Repeat("u", 8192), wantCut: true,
		},
		{
			name: "user agent cut at a character boundary", max: 10, requestID: "r-1", ua: "abcdé€x",
			// 3 bytes for the id leave 7: "abcdé" is 6, "€" would end at 9.
			wantID: "r-1", wantUA: "abcdé", wantCut: true,
		},
		{
			name: "whole cookies only", max: 8 + len("a=1; b=2"), ua: "12345678", cookie: "a=1; b=2; c=" + planted,
			wantUA: "12345678", wantNames: "a b", wantCut: true,
		},
		{
			name: "a cookie ending at the budget is kept", max: len("a=1; b=2"), cookie: "a=1; b=2;c=3",
			wantNames: "a b", wantCut: true,
		},
		{
			name: "first cookie too big", max: 5, cookie: "sid=" + planted,
			wantCut: true,
		},
		{
			name: "whole set-cookie lines only", max: 64,
			setCookie: "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure,b=2; Path=/,c=" + planted + "; Path=/",
			wantNames: "a b", wantCut: true,
		},
		{
			name: "request headers first", max: 12, cookie: "a=1; b=2", setCookie: "c=3; Path=/",
			wantNames: "a b", wantCut: true,
		},
		{
			name: "negative: no cap", max: -1, ua: strings.Repeat("u", 100000), cookie: "a=1",
			wantUA: strings.Repeat("u", 100000), wantNames: "a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &datav3.HTTPAccessLogEntry{
				Request: &datav3.HTTPRequestProperties{RequestId: tt.requestID, UserAgent: tt.ua,
					RequestHeaders: map[string]string{"cookie": tt.cookie}},
				Response: &datav3.HTTPResponseProperties{ResponseHeaders: map[string]string{"set-cookie": tt.setCookie}},
			}
			c := &Converter{MaxHeaderBytes: tt.max}
			var id Identity
			var r record.Record
			c.HTTP(&r, &id, e, time.Now())
			if r.RequestID != tt.wantID {
				t.Errorf("request_id %q, want %q", r.RequestID, tt.wantID)
			}
			if r.UserAgent != tt.wantUA {
				t.Errorf("user_agent %q (%d bytes), want %q", r.UserAgent, len(r.UserAgent), tt.wantUA)
			}
			var names []string
			for _, o := range r.Cookies {
				names = append(names, o.Name)
			}
			if got := strings.Join(names, " "); got != tt.wantNames {
				t.Errorf("cookies %q, want %q", got, tt.wantNames)
			}
			if len(r.MalformedCookies) != 0 {
				t.Errorf("the cut left malformed cookies: %v", r.MalformedCookies)
			}
			if cut := id.headersCut == 1; cut != tt.wantCut || id.headersCut > 1 {
				t.Errorf("headersCut = %d, want cut=%v", id.headersCut, tt.wantCut)
			}
			if max := tt.max; max > 0 {
				kept := len(r.RequestID) + len(r.UserAgent)
				for _, o := range r.Cookies {
					kept += len(o.Name)
				}
				if kept > max {
					t.Errorf("kept at least %d header bytes, more than %d", kept, max)
				}
			}
		})
	}
}

// TestHeaderBytesLimitHits counts every record whose headers were cut in
// alsd_limit_hits_total{limit="header_bytes"}; the stream goes on.
func TestHeaderBytesLimitHits(t *testing.T) {
	t.Parallel()
	var got seen
	srv, addr := serveTest(t, ServerConfig{Converter: &Converter{MaxHeaderBytes: 200}, Stages: []Stage{got.stage}, Registerer: prometheus.NewRegistry()})
	e := newEnvoy(t, addr, "h", "web")
	e.pad = strings.Repeat("x", 100)
	if err := e.send(3); err != nil {
		t.Fatal(err)
	}
	e.pad = "short"
	if err := e.send(2); err != nil {
		t.Fatal(err)
	}
	if err := e.close(); err != nil {
		t.Fatal(err)
	}
	if n := len(got.take()); n != 5 {
		t.Errorf("%d records accepted, want 5", n)
	}
	if hits := testutil.ToFloat64(srv.m.limitHits.WithLabelValues("header_bytes")); hits != 3 {
		t.Errorf("header_bytes limit hits = %v, want 3", hits)
	}
}
