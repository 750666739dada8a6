package aggregate

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"testing"
)

// A checkpoint written before records had ids (version 1: three parts)
// still loads, with no seen ids.
func TestCheckpointVersion1(t *testing.T) {
	c := sampleCheckpoint()
	hdr, err := json.Marshal(c.checkpointHeader)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(checkpointMagicV1)
	for _, part := range [][]byte{hdr, c.SLI, c.Cookies} {
		b = binary.AppendUvarint(b, uint64(len(part)))
		b = append(b, part...)
	}
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	got, err := unmarshalCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.NextOffset != c.NextOffset || string(got.SLI) != string(c.SLI) || string(got.Cookies) != string(c.Cookies) || len(got.Seen) != 0 {
		t.Errorf("version 1 checkpoint decoded as %+v", got)
	}
}
