package accesslog

import (
	"math"
	"strconv"
	"strings"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/record"
)

// FuzzOTLPLogRecord feeds arbitrary bytes to the attribute mapper as one
// log record of a request. It must never panic, and must account for the
// record (kept or rejected). Where protobuf-go reads the bytes as a
// LogRecord, the decoder must not call them broken, and the record's
// status must be what a plain reading of the attributes gives (the first
// vocabulary with a value wins).
func FuzzOTLPLogRecord(f *testing.F) {
	e := fullHTTPEntry()
	for _, v := range envoysim.Vocabularies {
		f.Add(mustMarshal(f, v.HTTP(e)))
		f.Add(mustMarshal(f, v.TCP(fullTCPEntry())))
	}
	f.Add(mustMarshal(f, &logspb.LogRecord{Attributes: attrs("status", integer(200), "response_code", "-", "duration_ms", double(1.5),
		"http.response.header.set-cookie", strs("a=1", "b=2; Secure"), "response_flags", strs("UF"))}))
	f.Add(mustMarshal(f, &logspb.LogRecord{Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{
		KvlistValue: &commonpb.KeyValueList{Values: attrs("status", "418")}}}}))
	f.Add([]byte{0x32, 0x03, 0x0a, 0x01, 's'})
	conv := otlpConv(f)
	res := mustMarshal(f, envoyResource("web"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := &otlpBatch{conv: conv, max: 10, now: convStart}
		if err := b.decode(rawRequest([][]byte{res, data})); err != nil {
			t.Fatalf("a well-framed request failed: %v", err)
		}
		if b.n != 1 || b.rejected+len(b.records) != 1 {
			t.Fatalf("%d records, %d kept, %d rejected", b.n, len(b.records), b.rejected)
		}
		var lr logspb.LogRecord
		if proto.Unmarshal(data, &lr) != nil {
			return
		}
		if b.rejected == 1 && (strings.Contains(b.reason, "protobuf") || strings.Contains(b.reason, "UTF-8")) {
			t.Fatalf("protobuf-go reads the record, the decoder rejects it: %s", b.reason)
		}
		want, ok := plainStatus(lr.GetAttributes())
		if !ok || len(b.records) == 0 || b.records[0].Kind != record.HTTP {
			return
		}
		if got := b.records[0].Status; got != want {
			t.Fatalf("status %d, want %d from %v", got, want, lr.GetAttributes())
		}
	})
}

// plainStatus reads the status as SPEC §7 says, straight from decoded
// attributes: the first present value of the first vocabulary that has
// one, if that value is a string or an int; ok false when it cannot tell.
func plainStatus(kvs []*commonpb.KeyValue) (status int, ok bool) {
	for _, key := range []string{"status", "response_code", "http.response.status_code"} {
		for _, kv := range kvs {
			if kv.GetKey() != key {
				continue
			}
			switch v := kv.GetValue().GetValue().(type) {
			case *commonpb.AnyValue_StringValue:
				if v.StringValue == "" || v.StringValue == "-" {
					continue
				}
				n, err := strconv.ParseUint(v.StringValue, 10, 64)
				if err != nil || n > math.MaxUint32 {
					return 0, true
				}
				return int(n), true
			case *commonpb.AnyValue_IntValue:
				if v.IntValue < 0 || v.IntValue > math.MaxUint32 {
					return 0, true
				}
				return int(v.IntValue), true
			case nil:
				continue
			default:
				return 0, false
			}
		}
	}
	return 0, false
}
