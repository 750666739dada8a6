package accesslog

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/outcome"
	"github.com/meshtel/meshtel/record"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// pathResult is what the server takes from one message, by either path.
type pathResult struct {
	failed        bool
	hasIdentifier bool
	identity      [3]string // node id, cluster, log name
	hasLogs       bool
	kind          record.Kind
	n             int
	records       []record.Record
	headersCut    int
}

const wireTestMax = 64

// protoPath is alsd's path before the wire decoder: proto.Unmarshal, then
// Converter.HTTP or TCP.
func protoPath(c *Converter, raw []byte) pathResult {
	var msg alsv3.StreamAccessLogsMessage
	if err := proto.Unmarshal(raw, &msg); err != nil {
		return pathResult{failed: true}
	}
	var res pathResult
	id := convIdentity
	if ident := msg.GetIdentifier(); ident != nil {
		res.hasIdentifier = true
		res.identity = [3]string{ident.GetNode().GetId(), ident.GetNode().GetCluster(), ident.GetLogName()}
		id = Identity{NodeID: res.identity[0], Cluster: res.identity[1], LogName: res.identity[2], Principal: id.Principal}
	}
	c.Bind(&id)
	switch e := msg.GetLogEntries().(type) {
	case *alsv3.StreamAccessLogsMessage_HttpLogs:
		res.hasLogs, res.kind, res.n = true, record.HTTP, len(e.HttpLogs.GetLogEntry())
		for i, entry := range e.HttpLogs.GetLogEntry() {
			if i == wireTestMax {
				break
			}
			res.records = append(res.records, record.Record{})
			c.HTTP(&res.records[i], &id, entry, convStart)
		}
	case *alsv3.StreamAccessLogsMessage_TcpLogs:
		res.hasLogs, res.kind, res.n = true, record.TCP, len(e.TcpLogs.GetLogEntry())
		for i, entry := range e.TcpLogs.GetLogEntry() {
			if i == wireTestMax {
				break
			}
			res.records = append(res.records, record.Record{})
			c.TCP(&res.records[i], &id, entry, convStart)
		}
	}
	res.headersCut = id.headersCut
	return res
}

// wirePath is the same through the wire decoder; w is reused, as the
// server reuses it.
func wirePath(c *Converter, w *wireBatch, raw []byte) pathResult {
	w.frame = append(w.frame[:0], raw...)
	if err := w.decode(wireTestMax); err != nil {
		return pathResult{failed: true}
	}
	var res pathResult
	id := convIdentity
	if w.hasIdentifier {
		res.hasIdentifier = true
		res.identity = [3]string{strings.Clone(w.nodeID), strings.Clone(w.cluster), strings.Clone(w.logNm)}
		id = Identity{NodeID: res.identity[0], Cluster: res.identity[1], LogName: res.identity[2], Principal: id.Principal}
	}
	c.Bind(&id)
	if w.hasLogs {
		res.hasLogs, res.kind, res.n = true, w.kind, w.n
		if w.n > 0 {
			res.records = make([]record.Record, min(w.n, wireTestMax))
		}
		w.toRecords(c, res.records, &id, convStart)
	}
	res.headersCut = id.headersCut
	// Nothing converted may alias the frame: scribble over it.
	for i := range w.frame {
		w.frame[i] = 0xff
	}
	return res
}

// normalise makes empty slices nil, the one difference DeepEqual would
// see that no consumer can.
func normalise(res *pathResult) {
	for i := range res.records {
		r := &res.records[i]
		if len(r.ResponseFlags) == 0 {
			r.ResponseFlags = nil
		}
		if len(r.Cookies) == 0 {
			r.Cookies = nil
		}
		if len(r.MalformedCookies) == 0 {
			r.MalformedCookies = nil
		}
	}
}

