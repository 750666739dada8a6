package cookies

import (
	"strings"

	"github.com/axiomhq/hyperloglog"
	"github.com/meshtel/meshtel/cookies/httpcookie"
)

// sketchPrecision gives 4096 registers: about 1.6% standard error, 4 KiB
// once dense. Only cookies with more than exactDistinct values pay for it.
const (
	sketchPrecision = 12
	exactDistinct   = 8
)

// distinct counts distinct value hashes: exactly for the first few (a
// constant consent cookie reads 1, not an estimate), then by HyperLogLog.
type distinct struct {
	n     uint8
	exact [exactDistinct]uint64
	sk    *hyperloglog.Sketch
}

func newSketch() *hyperloglog.Sketch {
	sk, _ := hyperloglog.NewSketch(sketchPrecision, true) // precision is a valid constant
	return sk
}

func (d *distinct) add(h uint64) {
	if d.sk != nil {
		d.sk.InsertHash(h)
		return
	}
	for _, x := range d.exact[:d.n] {
		if x == h {
			return
		}
	}
	if int(d.n) < exactDistinct {
		d.exact[d.n] = h
		d.n++
		return
	}
	d.sk = newSketch()
	for _, x := range d.exact {
		d.sk.InsertHash(x)
	}
	d.sk.InsertHash(h)
}

func (d *distinct) estimate() uint64 {
	if d.sk != nil {
		return d.sk.Estimate()
	}
	return uint64(d.n)
}

// sketch returns the values as a sketch, for checkpoints and merges.
func (d *distinct) sketch() *hyperloglog.Sketch {
	if d.sk != nil {
		return d.sk
	}
	sk := newSketch()
	for _, x := range d.exact[:d.n] {
		sk.InsertHash(x)
	}
	return sk
}

func (d *distinct) merge(o *distinct) error {
	if o.sk == nil {
		for _, x := range o.exact[:o.n] {
			d.add(x)
		}
		return nil
	}
	if d.sk == nil {
		d.sk = d.sketch()
	}
	return d.sk.Merge(o.sk)
}

// key identifies a cookie within a service, as browsers do.
type key struct{ name, domain, path string }

// sameSite codes keep the attribute in one byte.
var sameSiteNames = [...]string{"", "Strict", "Lax", "None"}

func sameSiteCode(s string) uint8 {
	for i, n := range sameSiteNames {
		if n == s {
			return uint8(i)
		}
	}
	return 0
}

// attrs are the attributes of one Set-Cookie.
type attrs struct {
	secure, httpOnly, partitioned, hasMaxAge bool
	sameSite                                 uint8
	maxAgeS                                  int64
}

// entry is everything the inventory keeps about one cookie: never a value.
type entry struct {
	key
	sources   uint8 // bit 1<<Source
	attrs     attrs // of the latest Set-Cookie that was not a deletion
	attrsAt   int64 // unix ns of that Set-Cookie; 0 when none yet
	first     int64 // unix ns
	last      int64
	requests  uint64
	responses uint64
	classes   [httpcookie.NumClasses]uint64
	values    distinct
}

func (e *entry) seen(ts int64) {
	if e.first == 0 || ts < e.first {
		e.first = ts
	}
	if ts > e.last {
		e.last = ts
	}
}

// setAttrs records a Set-Cookie's attributes unless an entry seen later has
// already set them. A deletion (Max-Age=0 or a past Expires, as logout
// handlers write, often without the usual attributes) only sets them on a
// cookie that has none yet.
func (e *entry) setAttrs(a attrs, ts int64) {
	deletion := a.hasMaxAge && a.maxAgeS == 0
	if e.attrsAt != 0 && (deletion || ts < e.attrsAt) {
		return
	}
	e.attrs, e.attrsAt = a, ts
}

// absorb adds o's counts, times, classes and values to e; attributes are
// taken from whichever saw the later Set-Cookie.
func (e *entry) absorb(o *entry) error {
	e.sources |= o.sources
	if o.attrsAt != 0 && (e.attrsAt == 0 || o.attrsAt > e.attrsAt) {
		e.attrs, e.attrsAt = o.attrs, o.attrsAt
	}
	if o.first != 0 {
		e.seen(o.first)
	}
	if o.last != 0 {
		e.seen(o.last)
	}
	e.requests += o.requests
	e.responses += o.responses
	for i, n := range o.classes {
		e.classes[i] += n
	}
	return e.values.merge(&o.values)
}

func ownDomain(domain string, authorities map[string]struct{}, declared []string) bool {
	for a := range authorities {
		if domainMatch(a, domain) {
			return true
		}
	}
	for _, d := range declared {
		d = httpcookie.NormalizeDomain(d)
		if domainMatch(domain, d) || domainMatch(d, domain) {
			return true
		}
	}
	return false
}

// domainMatch is RFC 6265 §5.1.3 without the IP-address subtleties: host is
// domain or a subdomain of it.
func domainMatch(host, domain string) bool {
	return domain != "" && (host == domain || strings.HasSuffix(host, domain) && host[len(host)-len(domain)-1] == '.')
}

// authorityHost returns the lower-cased host of an :authority, without port
// and trailing dot.
func authorityHost(a string) string {
	if strings.HasPrefix(a, "[") {
		if end := strings.IndexByte(a, ']'); end > 0 {
			a = a[1:end]
		}
	} else if i := strings.LastIndexByte(a, ':'); i >= 0 && strings.IndexByte(a, ':') == i {
		a = a[:i]
	}
	return strings.ToLower(strings.TrimSuffix(a, "."))
}
