package accesslog

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/meshtel/meshtel/record"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The wire decoder reads a StreamAccessLogsMessage straight from its bytes
// into entries, without protobuf-go's reflection and its per-field
// allocations, which cost alsd more CPU than everything else together.
// It reads only what fill uses, yet accepts and rejects exactly what
// proto.Unmarshal does: a field it does not read is checked against the
// message's descriptor (wire format, UTF-8 of proto3 strings, recursion
// depth) the way protobuf-go checks it; fields seen twice merge as
// protobuf-go merges them (last scalar wins, messages merge, repeated
// fields and maps accumulate, a oneof starts afresh when its case
// changes). wire_test.go holds the two paths to identical Records.

// Errors of the wire decoder; the texts are protobuf-go's.
var (
	errWireFormat = errors.New("proto: cannot parse invalid wire-format data")
	errWireUTF8   = errors.New("proto: string field contains invalid UTF-8")
	errWireDepth  = errors.New("proto: exceeded maximum recursion depth")
)

// wireBatch is one StreamAccessLogsMessage decoded from frame.
//
// Lifetime: the strings of identity and entries alias frame and are only
// valid until the next decode; toRecords copies every string a Record
// gets into one new allocation per record, so Records (and whatever
// stages keep of them) never alias frame, and frame can be reused.
type wireBatch struct {
	frame []byte

	hasIdentifier          bool
	nodeID, cluster, logNm string
	hasLogs                bool
	kind                   record.Kind
	// n counts the entries of the message; only the first max of them
	// are kept in entries, the rest are checked and dropped.
	n       int
	entries []wireEntry
	spare   wireEntry
	addrBuf []byte
	arena   []byte
}

// wireEntry is an entry being decoded: what merging needs beyond entry.
type wireEntry struct {
	entry
	upstream, downstream, local wireAddr
	uri, dns, subject           string
	haveURI                     bool
}

// wireAddr is an envoy.config.core.v3.Address: which oneof case is set,
// and what addressString reads of it.
type wireAddr struct {
	kind     uint8 // 0 unset; then the Address field numbers: socket, pipe, internal
	address  string
	portCase uint8 // 0 unset; then the SocketAddress field numbers: port_value 3, named_port 4
	port     uint32
}

// decode decodes frame, keeping at most max entries.
func (w *wireBatch) decode(max int) error {
	w.hasIdentifier, w.nodeID, w.cluster, w.logNm = false, "", "", ""
	w.hasLogs, w.n = false, 0
	return w.message(w.frame, protowire.DefaultRecursionLimit, max)
}

// field is one field of a message; b is the value of a bytes field, v of
// a varint or fixed64 field.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	b   []byte
}

// next consumes the first field of *b.
func next(b *[]byte) (field, error) {
	buf := *b
	var f field
	// Most fields of an entry have a one-byte tag and a one-byte length
	// or value: read those inline.
	if len(buf) >= 2 && buf[0] < 0x80 && buf[0] >= 8 && buf[1] < 0x80 {
		f.num, f.typ = protowire.Number(buf[0]>>3), protowire.Type(buf[0]&7)
		switch n := int(buf[1]); {
		case f.typ == protowire.VarintType:
			f.v = uint64(n)
			*b = buf[2:]
			return f, nil
		case f.typ == protowire.BytesType && n <= len(buf)-2:
			f.b = buf[2 : 2+n]
			*b = buf[2+n:]
			return f, nil
		}
	}
	num, typ, n := protowire.ConsumeTag(buf)
	if n < 0 || num > protowire.MaxValidNumber {
		return f, errWireFormat
	}
	buf = buf[n:]
	f.num, f.typ = num, typ
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(buf)
	case protowire.BytesType:
		f.b, n = protowire.ConsumeBytes(buf)
	case protowire.Fixed64Type:
		f.v, n = protowire.ConsumeFixed64(buf)
	default:
		n = protowire.ConsumeFieldValue(num, typ, buf)
	}
	if n < 0 {
		return f, errWireFormat
	}
	*b = buf[n:]
	return f, nil
}

