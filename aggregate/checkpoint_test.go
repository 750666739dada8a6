package aggregate

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"reflect"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func sampleCheckpoint() *checkpoint {
	return &checkpoint{
		checkpointHeader: checkpointHeader{Topic: "mesh.accesslog.v1", Partition: 7, NextOffset: 123456,
			SavedAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Member: "m-1", Generation: 4},
		SLI:     []byte("meshtel-sli-state v1\n..."),
		Cookies: []byte("MTCOOKIE\x00\x01..."),
		Edges:   []byte("meshtel-edges-state v1\n..."),
		Seen:    []byte{1, 2, 'a', 'a', 0},
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	for _, c := range []*checkpoint{sampleCheckpoint(), {checkpointHeader: checkpointHeader{Topic: "t"}}} {
		b, err := c.marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := unmarshalCheckpoint(b)
		if err != nil {
			t.Fatal(err)
		}
		// Empty parts decode as empty, not nil.
		if len(c.SLI) == 0 {
			c.SLI, c.Cookies, c.Edges, c.Seen = got.SLI, got.Cookies, got.Edges, got.Seen
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
		}
	}
}

// oldCheckpoint frames parts the way an older aggregator did.
func oldCheckpoint(t *testing.T, magic string, c *checkpoint, parts ...[]byte) []byte {
	t.Helper()
	hdr, err := json.Marshal(c.checkpointHeader)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(magic)
	for _, part := range append([][]byte{hdr}, parts...) {
		b = binary.AppendUvarint(b, uint64(len(part)))
		b = append(b, part...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// TestCheckpointOlderVersions: checkpoints of every earlier framing still
// decode, with what they lack left nil.
func TestCheckpointOlderVersions(t *testing.T) {
	c := sampleCheckpoint()
	for _, tc := range []struct {
		name        string
		data        []byte
		edges, seen []byte
	}{
		// Before edges were counted and before records had ids.
		{"v1 three parts", oldCheckpoint(t, checkpointMagicV1, c, c.SLI, c.Cookies), nil, nil},
		// Edges, but no ids yet.
		{"v1 with edges", oldCheckpoint(t, checkpointMagicV1, c, c.SLI, c.Cookies, c.Edges), c.Edges, nil},
		// Ids, but no edges yet.
		{"v2 with seen ids", oldCheckpoint(t, checkpointMagicV2, c, c.SLI, c.Cookies, c.Seen), nil, c.Seen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := unmarshalCheckpoint(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.SLI, c.SLI) || !bytes.Equal(got.Cookies, c.Cookies) || got.NextOffset != c.NextOffset ||
				got.Generation != c.Generation || !reflect.DeepEqual(got.Edges, tc.edges) || !reflect.DeepEqual(got.Seen, tc.seen) {
				t.Errorf("decoded as %+v", got)
			}
		})
	}
	// A version-2 checkpoint needs its seen-id part: without it, it is damaged.
	if _, err := unmarshalCheckpoint(oldCheckpoint(t, checkpointMagicV2, c, c.SLI, c.Cookies)); !errors.Is(err, ErrCorruptCheckpoint) {
		t.Errorf("v2 without seen ids: got %v, want ErrCorruptCheckpoint", err)
	}
}

// reframe recomputes the trailing checksum, so corruptions reach the
// checks behind it.
func reframe(b []byte) []byte {
	body := b[:len(b)-4]
	return binary.BigEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
}

func TestCheckpointCorrupt(t *testing.T) {
	good, err := sampleCheckpoint().marshal()
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x40; return b }
	negative := sampleCheckpoint()
	negative.NextOffset = -1
	neg, _ := negative.marshal()
	for name, b := range map[string][]byte{
		"empty":          nil,
		"other magic":    append([]byte("MTAGG9\n"), good[7:]...),
		"truncated":      good[:len(good)-1],
		"flipped body":   flip(20),
		"flipped crc":    flip(len(good) - 1),
		"bad length":     reframe(append(append([]byte(checkpointMagic), 0xff, 0xff, 0xff, 0xff, 0x0f), good[7:]...)),
		"trailing bytes": reframe(append(append(bytes.Clone(good[:len(good)-4]), 'x'), 0, 0, 0, 0)),
		"bad header":     reframe(append(append([]byte(checkpointMagic), 1, '{', 0, 0, 0), 0, 0, 0, 0)),
		"negative":       neg,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := unmarshalCheckpoint(b); !errors.Is(err, ErrCorruptCheckpoint) {
				t.Errorf("got %v, want ErrCorruptCheckpoint", err)
			}
		})
	}
}

func TestKeyPartition(t *testing.T) {
	parts := []int{0, 1, 2, 3}
	for key, want := range map[string]int{"0": 0, "3": 3, "6": 2, "x": 0, "-1": 0} {
		if got := (keyPartition{}).Balance(kafka.Message{Key: []byte(key)}, parts...); got != want {
			t.Errorf("key %q: partition %d, want %d", key, got, want)
		}
	}
}

func FuzzUnmarshalCheckpoint(f *testing.F) {
	good, _ := sampleCheckpoint().marshal()
	f.Add(good)
	f.Add([]byte(checkpointMagic))
	f.Add(reframe(append([]byte(checkpointMagic), 2, '{', '}', 0, 0, 0, 0, 0, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range [][]byte{data, append(bytes.Clone(data), 0, 0, 0, 0)} {
			b = append([]byte(checkpointMagic), b...)
			if len(b) >= len(checkpointMagic)+4 {
				b = reframe(b)
			}
			c, err := unmarshalCheckpoint(b)
			if err != nil {
				if !errors.Is(err, ErrCorruptCheckpoint) {
					t.Fatalf("error %v does not wrap ErrCorruptCheckpoint", err)
				}
				continue
			}
			// What decodes encodes back to a checkpoint that decodes the same.
			again, err := c.marshal()
			if err != nil {
				t.Fatal(err)
			}
			c2, err := unmarshalCheckpoint(again)
			if err != nil || !reflect.DeepEqual(c2.checkpointHeader, c.checkpointHeader) ||
				!bytes.Equal(c2.SLI, c.SLI) || !bytes.Equal(c2.Cookies, c.Cookies) || !bytes.Equal(c2.Edges, c.Edges) ||
				!bytes.Equal(c2.Seen, c.Seen) {
				t.Fatalf("re-encoding differs: %+v %v", c2, err)
			}
		}
	})
}
