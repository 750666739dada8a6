package cookies

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/meshtel/meshtel/cookies/httpcookie"
)

// Report is the /api/cookies document (SPEC §6). Fields beyond the
// contract's are additions: long_lifetime_rule, partitioned, distinct_values,
// category, vendor, and per service malformed and overflow.
type Report struct {
	GeneratedAt time.Time `json:"generated_at"`
	// LongLifetime is the rule the long-lifetime findings applied; zero in
	// reports saved before it was added.
	LongLifetime LifetimeRule    `json:"long_lifetime_rule,omitzero"`
	Services     []ServiceReport `json:"services"`
}

// ServiceReport is one service's cookies, sorted by name, domain, path.
type ServiceReport struct {
	Service string         `json:"service"`
	Cookies []CookieReport `json:"cookies"`
	// Malformed counts the cookies not taken, by reason ("bad_name").
	Malformed map[string]uint64 `json:"malformed,omitempty"`
	// Overflow counts observations dropped at the cap of distinct cookies.
	Overflow uint64 `json:"overflow,omitempty"`
}

// CookieReport is one cookie of a service: names, attributes and counts,
// never a value.
type CookieReport struct {
	Name     string   `json:"name"`
	Sources  []string `json:"sources"` // "request", "response"
	Domain   string   `json:"domain"`
	Path     string   `json:"path"`
	Secure   bool     `json:"secure"`
	HTTPOnly bool     `json:"http_only"`
	SameSite string   `json:"same_site"`
	// Partitioned is the CHIPS attribute.
	Partitioned bool `json:"partitioned"`
	// MaxAgeS is the lifetime of the latest Set-Cookie; absent for session
	// cookies and cookies only seen in requests.
	MaxAgeS      *int64            `json:"max_age_s,omitempty"`
	ValueClasses map[string]uint64 `json:"value_classes"`
	// DistinctValues estimates the distinct values seen: 1 for a constant,
	// about the number of visitors for an identifier. Exact up to 8; 0 when
	// only observations without a value hash were seen. Each
	// restart of alsd may count a value seen before it once more: hashes are
	// salted per process so that no stored state can test a guessed value.
	DistinctValues uint64    `json:"distinct_values"`
	FirstSeen      time.Time `json:"first_seen"`
	LastSeen       time.Time `json:"last_seen"`
	Requests       uint64    `json:"requests"`
	Responses      uint64    `json:"responses"`
	// Declared is true when the name is in the service's catalog cookies:.
	Declared bool     `json:"declared"`
	Category string   `json:"category,omitempty"` // from the cookie DB
	Vendor   string   `json:"vendor,omitempty"`   // from the cookie DB
	Findings []string `json:"findings"`
}

// Snapshot returns the inventory as the /api/cookies document.
func (inv *Inventory) Snapshot() Report {
	inv.mu.RLock()
	svcs := slices.Collect(maps.Values(inv.services))
	inv.mu.RUnlock()
	slices.SortFunc(svcs, func(a, b *service) int { return cmp.Compare(a.name, b.name) })

	rule := NewLifetimeRule(inv.cfg.Catalog.CookieLifetime())
	r := Report{GeneratedAt: inv.cfg.Now().UTC(), LongLifetime: rule, Services: make([]ServiceReport, 0, len(svcs))}
	for _, s := range svcs {
		fc := findingsContext{maxLifetimeS: rule.MaxLifetimeS}
		if cs := inv.cfg.Catalog.Lookup(s.name); cs != nil {
			fc.declared, fc.domains = cs.Cookies, cs.Domains
		}
		s.mu.Lock()
		fc.authorities = s.authorities
		sr := ServiceReport{Service: s.name, Cookies: make([]CookieReport, 0, len(s.entries)), Overflow: s.overflow}
		for m, n := range s.malformed {
			if n > 0 {
				if sr.Malformed == nil {
					sr.Malformed = map[string]uint64{}
				}
				sr.Malformed[httpcookie.Malformed(m).String()] = n
			}
		}
		for _, e := range s.entries {
			sr.Cookies = append(sr.Cookies, inv.cookieReport(e, fc))
		}
		s.mu.Unlock()
		if len(sr.Cookies) == 0 && len(sr.Malformed) == 0 && sr.Overflow == 0 {
			continue
		}
		sortCookies(sr.Cookies)
		r.Services = append(r.Services, sr)
	}
	return r
}

func sortCookies(cs []CookieReport) {
	slices.SortFunc(cs, func(a, b CookieReport) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Path, b.Path))
	})
}

func (inv *Inventory) cookieReport(e *entry, fc findingsContext) CookieReport {
	c := CookieReport{
		Name:           e.name,
		Domain:         e.domain,
		Path:           e.path,
		Sources:        []string{},
		ValueClasses:   map[string]uint64{},
		DistinctValues: e.values.estimate(),
		FirstSeen:      time.Unix(0, e.first).UTC(),
		LastSeen:       time.Unix(0, e.last).UTC(),
		Requests:       e.requests,
		Responses:      e.responses,
		Declared:       declaredName(e.name, fc.declared),
		Findings:       e.findings(fc),
	}
	for src := httpcookie.Request; src <= httpcookie.Response; src++ {
		if e.sources&(1<<src) != 0 {
			c.Sources = append(c.Sources, src.String())
		}
	}
	if e.attrsAt != 0 {
		a := e.attrs
		c.Secure, c.HTTPOnly, c.Partitioned, c.SameSite = a.secure, a.httpOnly, a.partitioned, sameSiteNames[a.sameSite]
		if a.hasMaxAge {
			c.MaxAgeS = &a.maxAgeS
		}
	}
	for i, n := range e.classes {
		if n > 0 {
			c.ValueClasses[httpcookie.ValueClass(i).String()] = n
		}
	}
	if k, ok := inv.db.Lookup(e.name); ok {
		c.Category, c.Vendor = k.Category, k.Vendor
	}
	return c
}

