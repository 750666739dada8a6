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
		if len(payload) == 0 || payload[0] != byte(record.JSON) && payload[0] != byte(record.Proto) {
			return msgs, false
		}
		ms, k := binary.Varint(payload[1:])
		if k <= 0 {
			return msgs, false
		}
		rest := payload[1+k:]
		kl, k2 := binary.Uvarint(rest)
		if k2 <= 0 || kl > uint64(len(rest)-k2) {
			return msgs, false
		}
		rest = rest[k2:]
		msgs = append(msgs, record.Message{Encoding: record.Encoding(payload[0]), Time: time.UnixMilli(ms), Key: rest[:kl], Value: rest[kl:]})
		b = b[8+n:]
	}
	return msgs, true
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
