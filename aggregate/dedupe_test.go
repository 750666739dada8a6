package aggregate

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// sent is one message as an ingester produced it.
type sent struct {
	ingester, key string
	seq, prev     uint64
}

// ingesterRun numbers n records of keys as ingestid does: one sequence
// for all keys, each linked to its key's previous record; start is the
// first number (a restart skips ahead and starts every chain again).
func ingesterRun(rng *rand.Rand, ingester string, keys []string, start uint64, n int) []sent {
	last := map[string]uint64{}
	out := make([]sent, n)
	for i := range out {
		key := keys[rng.IntN(len(keys))]
		seq := start + uint64(i)
		out[i] = sent{ingester, key, seq, last[key]}
		last[key] = seq
	}
	return out
}

func (s *seen) describe() string {
	var b strings.Builder
	for _, ing := range sortedKeys(s.ingesters) {
		for _, key := range sortedKeys(s.ingesters[ing]) {
			fmt.Fprintf(&b, "%s/%s:", ing, key)
			for _, g := range s.ingesters[ing][key].segs {
				fmt.Fprintf(&b, " (%d)%d-%d", g.prev, g.first, g.last)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// deliver arranges msgs as a partition receives them: batches in flight
// reordered, some retried (duplicated right after), some timed out and
// replayed much later (landed or not the first time), and returns that
// order.
func deliver(rng *rand.Rand, msgs []sent) []sent {
	var out, replay []sent
	for i := 0; i < len(msgs); {
		n := min(1+rng.IntN(40), len(msgs)-i)
		batch := msgs[i : i+n]
		i += n
		switch r := rng.IntN(20); {
		case r == 0: // retried after a lost acknowledgement
			out = append(out, batch...)
			out = append(out, batch...)
		case r == 1: // timed out, landed anyway, replayed later
			out = append(out, batch...)
			replay = append(replay, batch...)
		case r == 2: // failed: only the replay lands
			replay = append(replay, batch...)
		case r == 3 && len(out) > 0: // overtaken by the next batch in flight
			j := rng.IntN(len(out))
			out = append(out[:j], append(append([]sent(nil), batch...), out[j:]...)...)
		default:
			out = append(out, batch...)
		}
	}
	// The replay comes after, in order, and itself partly twice (a crash
	// between its acknowledgement and the spool cursor).
	out = append(out, replay...)
	return append(out, replay[:len(replay)/3]...)
}

// The seen set agrees with an exact set of every id on every message,
// however messages are reordered, retried and replayed, and once every
// record has arrived each chain is one segment again (two for the chains
// a restart began anew).
func TestSeenExact(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		keys := []string{"web", "api", "db", "cache"}
		var msgs []sent
		for _, ing := range []string{"aa01", "bb02"} {
			msgs = append(msgs, ingesterRun(rng, ing, keys, 1, 800)...)
			msgs = append(msgs, ingesterRun(rng, ing, keys, 1<<20+1, 400)...) // after a restart
		}
		s := newSeen()
		exact := map[sent]bool{}
		for i, m := range deliver(rng, msgs) {
			dup := s.add([]byte(m.ingester), []byte(m.key), m.seq, m.prev, int64(i))
			if dup != exact[m] {
				t.Fatalf("seed %d: message %d %+v: dup %v, want %v; set:\n%s", seed, i, m, dup, exact[m], s.describe())
			}
			exact[m] = true
		}
		if len(exact) != len(msgs) {
			t.Fatalf("seed %d: %d distinct delivered of %d", seed, len(exact), len(msgs))
		}
		for ing, ks := range s.ingesters {
			for key, c := range ks {
				if len(c.segs) > 2 {
					t.Errorf("seed %d: %s/%s kept %d segments once everything arrived: %v", seed, ing, key, len(c.segs), c.segs)
				}
			}
		}
		if s.closed != 0 {
			t.Errorf("seed %d: %d holes closed without reaching the cap", seed, s.closed)
		}
	}
}

// Records that never arrive leave holes; past maxSegments the oldest are
// closed, so a chain's memory stays bounded, and a record filling a
// closed hole counts as seen.
func TestSeenHoleCap(t *testing.T) {
	s := newSeen()
	var prev uint64
	lost := []uint64{}
	for seq := uint64(1); seq <= 1000; seq++ {
		if seq%10 == 5 {
			lost = append(lost, seq) // dropped by a full spool
		} else if s.add([]byte("i"), []byte("k"), seq, prev, 0) {
			t.Fatalf("%d taken for a duplicate", seq)
		}
		prev = seq
	}
	c := s.ingesters["i"]["k"]
	if len(c.segs) > maxSegments || s.closed != len(lost)+1-maxSegments {
		t.Errorf("%d segments, %d holes closed; want at most %d and %d", len(c.segs), s.closed, maxSegments, len(lost)+1-maxSegments)
	}
	if !s.add([]byte("i"), []byte("k"), lost[0], lost[0]-1, 0) {
		t.Error("a record in a closed hole was counted")
	}
	if s.add([]byte("i"), []byte("k"), lost[len(lost)-1], lost[len(lost)-1]-1, 0) {
		t.Error("a record in an open hole was taken for a duplicate")
	}
}

// Chains idle beyond the horizon are forgotten; past maxChains the least
// recently extended go first.
func TestSeenBounds(t *testing.T) {
	s := newSeen()
	s.add([]byte("old"), []byte("k"), 1, 0, 0)
	s.add([]byte("new"), []byte("k"), 1, 0, chainHorizonMs+1)
	s.expire()
	if s.ingesters["old"] != nil || s.ingesters["new"] == nil || s.chains != 1 {
		t.Errorf("after expiry: %s(%d chains)", s.describe(), s.chains)
	}
	s = newSeen()
	for i := range maxChains + 1 {
		s.add([]byte("i"), []byte(fmt.Sprint(i)), 1, 0, int64(i))
	}
	if s.chains > maxChains || s.chains != len(s.ingesters["i"]) || s.ingesters["i"][fmt.Sprint(maxChains)] == nil || s.ingesters["i"]["0"] != nil {
		t.Errorf("%d chains after %d were added (cap %d)", s.chains, maxChains+1, maxChains)
	}
}

// Forged links (another producer's headers) never make a set that does
// not decode.
func TestSeenForgedLinks(t *testing.T) {
	s := newSeen()
	for _, m := range [][2]uint64{{10, 0}, {30, 0}, {40, 30}, {50, 10}, {20, 15}, {60, 60}, {5, 1}, {45, 44}} {
		s.add([]byte("i"), []byte("k"), m[0], m[1], 0)
	}
	roundTrip(t, s)
}

func roundTrip(t *testing.T, s *seen) {
	t.Helper()
	data, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := newSeen()
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatalf("%v; set:\n%s", err, s.describe())
	}
	if back.describe() != s.describe() || back.chains != s.chains || back.newestMs != s.newestMs {
		t.Fatalf("round trip:\n%s\nwant\n%s", back.describe(), s.describe())
	}
	again, _ := back.MarshalBinary()
	if !bytes.Equal(again, data) {
		t.Fatal("encoding is not stable")
	}
}

func TestSeenRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	s := newSeen()
	roundTrip(t, s)
	for i, m := range deliver(rng, ingesterRun(rng, "aa", []string{"a", "b", "c"}, 1, 500))[:300] {
		s.add([]byte(m.ingester), []byte(m.key), m.seq, m.prev, int64(i)-100)
	}
	roundTrip(t, s)
}

// FuzzSeenUnmarshal: whatever decodes re-encodes to the same bytes, and
// keeps accepting records without breaking its own encoding.
func FuzzSeenUnmarshal(f *testing.F) {
	s := newSeen()
	s.add([]byte("aa"), []byte("web"), 3, 1, 5)
	s.add([]byte("aa"), []byte("web"), 9, 7, -2)
	valid, _ := s.MarshalBinary()
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte{1, 1, 'a', 1, 1, 'k', 0, 1, 0, 1, 0})
	f.Add([]byte{1, 200, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSeen()
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			// Decoding accepts one encoding per set, sorted.
			back := newSeen()
			if err := back.UnmarshalBinary(again); err != nil || back.describe() != s.describe() {
				t.Fatalf("re-encoding does not decode to the same set: %v", err)
			}
		}
		s.add([]byte("aa"), []byte("web"), 4, 3, 0)
		roundTrip(t, s)
	})
}
