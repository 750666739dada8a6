package envoysim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// EnvoyConfig configures an Envoy.
type EnvoyConfig struct {
	// NodeID is node.id of the identifier. Default
	// "sidecar~127.0.0.1~<Cluster>~envoysim", the shape of an Istio
	// sidecar's.
	NodeID string
	// Cluster is node.cluster, the service the records are of. It may be
	// empty: what alsd makes of that is the server's business.
	Cluster string
	// LogName is the identifier's log_name. Default "als".
	LogName string
	// DialOptions replace the default insecure transport of Dial (TLS,
	// say). NewEnvoy ignores them.
	DialOptions []grpc.DialOption
	// CloseTimeout bounds how long Close and CloseStream wait for the
	// server's final status before they reset the stream. Default 10s.
	CloseTimeout time.Duration
}

// Envoy is the gRPC access logger of one Envoy worker thread: a sidecar
// with several workers is several Envoys with the same node. Like Envoy it
// keeps one stream open at a time, sends the identifier on a stream's
// first message only, and never reads the server's responses while
// sending: it learns that the server ended a stream only when a send
// fails, and then opens a new stream, identifier first, for the next
// message. It reads the final status when it closes a stream.
//
// An Envoy is not safe for concurrent use, as the worker thread it stands
// for is one thread.
type Envoy struct {
	cfg     EnvoyConfig
	client  alsv3.AccessLogServiceClient
	conn    *grpc.ClientConn // Dial's, closed by Close; nil from NewEnvoy
	id      *alsv3.StreamAccessLogsMessage_Identifier
	stream  alsv3.AccessLogService_StreamAccessLogsClient // nil between streams
	cancel  context.CancelFunc                            // the stream's
	first   bool                                          // the stream has sent nothing yet
	streams int
}

// ErrStreamEnded is what errors.Is finds in a send's error when the server
// had ended the stream before the message went out.
var ErrStreamEnded = errors.New("the server ended the stream")

// StreamEndedError reports a message that was not sent because the server
// had ended its stream. The next send opens a new stream.
type StreamEndedError struct {
	// Stream is the number of the ended stream (see Streams).
	Stream int
	// Status is the stream's final status; nil for OK. status.Code(err)
	// finds its code.
	Status error
}

func (e *StreamEndedError) Error() string {
	status := "OK"
	if e.Status != nil {
		status = e.Status.Error()
	}
	return fmt.Sprintf("envoysim: stream %d ended by the server before the message was sent: %s", e.Stream, status)
}

// Unwrap returns the final status.
func (e *StreamEndedError) Unwrap() error { return e.Status }

// Is reports target is ErrStreamEnded.
func (e *StreamEndedError) Is(target error) bool { return target == ErrStreamEnded }

// Dial returns an Envoy logging to the ALS server at target over a
// connection of its own, which Close closes. It does not connect yet: the
// first send does.
func Dial(target string, cfg EnvoyConfig) (*Envoy, error) {
	opts := cfg.DialOptions
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("envoysim: dial %s: %w", target, err)
	}
	e := NewEnvoy(conn, cfg)
	e.conn = conn
	return e, nil
}

// NewEnvoy returns an Envoy logging over conn, which it does not close:
// the Envoys of one sidecar share a connection, as Envoy's workers share
// its gRPC cluster.
func NewEnvoy(conn grpc.ClientConnInterface, cfg EnvoyConfig) *Envoy {
	if cfg.NodeID == "" {
		cfg.NodeID = "sidecar~127.0.0.1~" + cfg.Cluster + "~envoysim"
	}
	if cfg.LogName == "" {
		cfg.LogName = "als"
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 10 * time.Second
	}
	return &Envoy{
		cfg:    cfg,
		client: alsv3.NewAccessLogServiceClient(conn),
		id: &alsv3.StreamAccessLogsMessage_Identifier{
			Node:    &corev3.Node{Id: cfg.NodeID, Cluster: cfg.Cluster},
			LogName: cfg.LogName,
		},
	}
}

// Streams returns how many streams the Envoy has opened. The stream in
// use, if one is open, is number Streams().
func (e *Envoy) Streams() int { return e.streams }

// SendHTTP sends entries in one message, with the identifier if it is
// the stream's first. See SendMessage for errors.
func (e *Envoy) SendHTTP(ctx context.Context, entries ...*datav3.HTTPAccessLogEntry) error {
	return e.send(ctx, &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries}}}, true)
}

