package webui

import (
	"sync"
	"time"

	"github.com/meshtel/meshtel/sli"
)

// history is the bounded memory behind the graphs no other package can
// draw: each SLO's error budget over time, and the pipeline's counters.
// Each series holds at most HistoryLength/SampleInterval points; the number
// of SLO series is capped by MaxSeries. A point is 8 bytes, so the default
// 1080 points × 1000 series stay under 9 MB.
type history struct {
	length    time.Duration
	points    int
	maxSeries int

	mu   sync.Mutex
	slos map[sloKey]*ring[budgetPoint]
	pipe ring[pipelineSample]
}

type sloKey struct{ service, slo string }

// budgetPoint is an SLO's remaining error budget at one time.
type budgetPoint struct {
	T      uint32 // Unix seconds
	Budget float32
}

// pipelineSample is the pipeline's counters at one time.
type pipelineSample struct {
	T       int64
	Metrics pipelineMetrics
}

func newHistory(interval, length time.Duration, maxSeries int) *history {
	n := max(2, int(length/interval)+1)
	return &history{length: length, points: n, maxSeries: maxSeries, slos: map[sloKey]*ring[budgetPoint]{}, pipe: newRing[pipelineSample](n)}
}

func (h *history) addSLOs(now time.Time, r sli.Report) {
	t := uint32(now.Unix())
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range r.SLOs {
		k := sloKey{s.Service, s.SLO}
		rg := h.slos[k]
		if rg == nil {
			if len(h.slos) >= h.maxSeries {
				continue
			}
			r := newRing[budgetPoint](h.points)
			rg = &r
			h.slos[k] = rg
		}
		rg.push(budgetPoint{T: t, Budget: float32(s.ErrorBudgetRemaining)})
	}
}

func (h *history) addPipeline(now time.Time, m pipelineMetrics) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pipe.push(pipelineSample{T: now.Unix(), Metrics: m})
}

// budget returns the budget points of one SLO within the history length
// before now, oldest first.
func (h *history) budget(now time.Time, service, slo string) []budgetPoint {
	from := now.Add(-h.length).Unix()
	h.mu.Lock()
	defer h.mu.Unlock()
	rg := h.slos[sloKey{service, slo}]
	if rg == nil {
		return nil
	}
	var out []budgetPoint
	for _, p := range rg.items() {
		if int64(p.T) >= from {
			out = append(out, p)
		}
	}
	return out
}

// pipeline returns the pipeline samples within the history length before
// now, oldest first.
func (h *history) pipeline(now time.Time) []pipelineSample {
	from := now.Add(-h.length).Unix()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []pipelineSample
	for _, p := range h.pipe.items() {
		if p.T >= from {
			out = append(out, p)
		}
	}
	return out
}

// ring keeps the newest len(buf) values pushed.
type ring[T any] struct {
	buf  []T
	next int
	full bool
}

func newRing[T any](n int) ring[T] { return ring[T]{buf: make([]T, 0, n)} }

func (r *ring[T]) push(v T) {
	if !r.full && len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, v)
		r.full = len(r.buf) == cap(r.buf)
		return
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % len(r.buf)
}

// items returns a copy of the values, oldest first.
func (r *ring[T]) items() []T {
	out := make([]T, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}