// samePaths fails t unless both paths take raw alike.
func samePaths(t *testing.T, c *Converter, w *wireBatch, raw []byte) {
	t.Helper()
	want, got := protoPath(c, raw), wirePath(c, w, raw)
	normalise(&want)
	normalise(&got)
	if !reflect.DeepEqual(got, want) {
		if got.failed != want.failed {
			t.Fatalf("message %x: wire decoder failed=%v, proto.Unmarshal failed=%v", raw, got.failed, want.failed)
		}
		for i := range min(len(got.records), len(want.records)) {
			if !reflect.DeepEqual(got.records[i], want.records[i]) {
				t.Fatalf("message %x: record %d\nwire:  %+v\nproto: %+v", raw, i, got.records[i], want.records[i])
			}
		}
		t.Fatalf("message %x:\nwire:  %+v\nproto: %+v", raw, got, want)
	}
}

// decodedBatch is msg through the wire decoder, as the server gets it.
func decodedBatch(t testing.TB, msg proto.Message, max int) *wireBatch {
	t.Helper()
	w := &wireBatch{frame: marshal(t, msg)}
	if err := w.decode(max); err != nil {
		t.Fatal(err)
	}
	return w
}

// cookieCountOutcome encodes a record's cookie count in its outcome, so the
// differential tests see that Classify runs after the cookies are parsed.
func cookieCountOutcome(r *record.Record) outcome.Outcome {
	return outcome.Outcome(min(len(r.Cookies), 3))
}

func wireConverter(t testing.TB, keepQuery bool, maxHeader int) *Converter {
	return &Converter{Catalog: convCatalog(t), KeepQuery: keepQuery, MaxHeaderBytes: maxHeader,
		Classify: cookieCountOutcome}
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func httpMessage(ident bool, entries ...*datav3.HTTPAccessLogEntry) *alsv3.StreamAccessLogsMessage {
	m := &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries}}}
	if ident {
		m.Identifier = wireIdentifier()
	}
	return m
}

func tcpMessage(ident bool, entries ...*datav3.TCPAccessLogEntry) *alsv3.StreamAccessLogsMessage {
	m := &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_TcpLogs{
		TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{LogEntry: entries}}}
	if ident {
		m.Identifier = wireIdentifier()
	}
	return m
}

func wireIdentifier() *alsv3.StreamAccessLogsMessage_Identifier {
	md, _ := structpb.NewStruct(map[string]any{"ISTIO_VERSION": "1.24", "LABELS": map[string]any{"app": "web", "n": []any{1.0, "x", true}}})
	return &alsv3.StreamAccessLogsMessage_Identifier{LogName: "als", Node: &corev3.Node{
		Id: "sidecar~10.0.0.1~web-7f~default", Cluster: "web.default", Metadata: md,
		UserAgentName: "envoy", ClientFeatures: []string{"envoy.lb.does_not_support_overprovisioning"},
		Locality: &corev3.Locality{Region: "eu", Zone: "eu-1a"}}}
}