// Handler serves GET /api/cookies: the Snapshot as JSON. ?service=NAME
// keeps one service.
func (inv *Inventory) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		rep := inv.Snapshot()
		if svc := r.URL.Query().Get("service"); svc != "" {
			rep.Services = slices.DeleteFunc(rep.Services, func(s ServiceReport) bool { return s.Service != svc })
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep) // the client went away
	})
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// ReadReport decodes a JSON report, as saved from /api/cookies or
// `alsd report cookies --format json`.
func ReadReport(r io.Reader) (Report, error) {
	var rep Report
	dec := json.NewDecoder(r)
	if err := dec.Decode(&rep); err != nil {
		return Report{}, fmt.Errorf("decoding cookie report: %w", err)
	}
	return rep, nil
}

// MergeReports combines reports of alsd instances that each saw part of the
// traffic (`alsd report cookies --admin URL1,URL2`). Counts add up, times
// widen, attributes come from the cookie set most recently, findings are
// united; DistinctValues takes the larger estimate (sketches do not travel
// in reports, so it is a lower bound). Instances run with different
// privacy.max_cookie_lifetime report the strictest rule, the one the
// united findings amount to.
func MergeReports(reports ...Report) Report {
	var out Report
	svcs := map[string]*ServiceReport{}
	var order []string
	for _, r := range reports {
		if r.GeneratedAt.After(out.GeneratedAt) {
			out.GeneratedAt = r.GeneratedAt
		}
		if l := r.LongLifetime; l.MaxLifetimeS > 0 && (out.LongLifetime.MaxLifetimeS == 0 || l.MaxLifetimeS < out.LongLifetime.MaxLifetimeS) {
			out.LongLifetime = l
		}
		for _, s := range r.Services {
			m := svcs[s.Service]
			if m == nil {
				m = &ServiceReport{Service: s.Service}
				svcs[s.Service] = m
				order = append(order, s.Service)
			}
			mergeService(m, s)
		}
	}
	slices.Sort(order)
	out.Services = make([]ServiceReport, 0, len(order))
	for _, name := range order {
		sortCookies(svcs[name].Cookies)
		out.Services = append(out.Services, *svcs[name])
	}
	return out
}

func mergeService(m *ServiceReport, s ServiceReport) {
	m.Overflow += s.Overflow
	for k, n := range s.Malformed {
		if m.Malformed == nil {
			m.Malformed = map[string]uint64{}
		}
		m.Malformed[k] += n
	}
	for _, c := range s.Cookies {
		i := slices.IndexFunc(m.Cookies, func(x CookieReport) bool {
			return x.Name == c.Name && x.Domain == c.Domain && x.Path == c.Path
		})
		if i < 0 {
			c.ValueClasses = maps.Clone(c.ValueClasses)
			c.Sources = slices.Clone(c.Sources)
			c.Findings = slices.Clone(c.Findings)
			m.Cookies = append(m.Cookies, c)
			continue
		}
		x := &m.Cookies[i]
		mergeCookie(x, c)
	}
	foldRequestOnly(m)
}

// mergeCookie adds c to x, the same cookie seen by another instance.
func mergeCookie(x *CookieReport, c CookieReport) {
	if c.Responses > 0 && (x.Responses == 0 || c.LastSeen.After(x.LastSeen)) {
		x.Secure, x.HTTPOnly, x.SameSite, x.Partitioned, x.MaxAgeS = c.Secure, c.HTTPOnly, c.SameSite, c.Partitioned, c.MaxAgeS
	}
	if x.FirstSeen.IsZero() || c.FirstSeen.Before(x.FirstSeen) {
		x.FirstSeen = c.FirstSeen
	}
	if c.LastSeen.After(x.LastSeen) {
		x.LastSeen = c.LastSeen
	}
	x.Requests += c.Requests
	x.Responses += c.Responses
	x.DistinctValues = max(x.DistinctValues, c.DistinctValues)
	x.Declared = x.Declared || c.Declared
	x.Category, x.Vendor = cmp.Or(x.Category, c.Category), cmp.Or(x.Vendor, c.Vendor)
	for k, n := range c.ValueClasses {
		x.ValueClasses[k] += n
	}
	x.Sources = union(x.Sources, c.Sources, []string{httpcookie.Request.String(), httpcookie.Response.String()})
	x.Findings = union(x.Findings, c.Findings, Findings)
}

// foldRequestOnly moves a cookie one instance only saw in requests into the
// same name's cookie another instance saw set, as the inventory does.
func foldRequestOnly(m *ServiceReport) {
	sortCookies(m.Cookies)
	for i := 0; i < len(m.Cookies); i++ {
		c := m.Cookies[i]
		if c.Responses > 0 {
			continue
		}
		j := slices.IndexFunc(m.Cookies, func(x CookieReport) bool { return x.Name == c.Name && x.Responses > 0 })
		if j < 0 {
			continue
		}
		mergeCookie(&m.Cookies[j], c)
		m.Cookies = slices.Delete(m.Cookies, i, i+1)
		i--
	}
}

// union returns the strings in a or b, in the order of ref (unknown ones
// last, sorted).
func union(a, b, ref []string) []string {
	set := map[string]bool{}
	for _, s := range a {
		set[s] = true
	}
	for _, s := range b {
		set[s] = true
	}
	out := []string{}
	for _, s := range ref {
		if set[s] {
			out = append(out, s)
			delete(set, s)
		}
	}
	return append(out, slices.Sorted(maps.Keys(set))...)
}
