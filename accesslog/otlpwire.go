package accesslog

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/meshtel/meshtel/accesslog/envoytext"
	"github.com/meshtel/meshtel/pii"
	"github.com/meshtel/meshtel/record"
)

// The OTLP decoder reads an ExportLogsServiceRequest
// (opentelemetry.proto.collector.logs.v1) straight from its bytes, as the
// ALS wire decoder does, without protobuf-go's reflection: per resource
// the identity attributes, per log record its times, its body and the
// attributes a vocabulary names (otlpattrs.go). Everything else is
// skipped unread.
//
// Unlike proto.Unmarshal, which fails a whole request for one bad string,
// it contains damage: a log record that is not valid protobuf, holds
// invalid UTF-8 or too many attributes, or says nothing alsd understands
// is rejected alone (reported in partial_success), and so are the records
// of a resource whose identity cannot be read. Only a request whose own
// framing, or that of a resource or scope, is broken fails as a whole.

// Field numbers of the OTLP messages the decoder reads.
const (
	otlpResourceLogs = 1 // ExportLogsServiceRequest.resource_logs

	otlpResource  = 1 // ResourceLogs.resource
	otlpScopeLogs = 2 // ResourceLogs.scope_logs
	otlpResAttrs  = 1 // Resource.attributes
	otlpLogRecord = 2 // ScopeLogs.log_records

	otlpTime     = 1  // LogRecord.time_unix_nano, fixed64
	otlpBody     = 5  // LogRecord.body, AnyValue
	otlpAttrs    = 6  // LogRecord.attributes, KeyValue
	otlpObserved = 11 // LogRecord.observed_time_unix_nano, fixed64
)

var tooManyAttributes = fmt.Sprintf("more than %d attributes", maxOTLPAttributes)

// errTooManyRecords ends decoding of a request with more log records than
// MaxEntriesPerMessage.
var errTooManyRecords = errors.New("too many log records")

// otlpBatch converts one request into records.
type otlpBatch struct {
	conv      *Converter
	max       int
	now       time.Time
	principal string

	id             Identity // the resource's being converted
	rec            otlpRecord
	entry          entry
	scratch, arena []byte
	records        []record.Record

	n        int    // log records seen
	rejected int    // of which unreadable
	reason   string // why the first of them was rejected
	cut      int    // records whose headers MaxHeaderBytes cut
	masked   pii.Counts
}

// decode converts the request in frame: the readable log records go to
// b.records, the others are counted in b.rejected.
func (b *otlpBatch) decode(frame []byte) error {
	b.n, b.rejected, b.reason, b.cut, b.masked = 0, 0, "", 0, pii.Counts{}
	b.records = b.records[:0]
	for res := 0; len(frame) > 0; {
		f, err := next(&frame)
		if err != nil {
			return err
		}
		if f.num == otlpResourceLogs && f.typ == protowire.BytesType {
			if err := b.resourceLogs(f.b, res); err != nil {
				return err
			}
			res++
		}
	}
	return nil
}

// resourceLogs converts the log records of one resource, under its
// identity.
func (b *otlpBatch) resourceLogs(buf []byte, res int) error {
	var oid otlpIdentity
	var bad string // why the resource's identity cannot be read
	for rest := buf; len(rest) > 0; {
		f, err := next(&rest)
		if err != nil {
			return err
		}
		if f.num == otlpResource && f.typ == protowire.BytesType {
			if why := oid.decode(f.b); why != "" && bad == "" {
				bad = why
			}
		}
	}
	b.id = oid.identity(b.principal)
	b.conv.Bind(&b.id)
	for len(buf) > 0 {
		f, err := next(&buf)
		if err != nil {
			return err
		}
		if f.num != otlpScopeLogs || f.typ != protowire.BytesType {
			continue
		}
		for scope := f.b; len(scope) > 0; {
			g, err := next(&scope)
			if err != nil {
				return err
			}
			if g.num != otlpLogRecord || g.typ != protowire.BytesType {
				continue
			}
			if b.n++; b.n > b.max {
				return errTooManyRecords
			}
			if bad != "" {
				b.reject(res, "%s", bad)
				continue
			}
			b.logRecord(g.b, &b.id, res)
		}
	}
	b.cut += b.id.headersCut
	for k, n := range b.id.masked {
		b.masked[k] += n
	}
	return nil
}

