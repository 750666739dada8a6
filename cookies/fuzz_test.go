package cookies

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"strings"
	"testing"

	"github.com/meshtel/meshtel/cookies/httpcookie"
)

// frame wraps a payload in a valid checkpoint header, so the fuzzer reaches
// the decoder behind the checksum.
func frame(payload []byte) []byte {
	out := make([]byte, headerLen, headerLen+len(payload))
	copy(out, stateMagic)
	binary.BigEndian.PutUint16(out[8:], stateVersion)
	binary.BigEndian.PutUint32(out[10:], uint32(len(payload)))
	binary.BigEndian.PutUint32(out[14:], crc32.Checksum(payload, castagnoli))
	return append(out, payload...)
}

func FuzzMergeState(f *testing.F) {
	inv, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 10 {
		obs, bad := httpcookie.ParseRequest(fmt.Sprintf("a=%d; b=x; bad", i), nil, nil)
		obs, bad = httpcookie.ParseResponse("a=1; Path=/; Secure, c=2; Domain=example.com; SameSite=None", entryTime, obs, bad)
		inv.Observe("svc", "www.example.com", entryTime, obs, bad)
	}
	valid, err := inv.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid[headerLen:], false)
	f.Add([]byte(`{"services":[{"service":"s","cookies":[{"name":"x","sources":3,"first":1,"last":2,"values":"AQ=="}]}]}`), false)
	f.Add(valid, true)
	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		if !raw {
			data = frame(data)
		}
		inv, err := New(Config{MaxNamesPerService: 16, MaxServices: 4})
		if err != nil {
			t.Fatal(err)
		}
		if err := inv.MergeState(data); err != nil {
			if len(inv.Snapshot().Services) != 0 {
				t.Fatalf("a refused state merged something: %v", err)
			}
			return
		}
		again, err := inv.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := inv.MergeState(again); err != nil {
			t.Fatalf("own state refused: %v", err)
		}
		var b bytes.Buffer
		for _, format := range []string{FormatJSON, FormatCSV, FormatMarkdown} {
			if err := WriteReport(&b, inv.Snapshot(), format); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzReadCookieDB(f *testing.F) {
	fixture, err := os.ReadFile("testdata/cookiedb.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(fixture), "_ga_XYZ")
	f.Add("name,category,wildcard\nx*,c,0\ny,d,1\n", "yx")
	f.Fuzz(func(t *testing.T, csv, name string) {
		db, err := ReadCookieDB(strings.NewReader(csv))
		if err != nil {
			return
		}
		if k, ok := db.Lookup(name); !ok && k != (Knowledge{}) {
			t.Fatalf("miss with data %+v", k)
		}
	})
}