// SendTCP sends entries in one message, with the identifier if it is the
// stream's first. See SendMessage for errors.
func (e *Envoy) SendTCP(ctx context.Context, entries ...*datav3.TCPAccessLogEntry) error {
	return e.send(ctx, &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_TcpLogs{
		TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{LogEntry: entries}}}, true)
}

// SendMessage sends msg exactly as given, identifier or not, on the
// stream in use or, when there is none, on a new one: for what Envoy
// never sends (a first message without identifier, say).
//
// A send that fails because the server ended the stream returns a
// *StreamEndedError; one that ends with ctx resets the stream and returns
// ctx's error; one that cannot open a stream returns the gRPC status.
// A nil error means the message went to the transport, not that the
// server took it: only the final status tells.
func (e *Envoy) SendMessage(ctx context.Context, msg *alsv3.StreamAccessLogsMessage) error {
	return e.send(ctx, msg, false)
}

// SendFrame sends b as a message's encoding, unchecked: for the malformed
// and truncated messages a server must refuse. Errors are SendMessage's.
func (e *Envoy) SendFrame(ctx context.Context, b []byte) error {
	return e.send(ctx, frame(b), false)
}

// frame is a message's encoding, which codec sends as it is.
type frame []byte

// codec is gRPC's proto codec, except that it sends a frame as it is.
type codec struct{ encoding.CodecV2 }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(frame); ok {
		return mem.BufferSlice{mem.SliceBuffer(f)}, nil
	}
	return c.CodecV2.Marshal(v)
}

func (e *Envoy) send(ctx context.Context, msg any, identify bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.stream == nil {
		if err := e.open(ctx); err != nil {
			return err
		}
	}
	if m, ok := msg.(*alsv3.StreamAccessLogsMessage); ok && identify && e.first {
		m.Identifier = e.id
	}
	// Send blocks while the server does not read; ctx's end resets the
	// stream, which unblocks it.
	stop := context.AfterFunc(ctx, e.cancel)
	err := e.stream.SendMsg(msg)
	if !stop() {
		e.Reset()
		return ctx.Err()
	}
	switch {
	case errors.Is(err, io.EOF):
		return &StreamEndedError{Stream: e.streams, Status: e.finish()}
	case err != nil:
		// The message could not be encoded: the stream is still open,
		// and how far it got unknown.
		e.Reset()
		return fmt.Errorf("envoysim: send: %w", err)
	}
	e.first = false
	return nil
}

func (e *Envoy) open(ctx context.Context) error {
	sctx, cancel := context.WithCancel(context.Background())
	// Opening waits for a connection; ctx's end stops the wait.
	stop := context.AfterFunc(ctx, cancel)
	stream, err := e.client.StreamAccessLogs(sctx, grpc.ForceCodecV2(codec{encoding.GetCodecV2(grpcproto.Name)}))
	if !stop() {
		cancel()
		return ctx.Err()
	}
	if err != nil {
		cancel()
		return fmt.Errorf("envoysim: open stream: %w", err)
	}
	e.stream, e.cancel, e.first = stream, cancel, true
	e.streams++
	return nil
}

// finish reads the final status of a stream a send found ended, and
// forgets the stream.
func (e *Envoy) finish() error {
	err := e.stream.RecvMsg(new(alsv3.StreamAccessLogsResponse))
	e.Reset()
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// CloseStream half-closes the stream in use, as a draining Envoy does,
// and returns the server's final status: nil for OK, or when no stream is
// open. Without a status within CloseTimeout it resets the stream and
// says so. The next send opens a new stream.
func (e *Envoy) CloseStream() error {
	if e.stream == nil {
		return nil
	}
	timer := time.AfterFunc(e.cfg.CloseTimeout, e.cancel)
	_, err := e.stream.CloseAndRecv()
	timedOut := !timer.Stop()
	e.Reset()
	switch {
	case timedOut:
		return fmt.Errorf("envoysim: no final status within %s: %w", e.cfg.CloseTimeout, err)
	case errors.Is(err, io.EOF):
		return nil
	default:
		return err
	}
}

// Reset ends the stream in use at once (HTTP/2 RST_STREAM), as Envoy does
// when it is killed, without waiting for a status. The next send opens a
// new stream.
func (e *Envoy) Reset() {
	if e.stream == nil {
		return
	}
	e.cancel()
	e.stream, e.cancel = nil, nil
}

// Close closes the stream in use like CloseStream and returns its final
// status; then it closes the connection if Dial made it.
func (e *Envoy) Close() error {
	err := e.CloseStream()
	if e.conn != nil {
		if cerr := e.conn.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("envoysim: close connection: %w", cerr)
		}
		e.conn = nil
	}
	return err
}
