package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/meshtel/meshtel/outcome"

	"github.com/meshtel/meshtel/cookies/httpcookie"
)

// ErrBadJSON is wrapped by every ParseJSON error: the value is not a SPEC
// §2 record.
var ErrBadJSON = errors.New("bad json record")

// ParseJSON decodes a SPEC §2 JSON record (what AppendJSON writes) into r,
// reusing the capacity of r's slices. It is how a consumer of the Kafka
// topic gets Records back.
//
// It is written by hand for the same reason AppendJSON is: aggregators run
// it once per consumed message. It accepts any valid JSON object with the
// record's fields, in any order and with any whitespace; unknown fields
// are skipped (later versions may add some), null leaves a field unset, and
// a repeated field takes its last value, as encoding/json does. Malformed
// JSON and fields of the wrong type are errors wrapping ErrBadJSON; r's
// content is then unspecified.
func ParseJSON(data []byte, r *Record) error {
	r.Reset()
	p := jsonParser{data: data}
	if err := p.record(r); err != nil {
		return fmt.Errorf("%w: %w", ErrBadJSON, err)
	}
	return nil
}

// jsonParser is a cursor over one JSON value.
type jsonParser struct {
	data []byte
	pos  int
	buf  []byte // scratch for strings with escapes
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{p.pos}, args...)...)
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (p *jsonParser) peek() byte {
	p.skipSpace()
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *jsonParser) expect(c byte) error {
	if p.peek() != c {
		return p.errorf("want %q", c)
	}
	p.pos++
	return nil
}

// literal consumes word (true, false, null) at the cursor.
func (p *jsonParser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

// null consumes a null and reports whether there was one.
func (p *jsonParser) null() bool { return p.peek() == 'n' && p.literal("null") }

// object calls field for every member of the object at the cursor; field
// must consume the value.
func (p *jsonParser) object(field func(key []byte) error) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.peek() == '}' {
		p.pos++
		return nil
	}
	for {
		key, err := p.rawString()
		if err != nil {
			return err
		}
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return nil
		default:
			return p.errorf("want ',' or '}'")
		}
	}
}

// array calls elem for every element of the array at the cursor.
func (p *jsonParser) array(elem func() error) error {
	if err := p.expect('['); err != nil {
		return err
	}
	if p.peek() == ']' {
		p.pos++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return nil
		default:
			return p.errorf("want ',' or ']'")
		}
	}
}

// rawString returns the content of the string at the cursor, unescaped. The
// result aliases data or p.buf: valid until the next call.
func (p *jsonParser) rawString() ([]byte, error) {
	if err := p.expect('"'); err != nil {
		return nil, err
	}
	start := p.pos
	// Most strings are printable ASCII without escapes: find the closing
	// quote with IndexByte and check the bytes before it eight at a time.
	if i := bytes.IndexByte(p.data[p.pos:], '"'); i >= 0 {
		s := p.data[p.pos : p.pos+i]
		if printableASCII(s) && bytes.IndexByte(s, '\\') < 0 {
			p.pos += i + 1
			return s, nil
		}
	}
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			s := p.data[start:p.pos]
			p.pos++
			if !utf8.Valid(s) {
				p.buf = appendValidUTF8(p.buf[:0], s)
				return p.buf, nil
			}
			return s, nil
		case c == '\\':
			return p.escapedString(start)
		case c < 0x20:
			return nil, p.errorf("control character in string")
		}
		p.pos++
	}
	return nil, p.errorf("unterminated string")
}

// printableASCII reports whether s holds only bytes 0x20 to 0x7f: no
// control character and no multi-byte rune to check.
func printableASCII(s []byte) bool {
	const highBits = 0x8080808080808080
	for len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		// A byte below 0x20 borrows into its high bit when 0x20 is
		// subtracted from it; a byte from 0x80 up has it set already.
		if x&highBits != 0 || (x-0x2020202020202020)&^x&highBits != 0 {
			return false
		}
		s = s[8:]
	}
	for _, c := range s {
		if c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// escapedString finishes a string with escapes, started at start.
func (p *jsonParser) escapedString(start int) ([]byte, error) {
	b := append(p.buf[:0], p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			if !utf8.Valid(b) {
				b = appendValidUTF8(nil, b)
			}
			p.buf = b
			return b, nil
		case c < 0x20:
			return nil, p.errorf("control character in string")
		case c != '\\':
			b = append(b, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.data) {
			return nil, p.errorf("unterminated escape")
		}
		e := p.data[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, p.errorf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A high surrogate followed by a low one is one rune;
				// anything else is U+FFFD, as encoding/json decodes it.
				save := p.pos
				if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					p.pos += 2
					if r2, ok := p.hex4(); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							b = utf8.AppendRune(b, d)
							continue
						}
					}
				}
				p.pos = save
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
		default:
			return nil, p.errorf("bad escape \\%c", e)
		}
	}
	return nil, p.errorf("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.pos += 4
	return r, true
}

