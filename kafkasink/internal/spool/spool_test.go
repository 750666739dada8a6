package spool

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshtel/meshtel/record"
)

// spoolMsgs makes n distinct messages; every third is proto-encoded, and
// all but every fourth have an ID (frames of older versions had none).
func spoolMsgs(prefix string, n int) []record.Message {
	msgs := make([]record.Message, n)
	for i := range msgs {
		enc := record.JSON
		if i%3 == 2 {
			enc = record.Proto
		}
		msgs[i] = record.Message{
			Key:      []byte(fmt.Sprintf("svc-%d", i%4)),
			Value:    []byte(fmt.Sprintf(`{"%s":%d,"pad":"%s"}`, prefix, i, strings.Repeat("x", i%7))),
			Encoding: enc,
			Time:     time.UnixMilli(1_795_000_000_000 + int64(i)),
		}
		if i%4 != 3 {
			msgs[i].ID = record.ID{Ingester: "ing-" + prefix, Seq: uint64(1000*i + 7)}
			msgs[i].Prev = uint64(i)
		}
	}
	return msgs
}

// spoolHarness is a spool with its corruption count and log at hand.
type spoolHarness struct {
	cfg     Config
	corrupt int
	log     bytes.Buffer
}

func newSpoolHarness(dir string) *spoolHarness {
	h := &spoolHarness{}
	h.cfg = Config{Dir: dir, OnCorrupt: func() { h.corrupt++ }, Logger: slog.New(slog.NewTextHandler(&h.log, nil))}
	return h
}

func (h *spoolHarness) open(t *testing.T) *Spool {
	t.Helper()
	s, err := Open(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// drain reads and commits everything in s, up to max messages and about
// maxBytes per Read, as the sink's replayer does.
func drain(t *testing.T, s *Spool, max, maxBytes int) []record.Message {
	t.Helper()
	return drainWithin(t, s, max, maxBytes, 10000)
}

// drainWithin is drain failing once it takes more than reads reads: more
// than the spool's contents could possibly need means Read loops.
func drainWithin(t *testing.T, s *Spool, max, maxBytes, reads int) []record.Message {
	t.Helper()
	var all []record.Message
	cur := s.Cursor()
	for i := 0; ; i++ {
		if i > reads {
			t.Fatalf("%d reads and the spool still is not empty (cursor %v)", i, cur)
		}
		msgs, next, err := s.Read(cur, max, maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) > max {
			t.Fatalf("Read returned %d messages, asked for at most %d", len(msgs), max)
		}
		if err := s.Commit(next); err != nil {
			t.Fatal(err)
		}
		all = append(all, msgs...)
		if len(msgs) == 0 && next == cur {
			return all
		}
		cur = next
	}
}

func sameMessages(t *testing.T, got, want []record.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d:\n got %s\nwant %s", len(got), len(want), values(got), values(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || g.Encoding != w.Encoding || !g.Time.Equal(w.Time) || g.ID != w.ID || g.Prev != w.Prev {
			t.Errorf("message %d: got %s %q %v %v %v/%d, want %s %q %v %v %v/%d", i, g.Key, g.Value, g.Encoding, g.Time, g.ID, g.Prev, w.Key, w.Value, w.Encoding, w.Time, w.ID, w.Prev)
		}
	}
}

func values(msgs []record.Message) string {
	var vs []string
	for _, m := range msgs {
		vs = append(vs, string(m.Value))
	}
	return strings.Join(vs, " ")
}

func frameSize(m record.Message) int64 { return int64(len(appendFrame(nil, &m))) }

func framesSize(msgs []record.Message) (n int64) {
	for _, m := range msgs {
		n += frameSize(m)
	}
	return n
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestSpoolRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name          string
		max, maxBytes int
	}{
		{"one read", 1000, 1 << 20},
		{"one message per read", 1, 1 << 20},
		{"reads smaller than a frame", 1000, 3},
		{"reads of a few frames", 4, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newSpoolHarness(t.TempDir())
			s := h.open(t)
			want := spoolMsgs("a", 20)
			// Keys and values that are empty or large.
			want = append(want, record.Message{Encoding: record.JSON, Time: time.UnixMilli(0)},
				record.Message{Key: []byte("k"), Value: bytes.Repeat([]byte{0, 0xff}, 5000), Encoding: record.Proto, Time: time.UnixMilli(-5)})
			if err := s.Append(want[:10]); err != nil {
				t.Fatal(err)
			}
			if err := s.Append(want[10:]); err != nil {
				t.Fatal(err)
			}
			if err := s.Append(nil); err != nil {
				t.Fatal(err)
			}
			if got := s.Bytes(); got != framesSize(want) {
				t.Errorf("Bytes() = %d, want %d", got, framesSize(want))
			}
			select {
			case <-s.Appended():
			default:
				t.Error("Append did not signal Appended")
			}
			sameMessages(t, drain(t, s, tt.max, tt.maxBytes), want)
			if got := s.Bytes(); got != 0 {
				t.Errorf("Bytes() = %d after everything is committed", got)
			}
			if h.corrupt != 0 || strings.Contains(h.log.String(), "corrupt") {
				t.Errorf("healthy spool reported corruption: %s", h.log.String())
			}
		})
	}
}

