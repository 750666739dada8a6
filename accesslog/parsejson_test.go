package accesslog

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
)

// encodable returns r as AppendJSON can express it: fields that are not
// encoded (DownstreamLocalPort, MalformedCookies, value hashes) and cookie
// attributes only written for Set-Cookie are cleared, the time is cut to
// microseconds in UTC, and empty slices are nil.
func encodable(r *record.Record) record.Record {
	c := *r
	c.Time = c.Time.UTC().Truncate(time.Microsecond)
	c.DownstreamLocalPort = 0
	c.MalformedCookies = nil
	if !c.HasDuration {
		c.DurationMs = 0
	}
	if !c.HasUpstreamDuration {
		c.UpstreamDurationMs = 0
	}
	if c.GRPCStatus < 0 {
		c.GRPCStatus = -1
	}
	if c.Status < 0 {
		c.Status = 0
	}
	c.ResponseFlags = nil
	if len(r.ResponseFlags) > 0 {
		c.ResponseFlags = append([]string(nil), r.ResponseFlags...)
	}
	c.Cookies = nil
	for _, ck := range r.Cookies {
		ck.ValueHash = 0
		if ck.Source != httpcookie.Response {
			ck.Secure, ck.HTTPOnly, ck.Partitioned = false, false, false
		}
		if !ck.HasMaxAge {
			ck.MaxAgeS = 0
		}
		c.Cookies = append(c.Cookies, ck)
	}
	return c
}

// parsed returns the record ParseJSON makes of b, normalised like
// encodable.
func parsed(t testing.TB, b []byte) record.Record {
	t.Helper()
	var r record.Record
	if err := record.ParseJSON(b, &r); err != nil {
		t.Fatalf("ParseJSON(%s): %v", b, err)
	}
	return encodable(&r)
}

// trickyStrings are the strings the record package's JSON tests escape;
// here every string field of a converted record carries each once.
var trickyStrings = []string{
	"",
	"plain ascii",
	`quo"te and back\slash`,
	"\n\r\t\b\f",
	"\x00\x01\x1f\x7f",
	"<script>&amp;</script>",
	"line\u2028para\u2029end",
	"\xff",
	"a\xffb\xfe",
	"\xed\xa0\x80",     // a UTF-16 surrogate in UTF-8
	"\xef\xbf\xbd",     // a real U+FFFD
	"\xc0\xaf",         // overlong '/'
	"\xe2\x82",         // truncated
	"\xf4\x90\x80\x80", // beyond U+10FFFF
	"日本語 ✓ 😀 \U0010FFFF",
	"\u00e9\u0301", // combining accent
	strings.Repeat("\\\"", 100),
}

func roundTripRecords(t testing.TB) []*record.Record {
	c := &Converter{Catalog: convCatalog(t), Classify: func(*record.Record) outcome.Outcome { return outcome.Bad }}
	recs := []*record.Record{
		convertHTTP(c, convIdentity, fullHTTPEntry()),
		convertTCP(c, Identity{NodeID: "router~10.0.0.2~gw~ns", Cluster: "gateway", LogName: "tcp"}, fullTCPEntry()),
		{Time: convStart, GRPCStatus: -1},
		{Time: convStart, Service: "s", GRPCStatus: 0, HasDuration: true, HasUpstreamDuration: true,
			DurationMs: 0, UpstreamDurationMs: 1e-9, RequestBytes: math.MaxUint64, ResponseBytes: 1,
			Status: 599, Direction: record.Inbound, Intermediate: true, Outcome: outcome.Excluded},
		{Time: convStart.Add(999 * time.Nanosecond), Kind: record.TCP, GRPCStatus: 1<<31 - 1, DurationMs: 1e300, HasDuration: true,
			Cookies: []httpcookie.Observation{
				{Name: "a", Source: httpcookie.Response, MaxAgeS: -1, HasMaxAge: true, ValueClass: httpcookie.Phone, ValueHash: 42},
				{Name: "b", Source: httpcookie.Request, ValueClass: httpcookie.Empty},
			}},
	}
	// Every string field carries every tricky string once.
	for _, s := range trickyStrings {
		r := &record.Record{Time: convStart, GRPCStatus: -1, ResponseFlags: []string{s, "UF"},
			Cookies: []httpcookie.Observation{{Name: s, Source: httpcookie.Response, Domain: s, Path: s, SameSite: s}}}
		v := reflect.ValueOf(r).Elem()
		for i := range v.NumField() {
			if f := v.Field(i); f.Kind() == reflect.String {
				f.SetString(s)
			}
		}
		recs = append(recs, r)
	}
	return recs
}