// reject counts an unreadable log record of resource res; the first
// one's reason goes into the response (formatted only then: a sender may
// send nothing else).
func (b *otlpBatch) reject(res int, why string, args ...any) {
	if b.rejected == 0 {
		b.reason = fmt.Sprintf("log record %d: resource %d: ", b.n-1, res) + fmt.Sprintf(why, args...)
	}
	b.rejected++
}

// logRecord converts one log record, or rejects it.
func (b *otlpBatch) logRecord(buf []byte, id *Identity, res int) {
	r := &b.rec
	r.reset()
	r.decode(buf)
	bodyErr := r.readBody()
	switch {
	case r.bad != "" && r.badKey != "":
		b.reject(res, "attribute %q: %s", r.badKey, r.bad)
		return
	case r.bad != "":
		b.reject(res, "%s", r.bad)
		return
	}
	var n int
	n, b.scratch = r.toEntry(&b.entry, b.scratch)
	switch {
	case n == 0 && bodyErr != nil:
		b.reject(res, "no attribute alsd understands, and the body: %v", bodyErr)
		return
	case n == 0:
		b.reject(res, "no attribute alsd understands (SPEC §7 vocabularies) and no body in Envoy's text format")
		return
	}
	b.arena = b.entry.own(b.arena)
	i := len(b.records)
	if i < cap(b.records) {
		b.records = b.records[:i+1]
	} else {
		b.records = append(b.records, record.Record{})
	}
	b.conv.fill(&b.records[i], id, &b.entry, b.now)
}

// decode reads a LogRecord's times, body and vocabulary attributes.
func (r *otlpRecord) decode(buf []byte) {
	for len(buf) > 0 {
		f, err := next(&buf)
		if err != nil {
			r.bad = "not valid protobuf"
			return
		}
		switch {
		case f.num == otlpTime && f.typ == protowire.Fixed64Type:
			r.timeNano = f.v
		case f.num == otlpObserved && f.typ == protowire.Fixed64Type:
			r.observedNano = f.v
		case f.num == otlpBody && f.typ == protowire.BytesType:
			if r.body, err = anyValue(f.b); err != nil {
				r.bad = "body: not valid protobuf"
				return
			}
		case f.num == otlpAttrs && f.typ == protowire.BytesType:
			if r.attrs++; r.attrs > maxOTLPAttributes {
				r.bad = tooManyAttributes
				return
			}
			if !r.attribute(f.b, false) {
				return
			}
		}
	}
}

// attribute offers one KeyValue; onlyMissing offers it only to a field
// nothing filled yet. It returns false when the record is unreadable.
func (r *otlpRecord) attribute(kv []byte, onlyMissing bool) bool {
	key, val, err := keyValue(kv)
	if err != nil {
		r.bad = "an attribute is not valid protobuf"
		return false
	}
	k, ok := otlpAttributes[key]
	if !ok || onlyMissing && r.vocab[k.field] != 0 {
		return true
	}
	v, err := anyValue(val)
	switch {
	case err == nil && v.kind == vString && !utf8.ValidString(v.s):
		err = errWireUTF8
	case err == nil && v.kind == vArray:
		err = eachArrayString(v.raw, func(string) {})
	}
	if err != nil {
		r.bad, r.badKey = otlpValueError(err), key
		return false
	}
	if k.field == fProtocol && v.kind == vString && v.s == "-" {
		r.dashProtocol = true
	}
	r.offer(k, v)
	return true
}

func otlpValueError(err error) string {
	if errors.Is(err, errWireUTF8) {
		return "invalid UTF-8"
	}
	return "not valid protobuf"
}

// readBody takes what the attributes left missing from the body: the
// entries of a kvlist body, as attributes, or an Envoy text-format line.
// It returns why a string body could not be read.
func (r *otlpRecord) readBody() error {
	switch {
	case r.bad != "":
		return nil
	case r.body.kind == vKvlist:
		for kvs := r.body.raw; len(kvs) > 0; {
			f, err := next(&kvs)
			if err != nil {
				r.bad = "body: not valid protobuf"
				return nil
			}
			if f.num == 1 && f.typ == protowire.BytesType && !r.attribute(f.b, true) {
				return nil
			}
		}
	case r.body.kind == vString && r.body.present():
		if !utf8.ValidString(r.body.s) {
			return errors.New("invalid UTF-8")
		}
		l, err := envoytext.Parse(r.body.s)
		if err != nil {
			return err
		}
		r.setText(&l)
	}
	return nil
}