// wireSeeds are messages from convert_test.go's fixtures, the fuzz seeds
// of the converter, the simulator and a few variants that exercise what
// the converter reads in other shapes.
func wireSeeds(t testing.TB) [][]byte {
	var msgs []proto.Message
	msgs = append(msgs, httpMessage(true, fullHTTPEntry()), tcpMessage(true, fullTCPEntry()), httpMessage(false, fuzzSeedEntries()...))
	for _, name := range []string{"unauthorized_details", "downstream_remote_reset", "local_reset"} {
		e := fullHTTPEntry()
		e.CommonProperties.ResponseFlags = &datav3.ResponseFlags{}
		m := e.CommonProperties.ResponseFlags.ProtoReflect()
		fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
		if fd.Kind() == protoreflect.MessageKind {
			m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
		} else {
			m.Set(fd, protoreflect.ValueOfBool(true))
		}
		msgs = append(msgs, httpMessage(false, e))
	}
	addrs := httpMessage(false)
	for _, a := range []*corev3.Address{
		{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/envoy.sock", Mode: 0o600}}},
		{Address: &corev3.Address_EnvoyInternalAddress{EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
			AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: "internal"}, EndpointId: "e1"}}},
		{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "fe80::1",
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 443}}}},
		{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "10.0.0.2",
			PortSpecifier: &corev3.SocketAddress_NamedPort{NamedPort: "http"}}}},
		{},
	} {
		e := fullHTTPEntry()
		e.CommonProperties.UpstreamRemoteAddress = a
		e.CommonProperties.DownstreamLocalAddress = a
		e.CommonProperties.TlsProperties.TlsVersion = datav3.TLSProperties_TLSVersion(7)
		e.Request.RequestMethod = corev3.RequestMethod(42)
		addrs.GetHttpLogs().LogEntry = append(addrs.GetHttpLogs().LogEntry, e)
	}
	zero := fullHTTPEntry()
	zero.CommonProperties.StartTime = &timestamppb.Timestamp{}
	zero.CommonProperties.Duration = &durationpb.Duration{}
	zero.CommonProperties.TimeToLastUpstreamRxByte = &durationpb.Duration{}
	zero.CommonProperties.TlsProperties.PeerCertificateProperties.SubjectAltName = []*datav3.TLSProperties_CertificateProperties_SubjectAltName{
		{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Dns{Dns: ""}},
		{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Dns{Dns: "first.dns"}},
		{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Dns{Dns: "second.dns"}},
		{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: ""}},
	}
	zero.Response.ResponseCode = wrapperspb.UInt32(0)
	msgs = append(msgs, addrs, httpMessage(false, zero), &alsv3.StreamAccessLogsMessage{Identifier: wireIdentifier()})

	g := envoysim.NewGenerator(envoysim.GeneratorConfig{Service: "web", HealthCheck: "/status", Upstreams: []string{"api"},
		Routes: []string{"default", "api"}, BadRatio: 0.2, Seed: 1})
	sim := httpMessage(true)
	for range 20 {
		sim.GetHttpLogs().LogEntry = append(sim.GetHttpLogs().LogEntry, g.HTTP())
	}
	simTCP := tcpMessage(false)
	for range 5 {
		simTCP.GetTcpLogs().LogEntry = append(simTCP.GetTcpLogs().LogEntry, g.TCP())
	}
	msgs = append(msgs, sim, simTCP)

	var out [][]byte
	for _, m := range msgs {
		out = append(out, marshal(t, m))
	}
	return append(out, handMessages()...)
}