// appendValidUTF8 appends s with every invalid byte replaced by U+FFFD.
func appendValidUTF8(dst, s []byte) []byte {
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		if r == utf8.RuneError && n == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[:n]...)
		}
		s = s[n:]
	}
	return dst
}

// str reads a string or null into *dst.
func (p *jsonParser) str(dst *string) error {
	if p.null() {
		return nil
	}
	s, err := p.rawString()
	if err != nil {
		return err
	}
	*dst = string(s)
	return nil
}

// number returns the JSON number at the cursor, checked against the
// grammar (no leading zeros, no leading '+', digits after '.' and 'e').
func (p *jsonParser) number() ([]byte, error) {
	p.skipSpace()
	start := p.pos
	d := p.data
	i := p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case digits() == 0:
		return nil, p.errorf("want a number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			return nil, p.errorf("want digits after '.'")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, p.errorf("want digits in the exponent")
		}
	}
	p.pos = i
	return d[start:i], nil
}

// integer reads an integer (no fraction or exponent) that fits in int64.
func (p *jsonParser) integer() (int64, error) {
	n, err := p.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, p.errorf("want an integer, got %s", n)
	}
	return v, nil
}

func (p *jsonParser) unsigned() (uint64, error) {
	n, err := p.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return 0, p.errorf("want an unsigned integer, got %s", n)
	}
	return v, nil
}

func (p *jsonParser) float() (float64, error) {
	n, err := p.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, p.errorf("number %s out of range", n)
	}
	return v, nil
}

func (p *jsonParser) boolean() (bool, error) {
	switch p.peek() {
	case 't':
		if p.literal("true") {
			return true, nil
		}
	case 'f':
		if p.literal("false") {
			return false, nil
		}
	}
	return false, p.errorf("want true or false")
}

// skip consumes any JSON value, checking its syntax.
func (p *jsonParser) skip(depth int) error {
	if depth > maxJSONDepth {
		return p.errorf("nested deeper than %d", maxJSONDepth)
	}
	switch c := p.peek(); {
	case c == '{':
		return p.object(func([]byte) error { return p.skip(depth + 1) })
	case c == '[':
		return p.array(func() error { return p.skip(depth + 1) })
	case c == '"':
		_, err := p.rawString()
		return err
	case c == 't' || c == 'f':
		_, err := p.boolean()
		return err
	case c == 'n':
		if p.null() {
			return nil
		}
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := p.number()
		return err
	}
	return p.errorf("want a value")
}

// maxJSONDepth bounds the nesting of skipped unknown fields, so a hostile
// message cannot exhaust the stack.
const maxJSONDepth = 64

func (p *jsonParser) record(r *Record) error {
	err := p.object(func(key []byte) error { return p.recordField(r, key) })
	if err != nil {
		return err
	}
	if p.peek() != 0 {
		return p.errorf("data after the record")
	}
	return nil
}

