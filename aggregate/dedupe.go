package aggregate

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Bounds of a partition's seen set.
const (
	// maxSegments is the most holes one key's chain keeps open. Past it the
	// oldest hole is closed, as if its records were lost (a spool that
	// overflowed drops records and leaves such holes for good); a record
	// that fills it later is taken for a duplicate.
	maxSegments = 64
	// maxChains bounds the (ingester, key) chains of one partition; past it
	// the least recently extended are forgotten.
	maxChains = 1 << 16
	// chainHorizonMs is how long a chain is kept after its last record,
	// measured in record time against the partition's newest record: a week,
	// the record topic's recommended retention.
	chainHorizonMs = 7 * 24 * 3600 * 1000
)

// seen is the set of record ids (SPEC §2 meshtel-id) a partition's state
// has counted, in memory proportional to keys and holes rather than to
// records. A sequence counts all records of its ingester, so in one
// partition the numbers of one key are sparse; the meshtel-prev link of
// each record names its key's previous number, so the set is kept per
// (ingester, key) as segments of that chain: [first, last] holds every
// record of the chain between the two, and a record whose number falls in
// a segment has been counted. A record that arrives before its predecessor
// (a retry, a replay) opens a segment of its own until the gap is filled.
type seen struct {
	ingesters map[string]map[string]*chain
	chains    int
	newestMs  int64 // newest record time seen, for expiry
	closed    int   // holes closed by maxSegments, for the metric
}

type chain struct {
	segs   []segment // ascending and disjoint
	lastMs int64     // time of the chain's newest record
}

// segment is a run of a chain with nothing missing: every record from
// first to last, and prev, the predecessor of first (0: first starts the
// chain).
type segment struct {
	prev, first, last uint64
}

func newSeen() *seen { return &seen{ingesters: map[string]map[string]*chain{}} }

// add records that the record (ingester, seq) of key, whose predecessor in
// the key's chain is prev (0: none), arrived at timeMs, and reports
// whether it had been counted already.
func (s *seen) add(ingester, key []byte, seq, prev uint64, timeMs int64) (dup bool) {
	if prev >= seq {
		prev = 0 // a link that cannot be: take it as a chain start
	}
	keys := s.ingesters[string(ingester)]
	if keys == nil {
		keys = map[string]*chain{}
		s.ingesters[string(ingester)] = keys
	}
	c := keys[string(key)]
	if c == nil {
		if s.chains >= maxChains {
			s.forgetOldest(maxChains / 16)
		}
		c = &chain{}
		keys[string(key)] = c
		s.chains++
	}
	s.newestMs = max(s.newestMs, timeMs)
	c.lastMs = max(c.lastMs, timeMs)
	if c.has(seq) {
		return true
	}
	c.insert(seq, prev)
	if len(c.segs) > maxSegments {
		// Close the oldest hole: merge the two oldest segments.
		c.segs[1].prev, c.segs[1].first = c.segs[0].prev, c.segs[0].first
		c.segs = slices.Delete(c.segs, 0, 1)
		s.closed++
	}
	return false
}

func (c *chain) has(seq uint64) bool {
	for _, g := range c.segs {
		if g.first <= seq && seq <= g.last {
			return true
		}
	}
	return false
}

// insert adds seq to the chain: it extends the segment ending at prev,
// prepends to the segment that seq precedes, joins the two, or starts a
// segment of its own.
func (c *chain) insert(seq, prev uint64) {
	before, after := -1, -1
	for i, g := range c.segs {
		if prev != 0 && g.last == prev {
			before = i
		}
		if g.prev == seq {
			after = i
		}
	}
	switch {
	case before >= 0 && after >= 0:
		c.segs[before].last = c.segs[after].last
		c.segs = slices.Delete(c.segs, after, after+1)
	case before >= 0:
		c.segs[before].last = seq
	case after >= 0:
		c.segs[after].first, c.segs[after].prev = seq, prev
	default:
		c.segs = append(c.segs, segment{prev: prev, first: seq, last: seq})
	}
	c.normalize()
}

// normalize sorts the segments and merges overlapping ones. Honest chains
// never overlap; links forged by another producer (or two ingesters sharing
// a state dir) could, and the set must stay one that UnmarshalBinary takes.
func (c *chain) normalize() {
	slices.SortFunc(c.segs, func(a, b segment) int { return cmp.Compare(a.first, b.first) })
	for i := 1; i < len(c.segs); {
		if c.segs[i].first <= c.segs[i-1].last {
			c.segs[i-1].last = max(c.segs[i-1].last, c.segs[i].last)
			c.segs = slices.Delete(c.segs, i, i+1)
			continue
		}
		i++
	}
}