// handMessages are shapes proto.Marshal never writes: repeated and
// merged fields, oneof switches, unknown fields and groups, map entries
// without key or value, wrong wire types, bad UTF-8 where the converter
// does not look.
func handMessages() [][]byte {
	tag := protowire.AppendTag
	bytesField := func(num protowire.Number, b []byte) []byte {
		return protowire.AppendBytes(tag(nil, num, protowire.BytesType), b)
	}
	cat := func(parts ...[]byte) []byte {
		return []byte(strings.Join(func() []string {
			s := make([]string, len(parts))
			for i, p := range parts {
				s[i] = string(p)
			}
			return s
		}(), ""))
	}
	varint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(tag(nil, num, protowire.VarintType), v)
	}
	entry := func(fields ...[]byte) []byte { return bytesField(2, bytesField(1, cat(fields...))) }
	mapEntry := func(num protowire.Number, fields ...[]byte) []byte { return bytesField(num, cat(fields...)) }
	req := func(fields ...[]byte) []byte { return bytesField(3, cat(fields...)) }
	resp := func(fields ...[]byte) []byte { return bytesField(4, cat(fields...)) }
	common := func(fields ...[]byte) []byte { return bytesField(1, cat(fields...)) }
	sock := func(fields ...[]byte) []byte { return bytesField(1, cat(fields...)) }
	group := cat(tag(nil, 99, protowire.StartGroupType), varint(1, 5), tag(nil, 99, protowire.EndGroupType))
	return [][]byte{
		// Merged entry parts, a map entry without key, without value, twice.
		entry(req(bytesField(5, []byte("/a?x")), mapEntry(13, bytesField(2, []byte("v")))),
			req(mapEntry(13, bytesField(1, []byte("cookie"))), mapEntry(13, bytesField(1, []byte("user-agent")), bytesField(2, []byte("ua1")), bytesField(2, []byte("ua2")))),
			resp(mapEntry(5, bytesField(1, []byte("grpc-status")))), resp(bytesField(1, nil))),
		// Address oneof switching, socket merges, port oneof switching.
		entry(common(bytesField(13, cat(sock(bytesField(2, []byte("10.0.0.1")), varint(3, 80)), bytesField(2, bytesField(1, []byte("/p"))),
			sock(varint(3, 81)), sock(bytesField(4, []byte("named"))), sock(bytesField(2, []byte("h")))))),
			common(bytesField(3, sock(varint(3, 8080))), bytesField(3, sock(bytesField(2, []byte("x")))))),
		// A oneof case set anew starts from an empty message.
		entry(common(bytesField(13, cat(sock(bytesField(2, []byte("10.0.0.1")), varint(3, 80)), bytesField(2, bytesField(1, []byte("/p"))),
			sock(varint(3, 81)))), bytesField(2, cat(bytesField(2, bytesField(1, []byte("/q"))), bytesField(3, varint(2, 1)))))),
		// Unknown fields and groups everywhere, wrong wire types.
		cat(group, entry(group, common(group, varint(15, 3), bytesField(27, []byte{1}), varint(19, 1)), req(varint(5, 1), group)), group),
		// Oneof of log entries switching: only the last kind counts.
		cat(entry(req(bytesField(5, []byte("/http")))), bytesField(3, bytesField(1, nil)), entry(req(bytesField(5, []byte("/again"))))),
		// Response flags set and cleared, SANs in every shape.
		entry(common(bytesField(16, cat(varint(6, 1), varint(9, 1), varint(6, 0), bytesField(13, varint(1, 1)))),
			bytesField(4, bytesField(5, cat(bytesField(1, cat(bytesField(1, []byte("spiffe://a")), bytesField(2, []byte("dns")))),
				bytesField(1, bytesField(1, nil)), bytesField(1, bytesField(1, []byte("spiffe://b"))), bytesField(2, []byte("CN=x"))))))),
		// Invalid UTF-8 where the converter does not read: a scheme, node metadata.
		entry(req(bytesField(2, []byte{0xff}))),
		bytesField(1, bytesField(1, bytesField(3, bytesField(1, cat(bytesField(1, []byte("k")), bytesField(2, bytesField(3, []byte{0xc3}))))))),
		// Packed client_features is a string list: not packable.
		bytesField(1, bytesField(1, bytesField(10, []byte{0x80}))),
		// Truncated, a field number of 0, an end group without start.
		entry(req(bytesField(5, []byte("/x"))))[:5],
		{0x00, 0x01},
		tag(nil, 7, protowire.EndGroupType),
	}
}

func TestWireMatchesProto(t *testing.T) {
	seeds := wireSeeds(t)
	for _, c := range []*Converter{wireConverter(t, false, 0), wireConverter(t, true, 40), wireConverter(t, false, -1)} {
		var w wireBatch
		for _, raw := range seeds {
			samePaths(t, c, &w, raw)
		}
		// Concatenated messages merge; mutations must be taken or
		// refused alike.
		rng := rand.New(rand.NewPCG(3, 4))
		for range 3000 {
			samePaths(t, c, &w, mutate(rng, seeds))
		}
	}
}

// mutate is a seed changed a little: concatenated with another (a merge),
// cut, or with bytes flipped, inserted or deleted.
func mutate(rng *rand.Rand, seeds [][]byte) []byte {
	b := append([]byte(nil), seeds[rng.IntN(len(seeds))]...)
	for range 1 + rng.IntN(3) {
		switch rng.IntN(5) {
		case 0:
			b = append(b, seeds[rng.IntN(len(seeds))]...)
		case 1:
			if len(b) > 0 {
				b = b[:rng.IntN(len(b))]
			}
		case 2, 3:
			if len(b) > 0 {
				b[rng.IntN(len(b))] ^= byte(1 << rng.IntN(8))
			}
		default:
			i := rng.IntN(len(b) + 1)
			b = append(b[:i], append([]byte{byte(rng.IntN(256))}, b[i:]...)...)
		}
	}
	return b
}