// str is a string field's value, aliasing the frame.
func str(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", errWireUTF8
	}
	if len(b) == 0 {
		return "", nil
	}
	return unsafe.String(&b[0], len(b)), nil
}

// enter is protobuf-go's recursion check on entering a message.
func enter(d int) (int, error) {
	if d--; d < 0 {
		return d, errWireDepth
	}
	return d, nil
}

func (w *wireBatch) message(b []byte, d, max int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if f.typ == protowire.BytesType {
			switch f.num {
			case 1:
				w.hasIdentifier = true
				if err := w.identifier(f.b, d); err != nil {
					return err
				}
				continue
			case 2, 3:
				kind := record.HTTP
				if f.num == 3 {
					kind = record.TCP
				}
				if !w.hasLogs || w.kind != kind {
					w.hasLogs, w.kind, w.n = true, kind, 0
				}
				if err := w.logEntries(f.b, d, max); err != nil {
					return err
				}
				continue
			}
		}
		if err := schemas.message.check(f, d); err != nil {
			return err
		}
	}
	return nil
}

func (w *wireBatch) identifier(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if f.typ == protowire.BytesType {
			switch f.num {
			case 1:
				if err := w.node(f.b, d); err != nil {
					return err
				}
				continue
			case 2:
				if w.logNm, err = str(f.b); err != nil {
					return err
				}
				continue
			}
		}
		if err := schemas.identifier.check(f, d); err != nil {
			return err
		}
	}
	return nil
}

func (w *wireBatch) node(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if f.typ == protowire.BytesType {
			switch f.num {
			case 1:
				if w.nodeID, err = str(f.b); err != nil {
					return err
				}
				continue
			case 2:
				if w.cluster, err = str(f.b); err != nil {
					return err
				}
				continue
			}
		}
		if err := schemas.node.check(f, d); err != nil {
			return err
		}
	}
	return nil
}

func (w *wireBatch) logEntries(b []byte, d, max int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	s := schemas.httpEntries
	if w.kind == record.TCP {
		s = schemas.tcpEntries
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if f.num == 1 && f.typ == protowire.BytesType {
			e := &w.spare
			if w.n < max {
				if w.n == len(w.entries) {
					w.entries = append(w.entries, wireEntry{})
				}
				e = &w.entries[w.n]
			}
			w.n++
			*e = wireEntry{entry: entry{kind: w.kind}}
			if w.kind == record.HTTP {
				err = e.http(f.b, d)
			} else {
				err = e.tcp(f.b, d)
			}
			if err != nil {
				return err
			}
			continue
		}
		if err := s.check(f, d); err != nil {
			return err
		}
	}
	return nil
}

