package stateframe

import (
	"errors"
	"strings"
	"testing"
)

var errDamaged = errors.New("damaged")

type doc struct {
	A string `json:"a"`
	N int    `json:"n"`
}

func TestRoundTripAndDamage(t *testing.T) {
	f := Format{Name: "test", Version: 2, Corrupt: errDamaged}
	good, err := f.Marshal(doc{A: "x", N: 7})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(good), "meshtel-test-state v2\ncrc32c=") {
		t.Fatalf("header: %q", good)
	}
	var back doc
	if err := f.Unmarshal(good, &back); err != nil || back != (doc{A: "x", N: 7}) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	flip := []byte(string(good))
	flip[len(flip)-3] ^= 1
	for name, data := range map[string][]byte{
		"empty":         nil,
		"other state":   []byte(strings.Replace(string(good), "test", "best", 1)),
		"bad version":   []byte(strings.Replace(string(good), "v2", "vX", 1)),
		"no checksum":   []byte("meshtel-test-state v2\n"),
		"bad checksum":  []byte(strings.Replace(string(good), "crc32c=", "crc32c=zz", 1)),
		"truncated":     good[:len(good)-2],
		"flipped bit":   flip,
		"not json body": []byte("meshtel-test-state v2\ncrc32c=e9a07d3b bytes=3\nabc"),
	} {
		if err := f.Unmarshal(data, &back); !errors.Is(err, errDamaged) {
			t.Errorf("%s: %v, want an error wrapping the format's Corrupt", name, err)
		}
	}
	newer := []byte(strings.Replace(string(good), "v2", "v3", 1))
	if err := f.Unmarshal(newer, &back); err == nil || errors.Is(err, errDamaged) || !strings.Contains(err.Error(), "version 3 is not supported") {
		t.Errorf("another version: %v, want an unsupported-version error that is not damage", err)
	}
}