func TestWireEntryLimit(t *testing.T) {
	c := wireConverter(t, false, 0)
	m := tcpMessage(false)
	for range 3 * wireTestMax {
		m.GetTcpLogs().LogEntry = append(m.GetTcpLogs().LogEntry, fullTCPEntry())
	}
	var w wireBatch
	samePaths(t, c, &w, marshal(t, m))
	if len(w.entries) > wireTestMax {
		t.Errorf("kept %d entries, want at most %d", len(w.entries), wireTestMax)
	}
}

// TestWireDepth: the recursion limit is protobuf-go's, counted alike,
// also for a map field of the wrong wire type at the limit.
func TestWireDepth(t *testing.T) {
	c := wireConverter(t, false, 0)
	var w wireBatch
	bytesField := func(num protowire.Number, b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
	}
	// Values in node metadata, nested two levels (Value → ListValue) or
	// three (Value → Struct → fields entry) at a time, so that every
	// depth around the limit is tried.
	listStep := func(v []byte) []byte { return bytesField(6, bytesField(1, v)) }
	structStep := func(v []byte) []byte { return bytesField(5, bytesField(1, bytesField(2, v))) }
	for _, bottom := range [][]byte{
		protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1), // Struct.fields, not a map entry
		bytesField(1, nil), // an empty map entry
		nil,
	} {
		base := bytesField(5, bottom)
		for range 3327 {
			base = structStep(base)
		}
		for _, v := range [][]byte{base, structStep(base), structStep(structStep(base)), structStep(structStep(structStep(base)))} {
			for range 5 {
				raw := bytesField(1, bytesField(1, bytesField(3, bytesField(1, bytesField(2, v)))))
				samePaths(t, c, &w, raw)
				v = listStep(v)
			}
		}
	}
}

// TestWireSchemaHasNoPackedFields: the validator in wire.go knows no
// packed repeated scalars, as the messages it checks have none.
func TestWireSchemaHasNoPackedFields(t *testing.T) {
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		fds := md.Fields()
		for i := range fds.Len() {
			fd := fds.Get(i)
			switch fd.Kind() {
			case protoreflect.MessageKind, protoreflect.GroupKind:
				walk(fd.Message())
			case protoreflect.StringKind, protoreflect.BytesKind:
			default:
				if fd.IsList() {
					t.Errorf("%s is a repeated scalar: teach wire.go packed fields", fd.FullName())
				}
			}
		}
	}
	walk((&alsv3.StreamAccessLogsMessage{}).ProtoReflect().Descriptor())
}

// TestResponseFlagBitsAreFieldNumbers: the wire decoder sets bit n for
// ResponseFlags field n, which must be responseFlagCodes' entry n-1.
func TestResponseFlagBitsAreFieldNumbers(t *testing.T) {
	fds := (&datav3.ResponseFlags{}).ProtoReflect().Descriptor().Fields()
	if fds.Len() != len(responseFlagCodes) {
		t.Fatalf("ResponseFlags has %d fields, responseFlagCodes %d", fds.Len(), len(responseFlagCodes))
	}
	for i := range fds.Len() {
		fd := fds.Get(i)
		f := &datav3.ResponseFlags{}
		m := f.ProtoReflect()
		if fd.Kind() == protoreflect.MessageKind {
			m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
		} else {
			m.Set(fd, protoreflect.ValueOfBool(true))
		}
		if got, want := responseFlagsOf(f), responseFlagBits(1)<<fd.Number(); got != want {
			t.Errorf("field %s (%d) sets bits %b, want %b", fd.Name(), fd.Number(), got, want)
		}
	}
}

func FuzzWireDecode(f *testing.F) {
	for _, raw := range wireSeeds(f) {
		f.Add(raw, false, 0)
		f.Add(raw, true, 30)
	}
	cat := convCatalog(f)
	var w wireBatch
	f.Fuzz(func(t *testing.T, raw []byte, keepQuery bool, maxHeader int) {
		c := &Converter{Catalog: cat, KeepQuery: keepQuery, MaxHeaderBytes: maxHeader % 200,
			Classify: cookieCountOutcome}
		samePaths(t, c, &w, raw)
	})
}