// expire forgets chains whose newest record is more than chainHorizonMs
// older than the partition's newest.
func (s *seen) expire() {
	for ing, keys := range s.ingesters {
		for key, c := range keys {
			if s.newestMs-c.lastMs > chainHorizonMs {
				delete(keys, key)
				s.chains--
			}
		}
		if len(keys) == 0 {
			delete(s.ingesters, ing)
		}
	}
}

// forgetOldest forgets the n chains extended least recently.
func (s *seen) forgetOldest(n int) {
	times := make([]int64, 0, s.chains)
	for _, keys := range s.ingesters {
		for _, c := range keys {
			times = append(times, c.lastMs)
		}
	}
	slices.Sort(times)
	cut := times[min(n, len(times))-1]
	for ing, keys := range s.ingesters {
		for key, c := range keys {
			if c.lastMs <= cut {
				delete(keys, key)
				s.chains--
			}
		}
		if len(keys) == 0 {
			delete(s.ingesters, ing)
		}
	}
}

// MarshalBinary encodes the set, ingesters and keys sorted so that equal
// sets encode equally:
//
//	uvarint ingesters, then each: uvarint length, id, uvarint chains,
//	then each: uvarint length, key, varint newest time (ms), uvarint
//	segments, then each: uvarint prev, first, last-first
func (s *seen) MarshalBinary() ([]byte, error) {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(s.ingesters)))
	for _, ing := range sortedKeys(s.ingesters) {
		keys := s.ingesters[ing]
		b = appendString(b, ing)
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, key := range sortedKeys(keys) {
			c := keys[key]
			b = appendString(b, key)
			b = binary.AppendVarint(b, c.lastMs)
			b = binary.AppendUvarint(b, uint64(len(c.segs)))
			for _, g := range c.segs {
				b = binary.AppendUvarint(b, g.prev)
				b = binary.AppendUvarint(b, g.first)
				b = binary.AppendUvarint(b, g.last-g.first)
			}
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// errSeen is wrapped by the errors of UnmarshalBinary.
var errSeen = errors.New("bad seen-id set")

// UnmarshalBinary decodes what MarshalBinary encoded into the empty set s.
func (s *seen) UnmarshalBinary(data []byte) error {
	d := &seenDecoder{b: data}
	n := d.count()
	for range n {
		ing := d.string()
		keys := map[string]*chain{}
		for range d.count() {
			key := d.string()
			c := &chain{lastMs: d.varint()}
			n := d.count()
			if n > maxSegments {
				d.fail("chain %q of %q has %d segments, more than %d", key, ing, n, maxSegments)
			}
			c.segs = make([]segment, 0, n)
			for i := range cap(c.segs) {
				g := segment{prev: d.uvarint(), first: d.uvarint()}
				g.last = g.first + d.uvarint()
				if d.err == nil && (g.first == 0 || g.prev >= g.first || g.last < g.first || i > 0 && g.first <= c.segs[i-1].last) {
					d.fail("chain %q of %q: segment %d out of order", key, ing, i)
				}
				c.segs = append(c.segs, g)
			}
			if _, dup := keys[key]; dup && d.err == nil {
				d.fail("chain %q of %q twice", key, ing)
			}
			keys[key] = c
			s.newestMs = max(s.newestMs, c.lastMs)
		}
		if _, dup := s.ingesters[ing]; dup && d.err == nil {
			d.fail("ingester %q twice", ing)
		}
		if d.err != nil {
			return d.err
		}
		s.ingesters[ing] = keys
		s.chains += len(keys)
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the last chain", len(d.b))
	}
	return d.err
}

// seenDecoder reads varints and strings, keeping the first error: every
// count it returns is bounded by the bytes left, so a damaged count cannot
// make the decoder allocate without limit.
type seenDecoder struct {
	b   []byte
	err error
}

func (d *seenDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errSeen, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

func (d *seenDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *seenDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("truncated number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *seenDecoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) {
		d.fail("count %d exceeds the %d bytes left", v, len(d.b))
		return 0
	}
	return int(v)
}

func (d *seenDecoder) string() string {
	n := d.count()
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
