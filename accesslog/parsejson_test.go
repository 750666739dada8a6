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

	"github.com/meshtel/meshtel/cookies"
)

// encodable returns r as AppendJSON can express it: fields that are not
// encoded (DownstreamLocalPort, MalformedCookies, value hashes) and cookie
// attributes only written for Set-Cookie are cleared, the time is cut to
// microseconds in UTC, and empty slices are nil.
func encodable(r *Record) Record {
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
		if ck.Source != cookies.Response {
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
func parsed(t testing.TB, b []byte) Record {
	t.Helper()
	var r Record
	if err := ParseJSON(b, &r); err != nil {
		t.Fatalf("ParseJSON(%s): %v", b, err)
	}
	return encodable(&r)
}

func roundTripRecords(t testing.TB) []*Record {
	c := &Converter{Catalog: convCatalog(t), Classify: func(*Record) string { return "bad" }}
	recs := []*Record{
		convertHTTP(c, convIdentity, fullHTTPEntry()),
		convertTCP(c, Identity{NodeID: "router~10.0.0.2~gw~ns", Cluster: "gateway", LogName: "tcp"}, fullTCPEntry()),
		{Time: convStart, GRPCStatus: -1},
		{Time: convStart, Service: "s", GRPCStatus: 0, HasDuration: true, HasUpstreamDuration: true,
			DurationMs: 0, UpstreamDurationMs: 1e-9, RequestBytes: math.MaxUint64, ResponseBytes: 1,
			Status: 599, Direction: Inbound, Intermediate: true, Outcome: "excluded"},
		{Time: convStart.Add(999 * time.Nanosecond), Kind: TCP, GRPCStatus: 1<<31 - 1, DurationMs: 1e300, HasDuration: true,
			Cookies: []cookies.Observation{
				{Name: "a", Source: cookies.Response, MaxAgeS: -1, HasMaxAge: true, ValueClass: cookies.Phone, ValueHash: 42},
				{Name: "b", Source: cookies.Request, ValueClass: cookies.Empty},
			}},
	}
	// Every string field carries every tricky string once.
	for _, s := range trickyStrings {
		r := &Record{Time: convStart, GRPCStatus: -1, ResponseFlags: []string{s, "UF"},
			Cookies: []cookies.Observation{{Name: s, Source: cookies.Response, Domain: s, Path: s, SameSite: s}}}
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
		b := AppendJSON(nil, r)
		got := parsed(t, b)
		want := encodable(r)
		fixStrings(&want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("record %d: round trip of %s\n got %+v\nwant %+v", i, b, got, want)
		}
		if again := parsed(t, AppendJSON(nil, &got)); !reflect.DeepEqual(again, got) {
			t.Errorf("record %d: parsing the re-encoding differs:\n got %+v\nwant %+v", i, again, got)
		}
	}
}

// fixStrings replaces invalid UTF-8 in every string of r the way the JSON
// encoding does.
func fixStrings(r *Record) {
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
	for i, want := range []*Record{httpRec, tcpRec} {
		if got, w := parsed(t, lines[i]), encodable(want); !reflect.DeepEqual(got, w) {
			t.Errorf("golden record %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
}

func TestParseJSONLenient(t *testing.T) {
	// Sub-microsecond digits are parsed but not encoded (encodable).
	want := Record{Time: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), Service: "web\"/é😀", Status: 200,
		GRPCStatus: -1, Path: "/x", ResponseFlags: []string{"UF"}, Outcome: "good",
		Cookies: []cookies.Observation{{Name: "sid", Source: cookies.Response, Secure: true}}}
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
			var r Record
			err := ParseJSON([]byte(in), &r)
			if !errors.Is(err, ErrBadJSON) {
				t.Fatalf("ParseJSON(%q) = %v, want an ErrBadJSON", in, err)
			}
		})
	}
}

// A Record reused for the next message keeps nothing of the previous one.
func TestParseJSONReuse(t *testing.T) {
	httpRec, _ := goldenRecords(t)
	var r Record
	if err := ParseJSON(AppendJSON(nil, httpRec), &r); err != nil {
		t.Fatal(err)
	}
	small := &Record{Time: convStart, Service: "b", GRPCStatus: -1}
	if err := ParseJSON(AppendJSON(nil, small), &r); err != nil {
		t.Fatal(err)
	}
	if got, want := encodable(&r), encodable(small); !reflect.DeepEqual(got, want) {
		t.Errorf("reused record:\n got %+v\nwant %+v", got, want)
	}
}

func BenchmarkParseJSON(b *testing.B) {
	httpRec := benchRecord()
	data := AppendJSON(nil, httpRec)
	var r Record
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseJSON(data, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalJSON is the ceiling ParseJSON is measured against:
// encoding/json into a struct of the same fields.
func BenchmarkUnmarshalJSON(b *testing.B) {
	data := AppendJSON(nil, benchRecord())
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
func benchRecord() *Record {
	return &Record{Time: convStart, Service: "checkout", NodeID: "sidecar~10.0.0.1~checkout-7f~shop", LogName: "als",
		RouteName: "default", UpstreamCluster: "inbound|8080||", UpstreamHost: "10.0.0.9:8080",
		DownstreamRemoteAddress: "10.0.0.7:51234", Protocol: "HTTP/1.1", Method: "GET", Authority: "shop.example.com",
		Path: "/api/v1/cart", Status: 200, GRPCStatus: -1, DurationMs: 12.5, HasDuration: true,
		UpstreamDurationMs: 11, HasUpstreamDuration: true, RequestBytes: 512, ResponseBytes: 1024,
		UserAgent: "Mozilla/5.0", RequestID: "6b1f2c3d-0000-4000-8000-000000000001", Direction: Inbound, Outcome: "good",
		Cookies: []cookies.Observation{{Name: "sid", Source: cookies.Request, ValueClass: cookies.Opaque}}}
}

func FuzzParseJSON(f *testing.F) {
	for _, r := range roundTripRecords(f) {
		f.Add(AppendJSON(nil, r))
	}
	for _, s := range []string{`{}`, `{"x":[{"y":null}]}`, `{"service":"\ud800\udc00\udc00"}`, `{"status":-0}`,
		`{"cookies":[{"name":"a","source":"request","secure":true}]}`, `{"time":"2026-11-25T10:00:00+14:00"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Record
		if err := ParseJSON(data, &r); err != nil {
			if !errors.Is(err, ErrBadJSON) {
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
		enc := AppendJSON(nil, &r)
		var r2 Record
		if err := ParseJSON(enc, &r2); err != nil {
			t.Fatalf("ParseJSON(AppendJSON(r)) of %q: %v", enc, err)
		}
		if enc2 := AppendJSON(nil, &r2); !bytes.Equal(enc, enc2) {
			t.Fatalf("not a fixed point:\n%s\n%s", enc, enc2)
		}
	})
}

// printableASCII is held to its byte-wise definition at every position of
// the eight-byte words and of the tail.
func TestPrintableASCII(t *testing.T) {
	for n := range 20 {
		for pos := range n {
			for b := range 256 {
				s := bytes.Repeat([]byte{'a'}, n)
				s[pos] = byte(b)
				if got, want := printableASCII(s), b >= 0x20 && b < 0x80; got != want {
					t.Fatalf("printableASCII(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}
