package sli

import (
	"fmt"
	"time"
)

// tiers are the resolutions of the windowed accounting: fine slots for the
// short burn windows, coarse ones for the long windows and the rolling
// budgets, and UTC days for calendar months and the monthly report, so
// that every window of Windows, BudgetWindow and DayHistory is answered
// from a few thousand slots per service and SLO.
//
// Only the finest tier is written per entry. A slot leaving it (older than
// an hour) is folded into the coarse tiers, which therefore hold only what
// the fine tier no longer does: a window is the coarse slots it overlaps
// plus the whole fine tier, and nothing is counted twice. Entries that
// arrive too late for the fine tier go to the coarse tiers directly.
//
// A burn window is exactly its length back from now: whole slots, the
// current partial one, and the share of the oldest slot that lies inside
// the window, assuming its events were spread evenly (as PromQL's
// increase() extrapolates). The budget window counts whole events: the
// current hour and the 720 before it, 30d plus up to an hour.
var tiers = [...]struct{ res, span time.Duration }{
	{10 * time.Second, time.Hour},
	{2 * time.Minute, 6 * time.Hour},
	{15 * time.Minute, 72 * time.Hour},
	{time.Hour, BudgetWindow},
	{24 * time.Hour, DayHistory},
}

// dayTier is the tier of UTC days; its epochs are days since 1970-01-01.
const dayTier = 4

// daySecs is the length of a day slot in seconds.
const daySecs = int64(24 * time.Hour / time.Second)

// keptDays is how many days before today reports reach back: the day tier
// holds ringMargin more.
const keptDays = int64(DayHistory / (24 * time.Hour))

const numTiers = len(tiers)

// ringMargin extra slots keep a window's oldest slot intact when an entry
// stamped slightly in the future (clock skew between Envoy and alsd, at most
// one second after clamping) has already advanced the ring.
const ringMargin = 2

// ring is one tier of one service's windowed accounting. Slot i holds the
// epochs e ≡ i (mod len) with e in (head−len, head]; an epoch is a Unix
// second divided by the tier's resolution.
type ring struct {
	head  int64
	avail []Counts
	lat   []Counts // nil when the service has no latency SLO
}

func newRing(tier int, latency bool) ring {
	n := int(tiers[tier].span/tiers[tier].res) + ringMargin
	r := ring{avail: make([]Counts, n)}
	if latency {
		r.lat = make([]Counts, n)
	}
	return r
}

// advance moves head to epoch, clearing the slots it reuses.
func (r *ring) advance(epoch int64) {
	n := int64(len(r.avail))
	if epoch-r.head >= n {
		clear(r.avail)
		clear(r.lat)
	} else {
		for e := r.head + 1; e <= epoch; e++ {
			r.avail[e%n] = Counts{}
			if r.lat != nil {
				r.lat[e%n] = Counts{}
			}
		}
	}
	r.head = epoch
}

// add counts av and lt in epoch's slot; epochs older than the ring holds
// are dropped (the cumulative counters still have them).
func (r *ring) add(epoch int64, av, lt Counts) {
	if epoch < 0 {
		return
	}
	r.addAt(epoch, int(epoch%int64(len(r.avail))), av, lt)
}

// addAt is add with the slot index of epoch (epoch ≥ 0) already known.
func (r *ring) addAt(epoch int64, i int, av, lt Counts) {
	if epoch > r.head {
		r.advance(epoch)
	} else if epoch <= r.head-int64(len(r.avail)) {
		return
	}
	r.avail[i].add(av)
	if r.lat != nil {
		r.lat[i].add(lt)
	}
}

// sum totals the k newest slots up to and including epoch now, plus the
// fraction frac (0 ≤ frac ≤ 1) of the slot before them.
func (r *ring) sum(now, k int64, frac float64) (av, lt Estimate) {
	a, l := r.sumWhole(now, k)
	av, lt = Estimate{float64(a.Total), float64(a.Bad)}, Estimate{float64(l.Total), float64(l.Bad)}
	if e, n := now-k, int64(len(r.avail)); frac > 0 && e >= 0 && e > r.head-n {
		av.Total += frac * float64(r.avail[e%n].Total)
		av.Bad += frac * float64(r.avail[e%n].Bad)
		if r.lat != nil {
			lt.Total += frac * float64(r.lat[e%n].Total)
			lt.Bad += frac * float64(r.lat[e%n].Bad)
		}
	}
	return av, lt
}

// sumWhole totals the k newest slots up to and including epoch now.
func (r *ring) sumWhole(now, k int64) (av, lt Counts) {
	n := int64(len(r.avail))
	if now > r.head {
		r.advance(now)
	}
	lo := now - k + 1
	if lo <= r.head-n {
		lo = r.head - n + 1
	}
	for e := max(lo, 0); e <= now; e++ {
		av.add(r.avail[e%n])
		if r.lat != nil {
			lt.add(r.lat[e%n])
		}
	}
	return av, lt
}

// span is where one window is answered from: a tier and the window's
// length in seconds.
type span struct {
	tier int
	secs int64
}

// spanFor picks the finest tier that holds window d in whole slots.
func spanFor(d time.Duration) (span, error) {
	for i, t := range tiers {
		if d <= t.span && d%t.res == 0 && d%time.Second == 0 {
			return span{tier: i, secs: int64(d / time.Second)}, nil
		}
	}
	return span{}, fmt.Errorf("window %s is not a whole number of slots of any tier", d)
}