func TestParseJSONRoundTrip(t *testing.T) {
	for i, r := range roundTripRecords(t) {
		b := record.AppendJSON(nil, r)
		got := parsed(t, b)
		want := encodable(r)
		fixStrings(&want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("record %d: round trip of %s\n got %+v\nwant %+v", i, b, got, want)
		}
		if again := parsed(t, record.AppendJSON(nil, &got)); !reflect.DeepEqual(again, got) {
			t.Errorf("record %d: parsing the re-encoding differs:\n got %+v\nwant %+v", i, again, got)
		}
	}
}

// fixStrings replaces invalid UTF-8 in every string of r the way the JSON
// encoding does.
func fixStrings(r *record.Record) {
	fix := func(v reflect.Value) {
		for i := range v.NumField() {
			if f := v.Field(i); f.Kind() == reflect.String {
				f.SetString(toValid(f.String()))
			}
		}
	}
	fix(reflect.ValueOf(r).Elem())
	for i := range r.ResponseFlags {
		r.ResponseFlags[i] = toValid(r.ResponseFlags[i])
	}
	for i := range r.Cookies {
		fix(reflect.ValueOf(&r.Cookies[i]).Elem())
	}
}

// toValid replaces each invalid byte with U+FFFD, as encoding/json does
// (strings.ToValidUTF8 would merge runs of them).
func toValid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

func TestParseJSONGoldenFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "record.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []json.RawMessage
	if err := json.Unmarshal(data, &lines); err != nil {
		t.Fatal(err)
	}
	httpRec, tcpRec := goldenRecords(t)
	for i, want := range []*record.Record{httpRec, tcpRec} {
		if got, w := parsed(t, lines[i]), encodable(want); !reflect.DeepEqual(got, w) {
			t.Errorf("golden record %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
}

func TestParseJSONLenient(t *testing.T) {
	// Sub-microsecond digits are parsed but not encoded (encodable).
	want := record.Record{Time: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), Service: "web\"/é😀", Status: 200,
		GRPCStatus: -1, Path: "/x", ResponseFlags: []string{"UF"}, Outcome: outcome.Good,
		Cookies: []httpcookie.Observation{{Name: "sid", Source: httpcookie.Response, Secure: true}}}
	for name, in := range map[string]string{
		"whitespace and order": " \n{ \"status\" : 200 ,\t\"path\":\"/x\", \"time\":\"2026-11-25T10:00:00.0000005+01:00\",\r\n" +
			`"service":"web\"\/\u00e9\ud83d\ude00","response_flags":["UF"],"outcome":"good",` +
			`"cookies":[{"secure":true,"source":"response","name":"sid"}]} `,
		"unknown fields": `{"time":"2026-11-25T09:00:00.0000005Z","x":{"a":[1,-2.5e+3,true,false,null,{"b":"\u2028"}]},"service":"web\"/é😀",` +
			`"status":200,"path":"/x","response_flags":["UF"],"outcome":"good","y":[],` +
			`"cookies":[{"name":"sid","z":{},"source":"response","secure":true}]}`,
		"nulls and repeats": `{"time":"2026-11-25T09:00:00.0000005Z","service":"old","service":"web\"/é😀","status":null,"status":200,` +
			`"grpc_status":null,"path":"/x","response_flags":["URX"],"response_flags":["UF"],"outcome":"good",` +
			`"direction":"sideways","cookies":[null,{"name":"sid","source":"response","secure":true,"domain":null}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if got := parsed(t, []byte(in)); !reflect.DeepEqual(got, want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseJSONErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":              ``,
		"not an object":      `[]`,
		"truncated":          `{"service":"a"`,
		"truncated string":   `{"service":"a`,
		"trailing data":      `{"service":"a"} {}`,
		"trailing comma":     `{"service":"a",}`,
		"missing colon":      `{"service" "a"}`,
		"wrong type":         `{"service":1}`,
		"status as string":   `{"status":"200"}`,
		"status fraction":    `{"status":200.5}`,
		"status range":       `{"status":2147483648}`,
		"negative bytes":     `{"request_bytes":-1}`,
		"grpc range":         `{"grpc_status":4294967296}`,
		"leading zero":       `{"status":0200}`,
		"plus sign":          `{"duration_ms":+1}`,
		"bare dot":           `{"duration_ms":1.}`,
		"empty exponent":     `{"duration_ms":1e}`,
		"huge float":         `{"duration_ms":1e999}`,
		"bad time":           `{"time":"yesterday"}`,
		"bad kind":           `{"kind":"udp"}`,
		"bad bool":           `{"intermediate":"false"}`,
		"bad literal":        `{"intermediate":tru}`,
		"control char":       "{\"path\":\"a\x01b\"}",
		"bad escape":         `{"path":"\x"}`,
		"short unicode":      `{"path":"\u12"}`,
		"bad cookie source":  `{"cookies":[{"name":"a","source":"header"}]}`,
		"bad value class":    `{"cookies":[{"name":"a","value_class":"secret"}]}`,
		"cookies not array":  `{"cookies":{}}`,
		"cookie not object":  `{"cookies":["sid"]}`,
		"flags not strings":  `{"response_flags":[1]}`,
		"deep unknown field": `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
		"single quotes":      `{'service':'a'}`,
	} {
		t.Run(name, func(t *testing.T) {
			var r record.Record
			err := record.ParseJSON([]byte(in), &r)
			if !errors.Is(err, record.ErrBadJSON) {
				t.Fatalf("ParseJSON(%q) = %v, want an ErrBadJSON", in, err)
			}
		})
	}
}

// A Record reused for the next message keeps nothing of the previous one.
func TestParseJSONReuse(t *testing.T) {
	httpRec, _ := goldenRecords(t)
	var r record.Record
	if err := record.ParseJSON(record.AppendJSON(nil, httpRec), &r); err != nil {
		t.Fatal(err)
	}
	small := &record.Record{Time: convStart, Service: "b", GRPCStatus: -1}
	if err := record.ParseJSON(record.AppendJSON(nil, small), &r); err != nil {
		t.Fatal(err)
	}
	if got, want := encodable(&r), encodable(small); !reflect.DeepEqual(got, want) {
		t.Errorf("reused record:\n got %+v\nwant %+v", got, want)
	}
}

func BenchmarkParseJSON(b *testing.B) {
	httpRec := benchRecord()
	data := record.AppendJSON(nil, httpRec)
	var r record.Record
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := record.ParseJSON(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalJSON is the ceiling ParseJSON is measured against:
// encoding/json into a struct of the same fields.
func BenchmarkUnmarshalJSON(b *testing.B) {
	data := record.AppendJSON(nil, benchRecord())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var jr jsonRecord
		if err := json.Unmarshal(data, &jr); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRecord is a typical sidecar record: an inbound HTTP request with a
// request cookie.
func benchRecord() *record.Record {
	return &record.Record{Time: convStart, Service: "checkout", NodeID: "sidecar~10.0.0.1~checkout-7f~shop", LogName: "als",
		RouteName: "default", UpstreamCluster: "inbound|8080||", UpstreamHost: "10.0.0.9:8080",
		DownstreamRemoteAddress: "10.0.0.7:51234", Protocol: "HTTP/1.1", Method: "GET", Authority: "shop.example.com",
		Path: "/api/v1/cart", Status: 200, GRPCStatus: -1, DurationMs: 12.5, HasDuration: true,
		UpstreamDurationMs: 11, HasUpstreamDuration: true, RequestBytes: 512, ResponseBytes: 1024,
		UserAgent: "Mozilla/5.0", RequestID: "6b1f2c3d-0000-4000-8000-000000000001", Direction: record.Inbound, Outcome: outcome.Good,
		Cookies: []httpcookie.Observation{{Name: "sid", Source: httpcookie.Request, ValueClass: httpcookie.Opaque}}}
}

func FuzzParseJSON(f *testing.F) {
	for _, r := range roundTripRecords(f) {
		f.Add(record.AppendJSON(nil, r))
	}
	for _, s := range []string{`{}`, `{"x":[{"y":null}]}`, `{"service":"\ud800\udc00\udc00"}`, `{"status":-0}`,
		`{"cookies":[{"name":"a","source":"request","secure":true}]}`, `{"time":"2026-11-25T10:00:00+14:00"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r record.Record
		if err := record.ParseJSON(data, &r); err != nil {
			if !errors.Is(err, record.ErrBadJSON) {
				t.Fatalf("error %v does not wrap ErrBadJSON", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		// Strings decode as encoding/json decodes them.
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("encoding/json rejects what ParseJSON took: %v", err)
		}
		for key, got := range map[string]string{"service": r.Service, "path": r.Path, "node_id": r.NodeID,
			"route_name": r.RouteName, "user_agent": r.UserAgent, "authority": r.Authority} {
			if want, ok := m[key].(string); ok && want != got {
				t.Fatalf("%s: got %q, encoding/json %q", key, got, want)
			}
		}
		// Encoding what was parsed is a fixed point after one round.
		enc := record.AppendJSON(nil, &r)
		var r2 record.Record
		if err := record.ParseJSON(enc, &r2); err != nil {
			t.Fatalf("ParseJSON(AppendJSON(r)) of %q: %v", enc, err)
		}
		if enc2 := record.AppendJSON(nil, &r2); !bytes.Equal(enc, enc2) {
			t.Fatalf("not a fixed point:\n%s\n%s", enc, enc2)
		}
	})
}
