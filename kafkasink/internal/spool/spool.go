package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshtel/meshtel/record"
)

// ErrFull is returned by Spool.Append when the batch would take the
// spool past its MaxBytes.
var ErrFull = errors.New("spool is full")

// Config configures a Spool.
type Config struct {
	// Dir holds the segment files and the cursor. Created if absent.
	Dir string
	// MaxBytes caps the undelivered bytes on disk. Default 1 GiB.
	MaxBytes int64
	// SegmentBytes is the size at which the spool starts a new segment file;
	// delivered segments are deleted whole. Default 64 MiB.
	SegmentBytes int64
	// OnCorrupt is called once per corrupt or truncated segment tail found.
	OnCorrupt func()
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Spool is an append-only, checksummed on-disk queue of messages Kafka could
// not take yet. Appends go to the newest segment with one write(2) each, so
// a SIGKILL after Append returns loses nothing; Read and Commit advance a
// persisted cursor, so a restart replays from where delivery stopped.
//
// On-disk format: segment files "<seq>.seg", each a sequence of frames
// [u32 payload length][u32 CRC-32C of payload][payload]; the payload is
// [u8 encoding | idFlag][varint unix ms]([uvarint ingester length][ingester]
// [uvarint sequence][uvarint prev], when idFlag is set)[uvarint key
// length][key][value]. Frames written before records had ids lack idFlag and
// come back with a zero ID. The cursor
// file holds "<seq> <offset>". A frame that fails its checksum or runs past
// the end of its segment ends that segment's valid prefix: everything before
// it is replayed, the rest is reported as corrupt.
type Spool struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	segs     []segment // oldest first; the last one is being appended to
	active   *os.File
	cursor   Cursor // first undelivered frame
	bytes    int64  // undelivered bytes
	appended chan struct{}
	buf      []byte
	closed   bool

	reader     *os.File // read handle of segs[readerSeq]
	readerSeq  uint64
	readerBuf  []byte
	corruptSeq map[uint64]bool
}

type segment struct {
	seq  uint64
	size int64 // bytes of whole frames
}

// Cursor is a position in the spool.
type Cursor struct {
	Seq    uint64
	Offset int64
}

const (
	spoolFrameHeader = 8
	spoolMaxFrame    = 64 << 20
	spoolCursorFile  = "cursor"
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// Open opens or creates the spool in cfg.Dir. Existing segments are
// kept for replay; appends always go to a fresh segment, so a torn tail
// left by a crash is never appended after.
func Open(cfg Config) (*Spool, error) {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 30
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create spool directory: %w", err)
	}
	s := &Spool{cfg: cfg, log: cfg.Logger, appended: make(chan struct{}, 1), corruptSeq: map[uint64]bool{}}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("read spool directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("stat spool segment %q: %w", name, err)
		}
		s.segs = append(s.segs, segment{seq: seq, size: info.Size()})
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].seq < s.segs[j].seq })
	if err := s.loadCursor(); err != nil {
		return nil, err
	}
	// Segments wholly before the cursor were delivered before a crash
	// interrupted their deletion.
	for len(s.segs) > 0 && s.segs[0].seq < s.cursor.Seq {
		_ = os.Remove(s.segPath(s.segs[0].seq))
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 || s.segs[0].seq != s.cursor.Seq {
		s.cursor.Offset = 0
		if len(s.segs) > 0 {
			s.cursor.Seq = s.segs[0].seq
		}
	}
	for _, seg := range s.segs {
		s.bytes += seg.size
	}
	s.bytes -= s.cursor.Offset
	if s.bytes < 0 {
		s.bytes = 0
	}
	next := s.cursor.Seq
	if n := len(s.segs); n > 0 {
		next = s.segs[n-1].seq + 1
	}
	if err := s.startSegment(next); err != nil {
		return nil, err
	}
	if len(s.segs) == 1 {
		s.cursor = Cursor{Seq: next}
	}
	return s, nil
}

func (s *Spool) segPath(seq uint64) string {
	return filepath.Join(s.cfg.Dir, fmt.Sprintf("%020d.seg", seq))
}

