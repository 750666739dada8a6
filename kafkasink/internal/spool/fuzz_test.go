package spool

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshtel/meshtel/record"
)

// walkSpoolFrames decodes a segment by the format Spool documents,
// independently of its reader: the messages of the valid prefix, and
// whether the whole segment is valid.
func walkSpoolFrames(b []byte) (msgs []record.Message, valid bool) {
	table := crc32.MakeTable(crc32.Castagnoli)
	for len(b) > 0 {
		if len(b) < 8 {
			return msgs, false
		}
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-8) {
			return msgs, false
		}
		payload := b[8 : 8+n]
		if crc32.Checksum(payload, table) != binary.LittleEndian.Uint32(b[4:]) {
			return msgs, false
		}
		if len(payload) == 0 {
			return msgs, false
		}
		enc, hasID := record.Encoding(payload[0]&0x7f), payload[0]&0x80 != 0
		if enc != record.JSON && enc != record.Proto {
			return msgs, false
		}
		ms, k := binary.Varint(payload[1:])
		if k <= 0 {
			return msgs, false
		}
		rest := payload[1+k:]
		m := record.Message{Encoding: enc, Time: time.UnixMilli(ms)}
		if hasID {
			var ok bool
			if m.ID, m.Prev, rest, ok = walkID(rest); !ok {
				return msgs, false
			}
		}
		kl, k2 := binary.Uvarint(rest)
		if k2 <= 0 || kl > uint64(len(rest)-k2) {
			return msgs, false
		}
		rest = rest[k2:]
		m.Key, m.Value = rest[:kl], rest[kl:]
		msgs = append(msgs, m)
		b = b[8+n:]
	}
	return msgs, true
}

// walkID decodes a frame's ID as Spool documents it: an ingester id of 1 to
// record.MaxIngesterLen bytes, a sequence of 1 or more and a previous
// sequence below it.
func walkID(b []byte) (record.ID, uint64, []byte, bool) {
	il, k := binary.Uvarint(b)
	if k <= 0 || il < 1 || il > record.MaxIngesterLen || il > uint64(len(b)-k) {
		return record.ID{}, 0, nil, false
	}
	id := record.ID{Ingester: string(b[k : k+int(il)])}
	b = b[k+int(il):]
	seq, k := binary.Uvarint(b)
	if k <= 0 || seq < 1 {
		return record.ID{}, 0, nil, false
	}
	b = b[k:]
	prev, k := binary.Uvarint(b)
	if k <= 0 || prev >= seq {
		return record.ID{}, 0, nil, false
	}
	id.Seq = seq
	return id, prev, b[k:], true
}

// fixSpoolChecksums rewrites the checksum of every whole frame, so the
// fuzzer reaches the payload checks behind them.
func fixSpoolChecksums(b []byte) {
	table := crc32.MakeTable(crc32.Castagnoli)
	for len(b) >= 8 {
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-8) {
			return
		}
		binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:8+n], table))
		b = b[8+n:]
	}
}

func FuzzSpoolRead(f *testing.F) {
	var valid []byte
	for _, m := range spoolMsgs("fuzz", 4) {
		valid = appendFrame(valid, &m)
	}
	f.Add(valid, false, uint16(1<<15), uint8(100))
	f.Add(valid, false, uint16(5), uint8(1))
	f.Add(valid[:len(valid)-1], false, uint16(40), uint8(3))
	f.Add(append(bytes.Clone(valid), make([]byte, 20)...), false, uint16(1000), uint8(2))
	f.Add([]byte{}, false, uint16(10), uint8(10))
	f.Add([]byte("garbage that is no frame at all"), true, uint16(8), uint8(5))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1}, true, uint16(100), uint8(1))
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 0, 2, 0x80, 0x00}, true, uint16(9), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool, maxBytes uint16, maxMsgs uint8) {
		if fixCRC {
			fixSpoolChecksums(data)
		}
		want, valid := walkSpoolFrames(data)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000001.seg"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		corrupt := 0
		cfg := Config{Dir: dir, OnCorrupt: func() { corrupt++ }, Logger: slog.New(slog.NewTextHandler(&log, nil))}
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got := drainWithin(t, s, max(int(maxMsgs), 1), max(int(maxBytes), 1), len(data)+10)
		sameMessages(t, got, want)
		switch {
		case valid && corrupt != 0:
			t.Fatalf("valid segment reported corrupt %d times: %s", corrupt, log.String())
		case !valid && corrupt != 1:
			t.Fatalf("invalid segment reported corrupt %d times, want once: %s", corrupt, log.String())
		case !valid && !strings.Contains(log.String(), "corrupt"):
			t.Fatalf("log does not say corrupt: %s", log.String())
		}
		if s.Bytes() != 0 {
			t.Fatalf("Bytes() = %d after replaying everything", s.Bytes())
		}
		// Everything is committed: a restart replays and reports nothing.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		before := corrupt
		if again := drainWithin(t, s, 100, 1<<20, len(data)+10); len(again) != 0 || corrupt != before {
			t.Fatalf("after a restart: %d messages replayed again, %d more corruption reports", len(again), corrupt-before)
		}
	})
}