func (e *wireEntry) http(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			err = e.common(f.b, d)
		case f.num == 2 && f.typ == protowire.VarintType:
			e.protocol = datav3.HTTPAccessLogEntry_HTTPVersion(int32(f.v))
		case f.num == 3 && f.typ == protowire.BytesType:
			err = e.request(f.b, d)
		case f.num == 4 && f.typ == protowire.BytesType:
			err = e.response(f.b, d)
		default:
			err = schemas.httpEntry.check(f, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *wireEntry) tcp(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			err = e.common(f.b, d)
		case f.num == 2 && f.typ == protowire.BytesType:
			err = e.connection(f.b, d)
		default:
			err = schemas.tcpEntry.check(f, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *wireEntry) connection(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			e.requestBytes = f.v
		case f.num == 2 && f.typ == protowire.VarintType:
			e.responseBytes = f.v
		default:
			if err := schemas.connection.check(f, d); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *wireEntry) common(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if f.typ == protowire.VarintType {
			switch f.num {
			case 27:
				e.intermediate = f.v != 0
				continue
			case 33:
				e.logType = datav3.AccessLogType(int32(f.v))
				continue
			}
		} else if f.typ == protowire.BytesType {
			switch f.num {
			case 2:
				err = e.downstream.decode(f.b, d)
			case 3:
				err = e.local.decode(f.b, d)
			case 4:
				err = e.tls(f.b, d)
			case 5:
				err = e.startTime.decode(f.b, d, schemas.timestamp)
			case 10:
				err = e.lastUpstreamRx.decode(f.b, d, schemas.duration)
			case 12:
				err = e.lastDownstreamTx.decode(f.b, d, schemas.duration)
			case 13:
				err = e.upstream.decode(f.b, d)
			case 15:
				e.upstreamCluster, err = str(f.b)
			case 16:
				err = e.responseFlags(f.b, d)
			case 18:
				e.upstreamFailure, err = str(f.b)
			case 19:
				e.routeName, err = str(f.b)
			case 23:
				err = e.duration.decode(f.b, d, schemas.duration)
			case 25:
				e.connTermination, err = str(f.b)
			default:
				err = schemas.common.check(f, d)
			}
			if err != nil {
				return err
			}
			continue
		}
		if err := schemas.common.check(f, d); err != nil {
			return err
		}
	}
	return nil
}

// decode merges a Timestamp or Duration (the same two fields) into t.
func (t *optTime) decode(b []byte, d int, s *msgSchema) error {
	t.set = true
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			t.sec = int64(f.v)
		case f.num == 2 && f.typ == protowire.VarintType:
			t.nanos = int32(f.v)
		default:
			if err := s.check(f, d); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *wireAddr) decode(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if f.typ == protowire.BytesType && f.num >= 1 && f.num <= 3 {
			if a.kind != uint8(f.num) {
				*a = wireAddr{kind: uint8(f.num)}
			}
			if f.num == 1 {
				err = a.socket(f.b, d)
			} else {
				// Pipe.path and EnvoyInternalAddress.server_listener_name
				// are both field 1, and all addressString reads of them.
				err = a.named(f.b, d, f.num)
			}
			if err != nil {
				return err
			}
			continue
		}
		if err := schemas.address.check(f, d); err != nil {
			return err
		}
	}
	return nil
}