// TestSpoolReadIsRepeatable checks that reading without committing (a
// failed Kafka delivery) returns the same messages again.
func TestSpoolReadIsRepeatable(t *testing.T) {
	s := newSpoolHarness(t.TempDir()).open(t)
	want := spoolMsgs("r", 5)
	if err := s.Append(want); err != nil {
		t.Fatal(err)
	}
	first, next, err := s.Read(s.Cursor(), 3, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	again, next2, err := s.Read(s.Cursor(), 3, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	sameMessages(t, again, first)
	sameMessages(t, first, want[:3])
	if next != next2 {
		t.Errorf("cursors %v and %v after the same read", next, next2)
	}
	if got := s.Bytes(); got != framesSize(want) {
		t.Errorf("Bytes() = %d before any commit, want %d", got, framesSize(want))
	}
	if err := s.Commit(next); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Bytes(), framesSize(want[3:]); got != want {
		t.Errorf("Bytes() = %d after committing 3, want %d", got, want)
	}
}

func TestSpoolRestart(t *testing.T) {
	want := spoolMsgs("r", 12)
	for _, segBytes := range []int64{0, frameSize(want[0]) * 2} {
		t.Run(fmt.Sprintf("segments of %d bytes", segBytes), func(t *testing.T) {
			testSpoolRestart(t, want, segBytes)
		})
	}
}

func testSpoolRestart(t *testing.T, want []record.Message, segBytes int64) {
	dir := t.TempDir()
	h := newSpoolHarness(dir)
	h.cfg.SegmentBytes = segBytes
	s := h.open(t)
	if err := s.Append(want[:8]); err != nil {
		t.Fatal(err)
	}
	msgs, next, err := s.Read(s.Cursor(), 3, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	sameMessages(t, msgs, want[:3])
	if err := s.Commit(next); err != nil {
		t.Fatal(err)
	}
	// Read but not committed: these must come back after the restart.
	if _, _, err := s.Read(next, 2, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Append(want[8:]); err == nil {
		t.Error("Append after Close succeeded")
	}

	s = h.open(t)
	if got, wantBytes := s.Bytes(), framesSize(want[3:8]); got != wantBytes {
		t.Errorf("Bytes() = %d after restart, want %d", got, wantBytes)
	}
	if err := s.Append(want[8:]); err != nil {
		t.Fatal(err)
	}
	// A second restart before anything is read.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = h.open(t)
	sameMessages(t, drain(t, s, 2, 1<<20), want[3:])
	if got := s.Bytes(); got != 0 {
		t.Errorf("Bytes() = %d after replay", got)
	}
	// Once replayed, a restart replays nothing.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = h.open(t)
	if got := drain(t, s, 100, 1<<20); len(got) != 0 {
		t.Errorf("replayed again after a restart: %s", values(got))
	}
	if n := len(segFiles(t, dir)); n != 1 {
		t.Errorf("%d segment files left, want only the active one", n)
	}
	if h.corrupt != 0 {
		t.Errorf("restarts reported corruption: %s", h.log.String())
	}
}

func TestSpoolSegments(t *testing.T) {
	dir := t.TempDir()
	h := newSpoolHarness(dir)
	want := spoolMsgs("seg", 30)
	// Three frames per segment, roughly.
	h.cfg.SegmentBytes = 3 * frameSize(want[0])
	s := h.open(t)
	for i := range want {
		if err := s.Append(want[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	// A batch larger than a segment goes whole into a new one.
	big := spoolMsgs("big", 10)
	if err := s.Append(big); err != nil {
		t.Fatal(err)
	}
	want = append(want, big...)
	files := segFiles(t, dir)
	if len(files) < 8 {
		t.Fatalf("%d segment files for %d bytes in segments of %d", len(files), s.Bytes(), h.cfg.SegmentBytes)
	}
	var got []record.Message
	cur := s.Cursor()
	for i := 0; ; i++ {
		msgs, next, err := s.Read(cur, 4, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(next); err != nil {
			t.Fatal(err)
		}
		got = append(got, msgs...)
		if len(msgs) == 0 {
			break
		}
		cur = next
		// Segments wholly before the cursor are deleted by Commit.
		for _, f := range files {
			seq := strings.TrimSuffix(filepath.Base(f), ".seg")
			_, err := os.Stat(f)
			if fmt.Sprintf("%020d", cur.Seq) > seq && !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("delivered segment %s still exists with the cursor at %v", seq, cur)
			}
		}
	}
	sameMessages(t, got, want)
	if n := len(segFiles(t, dir)); n > 2 {
		t.Errorf("%d segment files left after delivering everything", n)
	}
	if s.Bytes() != 0 {
		t.Errorf("Bytes() = %d", s.Bytes())
	}
}

func TestSpoolFull(t *testing.T) {
	dir := t.TempDir()
	h := newSpoolHarness(dir)
	msgs := spoolMsgs("full", 10)
	h.cfg.MaxBytes = framesSize(msgs[:5])
	s := h.open(t)
	if err := s.Append(msgs[:4]); err != nil {
		t.Fatal(err)
	}
	before := s.Bytes()
	sizeOnDisk := func() (n int64) {
		for _, f := range segFiles(t, dir) {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
		return n
	}
	disk := sizeOnDisk()
	if err := s.Append(msgs[4:6]); !errors.Is(err, ErrFull) {
		t.Fatalf("Append past MaxBytes: %v, want ErrFull", err)
	}
	if s.Bytes() != before || sizeOnDisk() != disk {
		t.Errorf("a refused Append wrote: %d → %d bytes, %d → %d on disk", before, s.Bytes(), disk, sizeOnDisk())
	}
	// Exactly up to the cap fits.
	if err := s.Append(msgs[4:5]); err != nil {
		t.Fatalf("Append up to MaxBytes: %v", err)
	}
	if err := s.Append(msgs[5:6]); !errors.Is(err, ErrFull) {
		t.Fatalf("Append past a full spool: %v", err)
	}
	// Delivering makes room again.
	got, next, err := s.Read(s.Cursor(), 2, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(next); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(msgs[5:6]); err != nil {
		t.Fatalf("Append after delivery: %v", err)
	}
	got = append(got, drain(t, s, 100, 1<<20)...)
	sameMessages(t, got, msgs[:6])
}

// corruptSpool fills a spool in dir with two segments of five messages each
// (the second one's messages start with "second"), closes it and lets
// damage change the first segment's bytes.
func corruptSpool(t *testing.T, dir string, damage func(seg []byte, frames []int64) []byte) (first, second []record.Message) {
	t.Helper()
	h := newSpoolHarness(dir)
	first, second = spoolMsgs("first", 5), spoolMsgs("second", 5)
	h.cfg.SegmentBytes = framesSize(first)
	s := h.open(t)
	if err := s.Append(first); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := segFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("%d segments, want 2", len(files))
	}
	var frames []int64 // frame start offsets, then the end
	var off int64
	for _, m := range first {
		frames = append(frames, off)
		off += frameSize(m)
	}
	frames = append(frames, off)
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != off {
		t.Fatalf("first segment has %d bytes, want %d", len(b), off)
	}
	if err := os.WriteFile(files[0], damage(b, frames), 0o644); err != nil {
		t.Fatal(err)
	}
	return first, second
}

func TestSpoolCorruption(t *testing.T) {
	tests := []struct {
		name   string
		damage func(seg []byte, frames []int64) []byte
		intact int // messages of the first segment still replayed
	}{
		{"truncated last frame", func(b []byte, f []int64) []byte { return b[:len(b)-3] }, 4},
		{"truncated inside a header", func(b []byte, f []int64) []byte { return b[:f[4]+5] }, 4},
		{"flipped payload byte in the middle", func(b []byte, f []int64) []byte { b[f[2]+12] ^= 0x40; return b }, 2},
		{"flipped checksum byte", func(b []byte, f []int64) []byte { b[f[1]+5] ^= 1; return b }, 1},
		{"length past the segment", func(b []byte, f []int64) []byte { b[f[3]+2] = 0x7f; return b }, 3},
		{"zero-filled tail", func(b []byte, f []int64) []byte { return append(b[:f[3]], make([]byte, 64)...) }, 3},
		{"garbage tail", func(b []byte, f []int64) []byte { return append(b, "garbage after the last frame"...) }, 5},
		{"first frame broken", func(b []byte, f []int64) []byte { b[0] ^= 0xff; return b }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first, second := corruptSpool(t, dir, tt.damage)
			h := newSpoolHarness(dir)
			s := h.open(t)
			got := drain(t, s, 3, 1<<20)
			sameMessages(t, got, append(slices.Clone(first[:tt.intact]), second...))
			if h.corrupt != 1 {
				t.Errorf("OnCorrupt called %d times, want once", h.corrupt)
			}
			if !strings.Contains(h.log.String(), "corrupt") {
				t.Errorf("log does not say corrupt: %q", h.log.String())
			}
			if s.Bytes() != 0 {
				t.Errorf("Bytes() = %d after replay", s.Bytes())
			}
			// New appends after the corruption are replayed too.
			more := spoolMsgs("after", 3)
			if err := s.Append(more); err != nil {
				t.Fatal(err)
			}
			sameMessages(t, drain(t, s, 10, 1<<20), more)
			if h.corrupt != 1 {
				t.Errorf("OnCorrupt called %d times after more reads", h.corrupt)
			}
		})
	}
}

// TestSpoolCorruptActiveSegment damages the segment being appended to, as
// a disk error would: the damaged frames are reported, and later appends,
// which go to a new segment, are replayed.
func TestSpoolCorruptActiveSegment(t *testing.T) {
	dir := t.TempDir()
	h := newSpoolHarness(dir)
	s := h.open(t)
	msgs := spoolMsgs("active", 6)
	if err := s.Append(msgs); err != nil {
		t.Fatal(err)
	}
	files := segFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("%d segments", len(files))
	}
	f, err := os.OpenFile(files[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xde, 0xad}, framesSize(msgs[:4])+10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got := drain(t, s, 100, 1<<20)
	sameMessages(t, got, msgs[:4])
	if h.corrupt != 1 || !strings.Contains(h.log.String(), "corrupt") {
		t.Errorf("corruption not reported: %d, %q", h.corrupt, h.log.String())
	}
	more := spoolMsgs("later", 2)
	if err := s.Append(more); err != nil {
		t.Fatal(err)
	}
	sameMessages(t, drain(t, s, 100, 1<<20), more)
	if s.Bytes() != 0 {
		t.Errorf("Bytes() = %d", s.Bytes())
	}
}

func TestSpoolCorruptCursor(t *testing.T) {
	dir := t.TempDir()
	h := newSpoolHarness(dir)
	s := h.open(t)
	msgs := spoolMsgs("c", 4)
	if err := s.Append(msgs); err != nil {
		t.Fatal(err)
	}
	_, next, err := s.Read(s.Cursor(), 2, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(next); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, "cursor"), []byte("not a cursor"), 0o644); err != nil {
		t.Fatal(err)
	}
	s = h.open(t)
	// At-least-once: the whole spool comes again.
	sameMessages(t, drain(t, s, 100, 1<<20), msgs)
	if h.corrupt != 1 || !strings.Contains(h.log.String(), "corrupt") {
		t.Errorf("corrupt cursor not reported: %d, %q", h.corrupt, h.log.String())
	}
}

// TestSpoolReadNothing asks for no messages or no bytes: that must neither
// lose the spool's content nor call it corrupt.
func TestSpoolReadNothing(t *testing.T) {
	h := newSpoolHarness(t.TempDir())
	s := h.open(t)
	want := spoolMsgs("n", 3)
	if err := s.Append(want); err != nil {
		t.Fatal(err)
	}
	cur := s.Cursor()
	msgs, next, err := s.Read(cur, 0, 1<<20)
	if err != nil || len(msgs) != 0 || next != cur {
		t.Errorf("Read of 0 messages: %d messages, cursor %v → %v, %v", len(msgs), cur, next, err)
	}
	msgs, _, err = s.Read(cur, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) > 1 {
		t.Errorf("Read of 0 bytes returned %d messages", len(msgs))
	}
	sameMessages(t, drain(t, s, 10, 1<<20), want)
	if h.corrupt != 0 {
		t.Errorf("reading nothing reported corruption: %s", h.log.String())
	}
}

// TestSpoolConcurrentAppend appends while the replayer reads and commits,
// as the sink does while Kafka recovers, across segment rotations.
func TestSpoolConcurrentAppend(t *testing.T) {
	h := newSpoolHarness(t.TempDir())
	h.cfg.SegmentBytes = 1 << 10
	s := h.open(t)
	const batches, per = 100, 5
	var want []record.Message
	for i := 0; i < batches; i++ {
		want = append(want, spoolMsgs(fmt.Sprintf("b%d", i), per)...)
	}
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < batches; i++ {
			if err := s.Append(want[i*per : (i+1)*per]); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var got []record.Message
	cur := s.Cursor()
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		msgs, next, err := s.Read(cur, 7, 300)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(next); err != nil {
			t.Fatal(err)
		}
		got, cur = append(got, msgs...), next
		if len(msgs) == 0 {
			select {
			case <-s.Appended():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	sameMessages(t, got, want)
	if s.Bytes() != 0 || h.corrupt != 0 {
		t.Errorf("Bytes() = %d, %d corruption reports", s.Bytes(), h.corrupt)
	}
}