func (s *Spool) loadCursor() error {
	b, err := os.ReadFile(filepath.Join(s.cfg.Dir, spoolCursorFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read spool cursor: %w", err)
	}
	var c Cursor
	if _, err := fmt.Sscanf(string(b), "%d %d", &c.Seq, &c.Offset); err != nil || c.Offset < 0 {
		s.log.Warn("spool cursor is corrupt; replaying the spool from its start (duplicates possible)", "file", spoolCursorFile, "content", string(b))
		if s.cfg.OnCorrupt != nil {
			s.cfg.OnCorrupt()
		}
		return nil
	}
	s.cursor = c
	return nil
}

func (s *Spool) startSegment(seq uint64) error {
	f, err := os.OpenFile(s.segPath(seq), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create spool segment: %w", err)
	}
	if s.active != nil {
		if err := s.active.Close(); err != nil {
			s.log.Warn("closing spool segment", "err", err)
		}
	}
	s.active = f
	s.segs = append(s.segs, segment{seq: seq})
	return nil
}

// Append writes msgs to the spool as one write. It fails with ErrFull,
// writing nothing, when they do not fit under MaxBytes.
func (s *Spool) Append(msgs []record.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool is closed")
	}
	buf := s.buf[:0]
	for i := range msgs {
		buf = appendFrame(buf, &msgs[i])
	}
	s.buf = buf
	if s.bytes+int64(len(buf)) > s.cfg.MaxBytes {
		return ErrFull
	}
	last := &s.segs[len(s.segs)-1]
	if last.size > 0 && last.size+int64(len(buf)) > s.cfg.SegmentBytes {
		if err := s.startSegment(last.seq + 1); err != nil {
			return err
		}
		last = &s.segs[len(s.segs)-1]
	}
	n, err := s.active.Write(buf)
	if err != nil {
		// A short write leaves a torn frame; truncate it away so later
		// frames stay reachable.
		if n > 0 {
			_ = s.active.Truncate(last.size)
			_, _ = s.active.Seek(last.size, io.SeekStart)
		}
		return fmt.Errorf("write spool segment: %w", err)
	}
	last.size += int64(n)
	s.bytes += int64(n)
	select {
	case s.appended <- struct{}{}:
	default:
	}
	return nil
}

// idFlag marks, in a frame's encoding byte, that the record's ID follows
// its time.
const idFlag = 0x80

func appendFrame(dst []byte, m *record.Message) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	if m.ID.IsZero() {
		dst = append(dst, byte(m.Encoding))
		dst = binary.AppendVarint(dst, m.Time.UnixMilli())
	} else {
		dst = append(dst, byte(m.Encoding)|idFlag)
		dst = binary.AppendVarint(dst, m.Time.UnixMilli())
		dst = binary.AppendUvarint(dst, uint64(len(m.ID.Ingester)))
		dst = append(dst, m.ID.Ingester...)
		dst = binary.AppendUvarint(dst, m.ID.Seq)
		dst = binary.AppendUvarint(dst, m.Prev)
	}
	dst = binary.AppendUvarint(dst, uint64(len(m.Key)))
	dst = append(dst, m.Key...)
	dst = append(dst, m.Value...)
	payload := dst[start+spoolFrameHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crc32c))
	return dst
}

// Appended is signalled after appends; the replayer waits on it.
func (s *Spool) Appended() <-chan struct{} { return s.appended }

// Bytes returns the undelivered bytes in the spool.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Cursor returns the position of the first undelivered frame.
func (s *Spool) Cursor() Cursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursor
}