func (p *jsonParser) recordField(r *Record, key []byte) error {
	if p.null() {
		return nil
	}
	switch string(key) {
	case "time":
		s, err := p.rawString()
		if err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, string(s))
		if err != nil {
			return p.errorf("time %q is not RFC 3339", s)
		}
		r.Time = t.UTC()
	case "kind":
		s, err := p.rawString()
		if err != nil {
			return err
		}
		switch string(s) {
		case "http":
			r.Kind = HTTP
		case "tcp":
			r.Kind = TCP
		default:
			return p.errorf("unknown kind %q", s)
		}
	case "service":
		return p.str(&r.Service)
	case "node_id":
		return p.str(&r.NodeID)
	case "log_name":
		return p.str(&r.LogName)
	case "route_name":
		return p.str(&r.RouteName)
	case "upstream_cluster":
		return p.str(&r.UpstreamCluster)
	case "upstream_host":
		return p.str(&r.UpstreamHost)
	case "downstream_remote_address":
		return p.str(&r.DownstreamRemoteAddress)
	case "protocol":
		return p.str(&r.Protocol)
	case "method":
		return p.str(&r.Method)
	case "authority":
		return p.str(&r.Authority)
	case "path":
		return p.str(&r.Path)
	case "status":
		v, err := p.integer()
		if err != nil {
			return err
		}
		if v < 0 || v > 1<<31-1 {
			return p.errorf("status %d out of range", v)
		}
		r.Status = int(v)
	case "grpc_status":
		v, err := p.integer()
		if err != nil {
			return err
		}
		if v < 0 || v > 1<<31-1 {
			return p.errorf("grpc_status %d out of range", v)
		}
		r.GRPCStatus = int(v)
	case "response_flags":
		r.ResponseFlags = r.ResponseFlags[:0]
		return p.array(func() error {
			s, err := p.rawString()
			if err != nil {
				return err
			}
			r.ResponseFlags = append(r.ResponseFlags, responseFlag(s))
			return nil
		})
	case "duration_ms":
		v, err := p.float()
		if err != nil {
			return err
		}
		r.DurationMs, r.HasDuration = v, true
	case "upstream_duration_ms":
		v, err := p.float()
		if err != nil {
			return err
		}
		r.UpstreamDurationMs, r.HasUpstreamDuration = v, true
	case "request_bytes":
		v, err := p.unsigned()
		if err != nil {
			return err
		}
		r.RequestBytes = v
	case "response_bytes":
		v, err := p.unsigned()
		if err != nil {
			return err
		}
		r.ResponseBytes = v
	case "user_agent":
		return p.str(&r.UserAgent)
	case "request_id":
		return p.str(&r.RequestID)
	case "tls_version":
		return p.str(&r.TLSVersion)
	case "peer_principal":
		return p.str(&r.PeerPrincipal)
	case "reporter_principal":
		return p.str(&r.ReporterPrincipal)
	case "direction":
		s, err := p.rawString()
		if err != nil {
			return err
		}
		switch string(s) {
		case "inbound":
			r.Direction = Inbound
		case "outbound":
			r.Direction = Outbound
		default:
			// An unknown direction is no direction: the record still
			// counts (SPEC §2 leaves the field absent when unknown).
			r.Direction = DirectionUnknown
		}
	case "peer_service":
		return p.str(&r.PeerService)
	case "response_code_details":
		return p.str(&r.ResponseCodeDetails)
	case "connection_termination_details":
		return p.str(&r.ConnectionTermination)
	case "upstream_transport_failure_reason":
		return p.str(&r.UpstreamFailure)
	case "intermediate":
		v, err := p.boolean()
		if err != nil {
			return err
		}
		r.Intermediate = v
	case "outcome":
		s, err := p.rawString()
		if err != nil {
			return err
		}
		// An outcome this version does not know stays Unknown: aggregators
		// derive outcomes again with their own catalog anyway.
		r.Outcome, _ = outcome.ParseBytes(s)
	case "cookies":
		r.Cookies = r.Cookies[:0]
		return p.array(func() error {
			if p.null() {
				return nil
			}
			r.Cookies = append(r.Cookies, httpcookie.Observation{})
			c := &r.Cookies[len(r.Cookies)-1]
			return p.object(func(key []byte) error { return p.cookieField(c, key) })
		})
	default:
		return p.skip(1)
	}
	return nil
}

func (p *jsonParser) cookieField(c *httpcookie.Observation, key []byte) error {
	if p.null() {
		return nil
	}
	switch string(key) {
	case "name":
		return p.str(&c.Name)
	case "source":
		s, err := p.rawString()
		if err != nil {
			return err
		}
		switch string(s) {
		case "request":
			c.Source = httpcookie.Request
		case "response":
			c.Source = httpcookie.Response
		default:
			return p.errorf("unknown cookie source %q", s)
		}
	case "domain":
		return p.str(&c.Domain)
	case "path":
		return p.str(&c.Path)
	case "secure":
		v, err := p.boolean()
		c.Secure = v
		return err
	case "http_only":
		v, err := p.boolean()
		c.HTTPOnly = v
		return err
	case "partitioned":
		v, err := p.boolean()
		c.Partitioned = v
		return err
	case "same_site":
		s, err := p.rawString()
		if err != nil {
			return err
		}
		c.SameSite = sameSiteName(s)
	case "max_age_s":
		v, err := p.integer()
		if err != nil {
			return err
		}
		c.MaxAgeS, c.HasMaxAge = v, true
	case "value_class":
		s, err := p.rawString()
		if err != nil {
			return err
		}
		vc, ok := httpcookie.ParseValueClass(string(s))
		if !ok {
			return p.errorf("unknown cookie value class %q", s)
		}
		c.ValueClass = vc
	default:
		return p.skip(1)
	}
	return nil
}

// The helpers below return constants for the values every record repeats,
// so decoding them does not allocate.

func responseFlag(s []byte) string {
	switch string(s) {
	case "UF":
		return "UF"
	case "UH":
		return "UH"
	case "URX":
		return "URX"
	case "UT":
		return "UT"
	case "UC":
		return "UC"
	case "UO":
		return "UO"
	case "NR":
		return "NR"
	case "DC":
		return "DC"
	case "LR":
		return "LR"
	case "UR":
		return "UR"
	}
	return string(s)
}

func sameSiteName(s []byte) string {
	switch string(s) {
	case "Strict":
		return "Strict"
	case "Lax":
		return "Lax"
	case "None":
		return "None"
	}
	return string(s)
}