// window returns the events of the window sp ending with Unix second now
// (inclusive), interpolating its oldest slot.
func (r *ring) window(now int64, sp span) (av, lt Estimate) {
	res := int64(tiers[sp.tier].res / time.Second)
	first := now - sp.secs + 1 // the window's oldest second
	if first < 0 {
		first = 0
	}
	e0 := first / res
	frac := float64((e0+1)*res-first) / float64(res)
	// Slots e0+1 … now/res are whole, e0 counts by frac.
	return r.sum(now/res, now/res-e0, frac)
}

// budget returns the events of the budget window sp ending with Unix
// second now: whole slots only, so they stay integers.
func (r *ring) budget(now int64, sp span) (av, lt Counts) {
	res := int64(tiers[sp.tier].res / time.Second)
	return r.sumWhole(now/res, sp.secs/res+1)
}

// fineRes is the resolution of tier 0 in seconds.
var fineRes = int64(tiers[0].res / time.Second)

// addFine counts an entry of fine epoch e (slot index i) in tier 0, or in
// the coarse tiers when tier 0 no longer holds e.
func (s *service) addFine(e int64, i int, av, lt Counts) {
	r := &s.rings[0]
	if e > r.head {
		s.advanceFine(e)
	} else if e <= r.head-int64(len(r.avail)) {
		s.addCoarse(e, av, lt)
		return
	}
	r.avail[i].add(av)
	if r.lat != nil {
		r.lat[i].add(lt)
	}
}

// addCoarse counts the events of fine epoch e in every coarse tier.
func (s *service) addCoarse(e int64, av, lt Counts) {
	sec := e * fineRes
	for k := 1; k < numTiers; k++ {
		s.rings[k].add(sec/int64(tiers[k].res/time.Second), av, lt)
	}
}

// advanceFine moves tier 0 to epoch e, folding the slots it evicts into
// the coarse tiers first.
func (s *service) advanceFine(e int64) {
	r := &s.rings[0]
	if e <= r.head {
		return
	}
	n := int64(len(r.avail))
	// Held epochs are (head−n, head]; after the move, (e−n, e].
	for old := max(r.head-n+1, 0); old <= min(e-n, r.head); old++ {
		var lt Counts
		if r.lat != nil {
			lt = r.lat[old%n]
		}
		if av := r.avail[old%n]; av != (Counts{}) || lt != (Counts{}) {
			s.addCoarse(old, av, lt)
		}
	}
	r.advance(e)
}

// window returns the events of burn window sp ending with Unix second now.
func (s *service) window(now int64, sp span) (av, lt Estimate) {
	s.advanceFine(now / fineRes)
	av, lt = s.rings[sp.tier].window(now, sp)
	if sp.tier > 0 {
		// Every coarse window is longer than the fine tier: all of it counts.
		fa, fl := s.rings[0].sumWhole(now/fineRes, int64(len(s.rings[0].avail)))
		av.Total, av.Bad = av.Total+float64(fa.Total), av.Bad+float64(fa.Bad)
		lt.Total, lt.Bad = lt.Total+float64(fl.Total), lt.Bad+float64(fl.Bad)
	}
	return av, lt
}

// budget returns the events of the budget window sp ending with Unix
// second now, in whole slots.
func (s *service) budget(now int64, sp span) (av, lt Counts) {
	s.advanceFine(now / fineRes)
	av, lt = s.rings[sp.tier].budget(now, sp)
	if sp.tier > 0 {
		fa, fl := s.rings[0].sumWhole(now/fineRes, int64(len(s.rings[0].avail)))
		av.add(fa)
		lt.add(fl)
	}
	return av, lt
}

// since returns the events from Unix second from, a day boundary, to now:
// the day tier's days from from's on, and the fine tier's slots from from
// on, which hold what has not been folded into the days yet. Unlike the
// rolling budget it does not count the hour before from: a calendar month
// starts exactly at its first second.
func (s *service) since(from, now int64) (av, lt Counts) {
	s.advanceFine(now / fineRes)
	if from > now {
		return av, lt
	}
	av, lt = s.rings[dayTier].sumWhole(now/daySecs, now/daySecs-from/daySecs+1)
	fine := &s.rings[0]
	n := int64(len(fine.avail))
	for e := max(fine.head-n+1, from/fineRes, 0); e <= fine.head; e++ {
		av.add(fine.avail[e%n])
		if fine.lat != nil {
			lt.add(fine.lat[e%n])
		}
	}
	return av, lt
}

// days returns the events of the UTC days first … last (day numbers since
// 1970-01-01) as of Unix second now, one entry per day: what the day tier
// holds plus the fine tier's slots of that day. Days the tracker no
// longer holds, or that have not begun, count nothing.
func (s *service) days(first, last, now int64) (av, lt []Counts) {
	s.advanceFine(now / fineRes)
	if last < first {
		return nil, nil
	}
	av, lt = make([]Counts, last-first+1), make([]Counts, last-first+1)
	day := &s.rings[dayTier]
	if now/daySecs > day.head {
		day.advance(now / daySecs)
	}
	n := int64(len(day.avail))
	for d := max(first, day.head-keptDays, 0); d <= min(last, day.head); d++ {
		av[d-first] = day.avail[d%n]
		if day.lat != nil {
			lt[d-first] = day.lat[d%n]
		}
	}
	fine := &s.rings[0]
	n = int64(len(fine.avail))
	for e := max(fine.head-n+1, 0); e <= fine.head; e++ {
		if d := e * fineRes / daySecs; d >= first && d <= last {
			av[d-first].add(fine.avail[e%n])
			if fine.lat != nil {
				lt[d-first].add(fine.lat[e%n])
			}
		}
	}
	return av, lt
}