// Read returns up to max messages (about maxBytes of them) starting at
// from, and the cursor after them. It returns no messages when from is at
// the end. Only the replayer reads; the returned messages own their memory.
func (s *Spool) Read(from Cursor, max int, maxBytes int) ([]record.Message, Cursor, error) {
	// Asking for nothing must not look like a segment that ends inside a
	// frame: that would drop the segment as corrupt.
	if max <= 0 {
		return nil, from, nil
	}
	if maxBytes <= 0 {
		maxBytes = 1
	}
	var msgs []record.Message
	for {
		s.mu.Lock()
		i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].seq >= from.Seq })
		if i == len(s.segs) {
			s.mu.Unlock()
			return msgs, from, nil
		}
		seg, last := s.segs[i], i == len(s.segs)-1
		s.mu.Unlock()
		if seg.seq != from.Seq {
			from = Cursor{Seq: seg.seq}
		}
		remaining := seg.size - from.Offset
		if remaining <= 0 {
			if last {
				return msgs, from, nil
			}
			from = Cursor{Seq: seg.seq + 1}
			continue
		}
		n := min(remaining, int64(maxBytes))
		for {
			chunk, err := s.readChunk(seg.seq, from.Offset, n)
			if err != nil {
				return msgs, from, err
			}
			read, consumed, need, bad := decodeFrames(chunk, max-len(msgs), &msgs)
			from.Offset += int64(consumed)
			left := seg.size - from.Offset
			switch {
			case bad == nil && read > 0:
				return msgs, from, nil
			case bad == nil && need > 0 && int64(need) <= left && int64(len(chunk)) == n:
				// The next frame is larger than the chunk: read it whole.
				n = int64(need)
				continue
			case bad == nil && left == 0:
				// The chunk ended the segment exactly.
			default:
				if bad == nil {
					bad = fmt.Errorf("segment ends inside a frame (%d bytes left)", left)
				}
				s.markCorrupt(seg.seq, from.Offset, bad)
			}
			break
		}
		if len(msgs) > 0 || last {
			return msgs, from, nil
		}
		from = Cursor{Seq: seg.seq + 1}
	}
}

func (s *Spool) readChunk(seq uint64, off, n int64) ([]byte, error) {
	if s.reader == nil || s.readerSeq != seq {
		if s.reader != nil {
			_ = s.reader.Close()
		}
		f, err := os.Open(s.segPath(seq))
		if err != nil {
			return nil, fmt.Errorf("open spool segment: %w", err)
		}
		s.reader, s.readerSeq = f, seq
	}
	if int64(cap(s.readerBuf)) < n {
		s.readerBuf = make([]byte, n)
	}
	buf := s.readerBuf[:n]
	m, err := s.reader.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read spool segment: %w", err)
	}
	return buf[:m], nil
}

// decodeFrames decodes whole frames from b into msgs, at most max. It
// returns how many it decoded and the bytes they used; when b ends inside a
// frame, need is the size of that whole frame (or of a header); bad is why
// the next frame is invalid.
func decodeFrames(b []byte, max int, msgs *[]record.Message) (read, consumed, need int, bad error) {
	for read < max {
		h := b[consumed:]
		if len(h) < spoolFrameHeader {
			if len(h) > 0 {
				need = spoolFrameHeader
			}
			return read, consumed, need, nil
		}
		n := binary.LittleEndian.Uint32(h)
		if n > spoolMaxFrame {
			return read, consumed, 0, fmt.Errorf("frame length %d exceeds %d", n, spoolMaxFrame)
		}
		if len(h) < spoolFrameHeader+int(n) {
			return read, consumed, spoolFrameHeader + int(n), nil
		}
		payload := h[spoolFrameHeader : spoolFrameHeader+int(n)]
		if crc32.Checksum(payload, crc32c) != binary.LittleEndian.Uint32(h[4:]) {
			return read, consumed, 0, errors.New("checksum mismatch")
		}
		m, err := decodePayload(payload)
		if err != nil {
			return read, consumed, 0, err
		}
		*msgs = append(*msgs, m)
		read++
		consumed += spoolFrameHeader + int(n)
	}
	return read, consumed, 0, nil
}