func (a *wireAddr) socket(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		switch {
		case f.num == 2 && f.typ == protowire.BytesType:
			a.address, err = str(f.b)
		case f.num == 3 && f.typ == protowire.VarintType:
			a.portCase, a.port = 3, uint32(f.v)
		case f.num == 4 && f.typ == protowire.BytesType:
			a.portCase, a.port = 4, 0
			_, err = str(f.b)
		default:
			err = schemas.socket.check(f, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (a *wireAddr) named(b []byte, d int, kind protowire.Number) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	s := schemas.pipe
	if kind == 3 {
		s = schemas.internal
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if f.num == 1 && f.typ == protowire.BytesType {
			if a.address, err = str(f.b); err != nil {
				return err
			}
			continue
		}
		if err := s.check(f, d); err != nil {
			return err
		}
	}
	return nil
}

// appendTo appends what addressString returns for a.
func (a *wireAddr) appendTo(dst []byte) []byte {
	if a.kind != 1 || a.portCase != 3 {
		return append(dst, a.address...)
	}
	// As net.JoinHostPort.
	if containsColon(a.address) {
		dst = append(dst, '[')
		dst = append(dst, a.address...)
		dst = append(dst, ']')
	} else {
		dst = append(dst, a.address...)
	}
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(a.port), 10)
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}

func (e *wireEntry) tls(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			e.tlsVersion = datav3.TLSProperties_TLSVersion(int32(f.v))
		case f.num == 5 && f.typ == protowire.BytesType:
			err = e.peerCertificate(f.b, d)
		default:
			err = schemas.tls.check(f, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *wireEntry) peerCertificate(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			err = e.subjectAltName(f.b, d)
		case f.num == 2 && f.typ == protowire.BytesType:
			e.subject, err = str(f.b)
		default:
			err = schemas.certificate.check(f, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// subjectAltName reads one SAN, of which principal wants the first URI
// and the first DNS name that are not empty.
func (e *wireEntry) subjectAltName(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	var kind protowire.Number
	var v string
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if (f.num == 1 || f.num == 2) && f.typ == protowire.BytesType {
			kind = f.num
			if v, err = str(f.b); err != nil {
				return err
			}
			continue
		}
		if err := schemas.san.check(f, d); err != nil {
			return err
		}
	}
	switch {
	case v == "":
	case kind == 1 && !e.haveURI:
		e.uri, e.haveURI = v, true
	case kind == 2 && e.dns == "":
		e.dns = v
	}
	return nil
}

func (e *wireEntry) responseFlags(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		bit := responseFlagBits(1) << f.num
		switch {
		case f.num == 13 && f.typ == protowire.BytesType:
			// unauthorized_details: a message, set when present.
			if err := schemas.flags.check(f, d); err != nil {
				return err
			}
			e.flags |= bit
		case f.num >= 1 && f.num <= 28 && f.num != 13 && f.typ == protowire.VarintType:
			if f.v != 0 {
				e.flags |= bit
			} else {
				e.flags &^= bit
			}
		default:
			if err := schemas.flags.check(f, d); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *wireEntry) request(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if f.typ == protowire.VarintType {
			switch f.num {
			case 1:
				e.method = corev3.RequestMethod(int32(f.v))
				continue
			case 12:
				e.requestBytes = f.v
				continue
			}
		} else if f.typ == protowire.BytesType {
			switch f.num {
			case 3:
				e.authority, err = str(f.b)
			case 5:
				e.path, err = str(f.b)
			case 6:
				e.userAgent, err = str(f.b)
			case 9:
				e.requestID, err = str(f.b)
			case 10:
				e.originalPath, err = str(f.b)
			case 13:
				var k, v string
				if k, v, err = mapEntry(f.b, d, schemas.requestHeader); err == nil {
					switch k {
					case "user-agent":
						e.userAgentHeader = v
					case "x-request-id":
						e.requestIDHeader = v
					case "cookie":
						e.cookieHeader = v
					}
				}
			default:
				err = schemas.request.check(f, d)
			}
			if err != nil {
				return err
			}
			continue
		}
		if err := schemas.request.check(f, d); err != nil {
			return err
		}
	}
	return nil
}

func (e *wireEntry) response(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			e.responseCode.set = true
			err = e.responseCode.decode(f.b, d)
		case f.num == 3 && f.typ == protowire.VarintType:
			e.responseBytes = f.v
		case f.num == 4 && f.typ == protowire.BytesType:
			var k, v string
			if k, v, err = mapEntry(f.b, d, schemas.responseHeader); err == nil {
				switch k {
				case "grpc-status":
					e.headGRPCStatus = optString{true, v}
				case "set-cookie":
					e.setCookieHeader = v
				}
			}
		case f.num == 5 && f.typ == protowire.BytesType:
			var k, v string
			if k, v, err = mapEntry(f.b, d, schemas.responseTrailer); err == nil && k == "grpc-status" {
				e.trailerGRPCStatus = optString{true, v}
			}
		case f.num == 6 && f.typ == protowire.BytesType:
			e.responseCodeDetails, err = str(f.b)
		default:
			err = schemas.response.check(f, d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decode merges a google.protobuf.UInt32Value into u.
func (u *optUint32) decode(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if f.num == 1 && f.typ == protowire.VarintType {
			u.v = uint32(f.v)
			continue
		}
		if err := schemas.uint32.check(f, d); err != nil {
			return err
		}
	}
	return nil
}

// mapEntry reads an entry of a map<string, string>: a missing key or
// value is "", the last one of several wins.
func mapEntry(b []byte, d int, s *msgSchema) (key, value string, err error) {
	if d, err = enter(d); err != nil {
		return "", "", err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return "", "", err
		}
		if (f.num == 1 || f.num == 2) && f.typ == protowire.BytesType {
			v, err := str(f.b)
			if err != nil {
				return "", "", err
			}
			if f.num == 1 {
				key = v
			} else {
				value = v
			}
			continue
		}
		if err := s.check(f, d); err != nil {
			return "", "", err
		}
	}
	return key, value, nil
}

// toRecords converts the decoded entries (at most len(records)) into
// records.
func (w *wireBatch) toRecords(c *Converter, records []record.Record, id *Identity, now time.Time) {
	for i := range records {
		e := &w.entries[i]
		w.own(e)
		c.fill(&records[i], id, &e.entry, now)
	}
}

// own finishes e's strings and moves all of them into one new string, so
// that nothing converted from e aliases the frame.
func (w *wireBatch) own(e *wireEntry) {
	switch {
	case e.haveURI:
		e.peerPrincipal = e.uri
	case e.dns != "":
		e.peerPrincipal = e.dns
	default:
		e.peerPrincipal = e.subject
	}
	e.localPort = 0
	if e.local.kind == 1 && e.local.portCase == 3 {
		e.localPort = e.local.port
	}
	w.addrBuf = e.upstream.appendTo(w.addrBuf[:0])
	up := len(w.addrBuf)
	w.addrBuf = e.downstream.appendTo(w.addrBuf)
	e.upstreamHost = aliasString(w.addrBuf[:up])
	e.downstreamRemote = aliasString(w.addrBuf[up:])
	w.arena = e.entry.own(w.arena)
}

// own moves every string of e into one new string, so that nothing
// converted from e aliases the buffers it was decoded from; buf is scratch
// space, returned for reuse.
func (e *entry) own(buf []byte) []byte {
	fields := [...]*string{
		&e.routeName, &e.upstreamCluster, &e.upstreamHost, &e.downstreamRemote, &e.peerPrincipal,
		&e.connTermination, &e.upstreamFailure, &e.authority, &e.path, &e.originalPath,
		&e.userAgent, &e.requestID, &e.userAgentHeader, &e.requestIDHeader, &e.cookieHeader,
		&e.setCookieHeader, &e.responseCodeDetails, &e.trailerGRPCStatus.v, &e.headGRPCStatus.v,
	}
	var ends [len(fields)]int
	buf = buf[:0]
	for i, p := range fields {
		buf = append(buf, *p...)
		ends[i] = len(buf)
	}
	all := string(buf)
	start := 0
	for i, p := range fields {
		*p = all[start:ends[i]]
		start = ends[i]
	}
	return buf
}

func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// msgSchema is what checking a message's fields needs of its descriptor.
type msgSchema struct {
	fields []fieldSchema // by field number; past its end, unknown
}

type fieldKind uint8

const (
	kindOther   fieldKind = iota // scalars, bytes and unknown fields
	kindString                   // proto3 string: valid UTF-8
	kindMessage                  // a message, or a map entry (map)
)

type fieldSchema struct {
	kind fieldKind
	mapF bool // a map field: its entry costs a level of depth even when skipped
	msg  *msgSchema
}

// check checks a field that the decoder does not read as protobuf-go
// would while unmarshaling it; f's bytes are consumed already.
func (s *msgSchema) check(f field, d int) error {
	if int(f.num) >= len(s.fields) {
		return nil
	}
	fs := &s.fields[f.num]
	if fs.mapF && d-1 < 0 {
		return errWireDepth
	}
	if f.typ != protowire.BytesType {
		return nil // scalars, and fields of a wire type other than their own: unknown
	}
	switch fs.kind {
	case kindString:
		if !utf8.Valid(f.b) {
			return errWireUTF8
		}
	case kindMessage:
		return fs.msg.validate(f.b, d)
	}
	return nil
}

func (s *msgSchema) validate(b []byte, d int) error {
	d, err := enter(d)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if err := s.check(f, d); err != nil {
			return err
		}
	}
	return nil
}

// schemas are the messages the decoder reads by hand; every other message
// is only checked, through the fields of these.
var schemas = buildSchemas()

type schemaSet struct {
	message, identifier, node, httpEntries, tcpEntries *msgSchema
	httpEntry, tcpEntry, connection, common            *msgSchema
	timestamp, duration, address, socket, pipe         *msgSchema
	internal, tls, certificate, san, flags             *msgSchema
	request, response, uint32                          *msgSchema
	requestHeader, responseHeader, responseTrailer     *msgSchema
}

func buildSchemas() *schemaSet {
	b := schemaBuilder{}
	of := func(m interface{ ProtoReflect() protoreflect.Message }) *msgSchema {
		return b.schema(m.ProtoReflect().Descriptor())
	}
	mapOf := func(m interface{ ProtoReflect() protoreflect.Message }, name protoreflect.Name) *msgSchema {
		return b.schema(m.ProtoReflect().Descriptor().Fields().ByName(name).Message())
	}
	return &schemaSet{
		message:         of(&alsv3.StreamAccessLogsMessage{}),
		identifier:      of(&alsv3.StreamAccessLogsMessage_Identifier{}),
		node:            of(&corev3.Node{}),
		httpEntries:     of(&alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{}),
		tcpEntries:      of(&alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{}),
		httpEntry:       of(&datav3.HTTPAccessLogEntry{}),
		tcpEntry:        of(&datav3.TCPAccessLogEntry{}),
		connection:      of(&datav3.ConnectionProperties{}),
		common:          of(&datav3.AccessLogCommon{}),
		timestamp:       of(&timestamppb.Timestamp{}),
		duration:        of(&durationpb.Duration{}),
		address:         of(&corev3.Address{}),
		socket:          of(&corev3.SocketAddress{}),
		pipe:            of(&corev3.Pipe{}),
		internal:        of(&corev3.EnvoyInternalAddress{}),
		tls:             of(&datav3.TLSProperties{}),
		certificate:     of(&datav3.TLSProperties_CertificateProperties{}),
		san:             of(&datav3.TLSProperties_CertificateProperties_SubjectAltName{}),
		flags:           of(&datav3.ResponseFlags{}),
		request:         of(&datav3.HTTPRequestProperties{}),
		response:        of(&datav3.HTTPResponseProperties{}),
		uint32:          of(&wrapperspb.UInt32Value{}),
		requestHeader:   mapOf(&datav3.HTTPRequestProperties{}, "request_headers"),
		responseHeader:  mapOf(&datav3.HTTPResponseProperties{}, "response_headers"),
		responseTrailer: mapOf(&datav3.HTTPResponseProperties{}, "response_trailers"),
	}
}

type schemaBuilder map[protoreflect.FullName]*msgSchema

func (b schemaBuilder) schema(md protoreflect.MessageDescriptor) *msgSchema {
	if s, ok := b[md.FullName()]; ok {
		return s
	}
	s := &msgSchema{}
	b[md.FullName()] = s // before the fields: messages can be recursive
	fds := md.Fields()
	max := 0
	for i := range fds.Len() {
		if n := int(fds.Get(i).Number()); n > max {
			max = n
		}
	}
	s.fields = make([]fieldSchema, max+1)
	for i := range fds.Len() {
		fd := fds.Get(i)
		fs := &s.fields[fd.Number()]
		// The messages alsd receives have no repeated scalars, which
		// protobuf-go would also accept packed (wire_test.go checks).
		switch k := fd.Kind(); {
		case k == protoreflect.StringKind:
			if enforceUTF8(fd) {
				fs.kind = kindString
			}
		case k == protoreflect.MessageKind:
			fs.kind, fs.msg, fs.mapF = kindMessage, b.schema(fd.Message()), fd.IsMap()
		}
	}
	return s
}

// enforceUTF8 is protobuf-go's rule: proto3 strings (and editions strings
// with utf8_validation VERIFY) must be valid UTF-8.
func enforceUTF8(fd protoreflect.FieldDescriptor) bool {
	if e, ok := fd.(interface{ EnforceUTF8() bool }); ok {
		return e.EnforceUTF8()
	}
	return fd.ParentFile().Syntax() == protoreflect.Proto3
}
