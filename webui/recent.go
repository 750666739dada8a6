package webui

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Bounds of what one bad request may occupy: ObserveBad takes whatever the
// mesh sends.
const (
	maxPathBytes   = 256
	maxMethodBytes = 16
	maxFlags       = 8
	maxFlagBytes   = 16
	// maxFlagKinds caps the distinct flags counted per service; Envoy has
	// about thirty.
	maxFlagKinds = 64
)

// badRequest is one request that burned error budget.
type badRequest struct {
	Time   time.Time
	Method string
	Path   string // without query string
	Status int    // 0 when Envoy sent none
	Flags  []string
}

// recent keeps the newest bad requests per service in a ring, and counts
// their response flags.
type recent struct {
	size, maxServices int

	mu       sync.Mutex
	services map[string]*badRing
}

type badRing struct {
	reqs  []badRequest // ring of at most size
	next  int
	total uint64            // bad requests seen
	flags map[string]uint64 // by flag; "-" for none
}

func newRecent(size, maxServices int) *recent {
	return &recent{size: size, maxServices: maxServices, services: map[string]*badRing{}}
}

func (r *recent) add(service, method, path string, status int, flags []string, t time.Time) {
	req := badRequest{
		Time:   t.UTC(),
		Method: clip(method, maxMethodBytes),
		Path:   clip(cutQuery(path), maxPathBytes),
		Status: status,
	}
	for _, f := range flags[:min(len(flags), maxFlags)] {
		req.Flags = append(req.Flags, clip(f, maxFlagBytes))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.services[service]
	if b == nil {
		if len(r.services) >= r.maxServices {
			return
		}
		b = &badRing{flags: map[string]uint64{}}
		r.services[strings.Clone(service)] = b
	}
	b.total++
	if len(req.Flags) == 0 {
		b.flags["-"]++
	}
	for _, f := range req.Flags {
		if _, ok := b.flags[f]; ok || len(b.flags) < maxFlagKinds {
			b.flags[f]++
		}
	}
	if len(b.reqs) < r.size {
		b.reqs = append(b.reqs, req)
		return
	}
	b.reqs[b.next] = req
	b.next = (b.next + 1) % r.size
}

// flagCount is how many bad requests carried one response flag.
type flagCount struct {
	Flag  string
	Count uint64
	Share float64 // of the service's bad requests
}

// get returns the service's bad requests, newest first, the total seen and
// the flag counts, most frequent first.
func (r *recent) get(service string) ([]badRequest, uint64, []flagCount) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.services[service]
	if b == nil {
		return nil, 0, nil
	}
	reqs := make([]badRequest, 0, len(b.reqs))
	for i := range b.reqs {
		reqs = append(reqs, b.reqs[(b.next+len(b.reqs)-1-i)%len(b.reqs)])
	}
	var fc []flagCount
	for f, n := range b.flags {
		fc = append(fc, flagCount{Flag: f, Count: n, Share: float64(n) / float64(b.total)})
	}
	slices.SortFunc(fc, func(a, b flagCount) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Flag, b.Flag)) })
	return reqs, b.total, fc
}

// clip cuts s to at most n bytes, drops invalid UTF-8 (a cut rune
// included) and copies it, so a stored string never pins the caller's
// reused buffer.
func clip(s string, n int) string {
	cut := len(s) > n
	if cut {
		s = s[:n]
	}
	s = strings.Clone(strings.ToValidUTF8(s, ""))
	if cut {
		s += "…"
	}
	return s
}