func decodePayload(p []byte) (record.Message, error) {
	if len(p) < 1 {
		return record.Message{}, errors.New("empty payload")
	}
	enc := record.Encoding(p[0] &^ idFlag)
	if enc != record.JSON && enc != record.Proto {
		return record.Message{}, fmt.Errorf("unknown encoding %d", p[0])
	}
	hasID := p[0]&idFlag != 0
	p = p[1:]
	ms, n := binary.Varint(p)
	if n <= 0 {
		return record.Message{}, errors.New("bad timestamp")
	}
	p = p[n:]
	m := record.Message{Encoding: enc, Time: time.UnixMilli(ms)}
	if hasID {
		var err error
		if m.ID, m.Prev, p, err = decodeID(p); err != nil {
			return record.Message{}, err
		}
	}
	kl, n := binary.Uvarint(p)
	if n <= 0 || kl > uint64(len(p)-n) {
		return record.Message{}, errors.New("bad key length")
	}
	p = p[n:]
	own := make([]byte, len(p))
	copy(own, p)
	m.Key, m.Value = own[:kl:kl], own[kl:]
	return m, nil
}

// decodeID decodes a frame's record ID and returns the rest of p.
func decodeID(p []byte) (record.ID, uint64, []byte, error) {
	il, n := binary.Uvarint(p)
	if n <= 0 || il == 0 || il > record.MaxIngesterLen || il > uint64(len(p)-n) {
		return record.ID{}, 0, nil, errors.New("bad ingester id length")
	}
	id := record.ID{Ingester: string(p[n : n+int(il)])}
	p = p[n+int(il):]
	if id.Seq, n = binary.Uvarint(p); n <= 0 || id.Seq == 0 {
		return record.ID{}, 0, nil, errors.New("bad sequence")
	}
	p = p[n:]
	prev, n := binary.Uvarint(p)
	if n <= 0 || prev >= id.Seq {
		return record.ID{}, 0, nil, errors.New("bad previous sequence")
	}
	return id, prev, p[n:], nil
}

func (s *Spool) markCorrupt(seq uint64, off int64, why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.corruptSeq[seq] {
		return
	}
	s.corruptSeq[seq] = true
	for i := range s.segs {
		if s.segs[i].seq == seq {
			lost := s.segs[i].size - off
			s.bytes -= lost
			s.segs[i].size = off
			if i == len(s.segs)-1 {
				// Never append after garbage: later frames would be unreachable.
				if err := s.startSegment(seq + 1); err != nil {
					s.log.Error("starting a new spool segment after corruption", "err", err)
				}
			}
			s.log.Error("spool segment has a corrupt tail; its valid prefix is replayed, the rest is lost",
				"segment", s.segPath(seq), "offset", off, "lost_bytes", lost, "reason", why.Error())
			break
		}
	}
	if s.cfg.OnCorrupt != nil {
		s.cfg.OnCorrupt()
	}
}

// Commit records that everything before c is delivered: it persists the
// cursor and deletes segments wholly before it.
func (s *Spool) Commit(c Cursor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var delivered int64
	for len(s.segs) > 1 && s.segs[0].seq < c.Seq {
		delivered += s.segs[0].size - s.offsetIn(s.segs[0].seq)
		if err := os.Remove(s.segPath(s.segs[0].seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("removing delivered spool segment", "err", err)
		}
		if s.reader != nil && s.readerSeq == s.segs[0].seq {
			_ = s.reader.Close()
			s.reader = nil
		}
		s.segs = s.segs[1:]
		s.cursor = Cursor{Seq: s.segs[0].seq}
	}
	if s.cursor.Seq == c.Seq {
		delivered += c.Offset - s.cursor.Offset
	}
	s.cursor = c
	s.bytes -= delivered
	if s.bytes < 0 {
		s.bytes = 0
	}
	return s.writeCursor()
}

func (s *Spool) offsetIn(seq uint64) int64 {
	if s.cursor.Seq == seq {
		return s.cursor.Offset
	}
	return 0
}

func (s *Spool) writeCursor() error {
	path := filepath.Join(s.cfg.Dir, spoolCursorFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d\n", s.cursor.Seq, s.cursor.Offset)), 0o644); err != nil {
		return fmt.Errorf("write spool cursor: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write spool cursor: %w", err)
	}
	return nil
}

// Close syncs and closes the spool. Further appends fail.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.reader != nil {
		_ = s.reader.Close()
	}
	err := s.active.Sync()
	if cerr := s.active.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("close spool: %w", err)
	}
	return nil
}
