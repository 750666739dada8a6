package accesslog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
	"github.com/meshtel/meshtel/record/recordpb"
)

func fuzzSeedEntries() []*datav3.HTTPAccessLogEntry {
	full := fullHTTPEntry()
	tricky := fullHTTPEntry()
	tricky.Request.RequestHeaders["cookie"] = `a="Quoted1234value"; b=Plain5678value; =Nameless9999value; c; d=x"y`
	tricky.Response.ResponseHeaders["set-cookie"] = "a=Secret12345678; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/p, " +
		"b=Another87654321; Max-Age=abc, c=\"Quoted0000value\"; Domain=.EXAMPLE.com, =Nameless11112222; Path=/"
	tricky.Request.Path = "/\u2028path?q=\x7f"
	tricky.Request.OriginalPath = ""
	tricky.Response.ResponseTrailers = map[string]string{"grpc-status": "99999999999"}
	sparse := &datav3.HTTPAccessLogEntry{Request: &datav3.HTTPRequestProperties{
		RequestHeaders: map[string]string{"cookie": "sid=0123456789abcdef"}}}
	setOnly := &datav3.HTTPAccessLogEntry{Response: &datav3.HTTPResponseProperties{
		ResponseCode:    wrapperspb.UInt32(200),
		ResponseHeaders: map[string]string{"set-cookie": "token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl; Secure"}}}
	intermediate := fullHTTPEntry()
	intermediate.CommonProperties.AccessLogType = datav3.AccessLogType_UpstreamPeriodic
	intermediate.Request.RequestMethod = corev3.RequestMethod_CONNECT
	return []*datav3.HTTPAccessLogEntry{full, tricky, sparse, setOnly, intermediate, {}}
}

func FuzzConvertHTTP(f *testing.F) {
	for i, e := range fuzzSeedEntries() {
		b, err := proto.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, i%2 == 0)
	}
	cat := convCatalog(f)
	f.Fuzz(func(t *testing.T, data []byte, keepQuery bool) {
		var e datav3.HTTPAccessLogEntry
		if err := proto.Unmarshal(data, &e); err != nil {
			t.Skip()
		}
		c := &Converter{Catalog: cat, KeepQuery: keepQuery, Classify: func(*record.Record) outcome.Outcome { return outcome.Good }}
		id := convIdentity
		c.Bind(&id)
		var r record.Record
		c.HTTP(&r, &id, &e, convStart)

		js := record.AppendJSON(nil, &r)
		if !json.Valid(js) {
			t.Fatalf("invalid JSON: %s", js)
		}
		var decoded map[string]any
		if err := json.Unmarshal(js, &decoded); err != nil {
			t.Fatal(err)
		}
		pb, err := record.Proto.Append(nil, &r)
		if err != nil {
			t.Fatalf("proto encoding failed: %v", err)
		}
		var p recordpb.Record
		if err := proto.Unmarshal(pb, &p); err != nil {
			t.Fatalf("proto encoding does not decode: %v", err)
		}
		if !proto.Equal(&p, record.ToProto(&r)) {
			t.Fatalf("proto round trip changed the record")
		}
		checkNoCookieValues(t, &e, js, pb)

		// A Record reused from a full entry encodes the same.
		var reused record.Record
		c.HTTP(&reused, &id, fullHTTPEntry(), convStart)
		c.HTTP(&reused, &id, &e, convStart)
		if js2 := record.AppendJSON(nil, &reused); !bytes.Equal(js, js2) {
			t.Fatalf("a reused Record encodes differently:\n%s\n%s", js2, js)
		}
	})
}

// checkNoCookieValues fails when a cookie value of the entry's cookie or
// set-cookie header is in an encoding. Only values of at least 8
// alphanumerics count (shorter ones occur by chance), and only those that
// appear nowhere else in the entry (a value may also be a path, say).
func checkNoCookieValues(t *testing.T, e *datav3.HTTPAccessLogEntry, outputs ...[]byte) {
	t.Helper()
	reqCookie := e.GetRequest().GetRequestHeaders()["cookie"]
	setCookie := e.GetResponse().GetResponseHeaders()["set-cookie"]
	if reqCookie == "" && setCookie == "" {
		return
	}
	var values []string
	var elsewhere strings.Builder
	for _, piece := range strings.Split(reqCookie, ";") {
		name, value, ok := strings.Cut(piece, "=")
		elsewhere.WriteString(name + "\x00")
		if ok {
			values = append(values, value)
		}
	}
	// Folded Set-Cookie headers: a comma followed by spaces, a token (or
	// nothing, as browsers accept "=v") and '=' starts a new cookie, whose
	// name=value pair ends at the first ';'. Anything else after a comma
	// continues the previous attribute.
	for _, seg := range strings.Split(setCookie, ",") {
		pair, attrs, _ := strings.Cut(seg, ";")
		name, value, ok := strings.Cut(pair, "=")
		if n := strings.TrimSpace(name); !ok || (n != "" && !isCookieToken(n)) {
			elsewhere.WriteString(seg + "\x00")
			continue
		}
		elsewhere.WriteString(name + "\x00" + attrs + "\x00")
		values = append(values, value)
	}
	rest := proto.Clone(e).(*datav3.HTTPAccessLogEntry)
	if h := rest.GetRequest().GetRequestHeaders(); h != nil {
		delete(h, "cookie")
	}
	if h := rest.GetResponse().GetResponseHeaders(); h != nil {
		delete(h, "set-cookie")
	}
	b, err := proto.Marshal(rest)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere.Write(b)
	other := strings.ToLower(elsewhere.String())
	for _, v := range values {
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if len(v) < 8 || !isAlnum(v) || strings.Contains(other, strings.ToLower(v)) {
			continue
		}
		for _, out := range outputs {
			if bytes.Contains(bytes.ToLower(out), []byte(strings.ToLower(v))) {
				t.Fatalf("cookie value %q leaked: %s", v, out)
			}
		}
	}
}

// isCookieToken reports whether s is an RFC 9110 token, as a cookie name
// must be.
func isCookieToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