// keyValue reads a KeyValue: its key and its value, still encoded.
func keyValue(b []byte) (key string, val []byte, err error) {
	// Most are a short key then a short value, as Envoy writes them.
	if len(b) >= 4 && b[0] == 0x0a && b[1] < 0x80 && int(b[1])+4 <= len(b) {
		n := 2 + int(b[1])
		if b[n] == 0x12 && b[n+1] < 0x80 && n+2+int(b[n+1]) == len(b) {
			return aliasString(b[2:n]), b[n+2:], nil
		}
	}
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return "", nil, err
		}
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			key = aliasString(f.b) // compared with the vocabularies only
		case 2:
			val = f.b
		}
	}
	return key, val, nil
}

// anyValue reads an AnyValue; of several cases, the last wins.
func anyValue(b []byte) (attrValue, error) {
	// Most are one short string.
	if len(b) >= 2 && b[0] == 0x0a && b[1] < 0x80 && int(b[1])+2 == len(b) {
		return attrValue{kind: vString, s: aliasString(b[2:])}, nil
	}
	var v attrValue
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return attrValue{}, err
		}
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			v = attrValue{kind: vString, s: aliasString(f.b)}
		case f.num == 2 && f.typ == protowire.VarintType:
			v = attrValue{kind: vBool, n: f.v}
		case f.num == 3 && f.typ == protowire.VarintType:
			v = attrValue{kind: vInt, n: f.v}
		case f.num == 4 && f.typ == protowire.Fixed64Type:
			v = attrValue{kind: vDouble, n: f.v}
		case f.num == 5 && f.typ == protowire.BytesType:
			v = attrValue{kind: vArray, raw: f.b}
		case f.num == 6 && f.typ == protowire.BytesType:
			v = attrValue{kind: vKvlist, raw: f.b}
		case f.num == 7 && f.typ == protowire.BytesType:
			v = attrValue{kind: vBytes, raw: f.b}
		}
	}
	return v, nil
}

// eachArrayString calls fn with every string of an encoded ArrayValue that
// is present; other elements are skipped. It fails on broken framing and
// invalid UTF-8.
func eachArrayString(b []byte, fn func(string)) error {
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return err
		}
		if f.num != 1 || f.typ != protowire.BytesType {
			continue
		}
		v, err := anyValue(f.b)
		if err != nil {
			return err
		}
		if v.kind != vString || !v.present() {
			continue
		}
		if !utf8.ValidString(v.s) {
			return errWireUTF8
		}
		fn(v.s)
	}
	return nil
}

// otlpIdentity is what a resource's attributes say about the Envoy that
// sent its records (SPEC §7): Envoy's own cluster_name, node_name and
// log_name, else service.name, and Envoy Gateway's Kubernetes names.
type otlpIdentity struct {
	cluster, node, logName, service, namespace, pod string
}

// decode reads a Resource; it returns why its identity cannot be read, ""
// when it can.
func (id *otlpIdentity) decode(b []byte) string {
	attrs := 0
	for len(b) > 0 {
		f, err := next(&b)
		if err != nil {
			return "not valid protobuf"
		}
		if f.num != otlpResAttrs || f.typ != protowire.BytesType {
			continue
		}
		if attrs++; attrs > maxOTLPAttributes {
			return tooManyAttributes
		}
		key, val, err := keyValue(f.b)
		if err != nil {
			return "an attribute is not valid protobuf"
		}
		var dst *string
		switch key {
		case "cluster_name":
			dst = &id.cluster
		case "node_name":
			dst = &id.node
		case "log_name":
			dst = &id.logName
		case "service.name":
			dst = &id.service
		case "k8s.namespace.name":
			dst = &id.namespace
		case "k8s.pod.name":
			dst = &id.pod
		default:
			continue
		}
		v, err := anyValue(val)
		if err == nil && v.kind == vString && !utf8.ValidString(v.s) {
			err = errWireUTF8
		}
		if err != nil {
			return fmt.Sprintf("attribute %q: %s", key, otlpValueError(err))
		}
		if v.kind == vString && v.present() {
			*dst = v.s
		}
	}
	return ""
}

// identity is the Identity the resource's records are named with; its
// strings are copies, as the frame is reused.
func (id *otlpIdentity) identity(principal string) Identity {
	cluster, node := id.cluster, id.node
	if cluster == "" {
		cluster = id.service
	}
	if node == "" && id.pod != "" {
		node = id.pod
		if id.namespace != "" {
			node = id.pod + "." + id.namespace
		}
	}
	return Identity{NodeID: strings.Clone(node), Cluster: strings.Clone(cluster), LogName: strings.Clone(id.logName), Principal: principal}
}
