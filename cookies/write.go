package cookies

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshtel/meshtel/cookies/httpcookie"
)

// Report formats of WriteReport and WriteDiff.
const (
	FormatMarkdown = "md"
	FormatCSV      = "csv"
	FormatJSON     = "json"
)

// WriteReport renders r for `alsd report cookies --format md|csv|json`: md
// is a per-service table a privacy reviewer reads, csv one row per cookie
// for spreadsheets, json the /api/cookies document.
func WriteReport(w io.Writer, r Report, format string) error {
	switch format {
	case FormatJSON:
		return writeJSON(w, r)
	case FormatCSV:
		return writeReportCSV(w, r)
	case FormatMarkdown:
		return writeReportMarkdown(w, r)
	}
	return fmt.Errorf("unknown report format %q (want md, csv or json)", format)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

var csvHeader = []string{
	"service", "name", "domain", "path", "sources", "secure", "http_only", "same_site", "partitioned",
	"max_age_s", "value_classes", "distinct_values", "first_seen", "last_seen", "requests", "responses",
	"declared", "category", "vendor", "findings", "long_lifetime_rule",
}

func writeReportCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, s := range r.Services {
		for _, c := range s.Cookies {
			maxAge := ""
			if c.MaxAgeS != nil {
				maxAge = strconv.FormatInt(*c.MaxAgeS, 10)
			}
			row := []string{
				s.Service, c.Name, c.Domain, c.Path, strings.Join(c.Sources, ";"),
				strconv.FormatBool(c.Secure), strconv.FormatBool(c.HTTPOnly), c.SameSite, strconv.FormatBool(c.Partitioned),
				maxAge, classList(c.ValueClasses, ":", ";"), strconv.FormatUint(c.DistinctValues, 10),
				c.FirstSeen.Format(time.RFC3339), c.LastSeen.Format(time.RFC3339),
				strconv.FormatUint(c.Requests, 10), strconv.FormatUint(c.Responses, 10),
				strconv.FormatBool(c.Declared), c.Category, c.Vendor, strings.Join(c.Findings, ";"),
				r.LongLifetime.Rule,
			}
			for i := range row {
				row[i] = csvSafe(row[i])
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe defuses spreadsheet formulas: names and domains come from the
// traffic, and a cell starting with = + - @ would run when opened.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// classList renders a value-class histogram in class order: "opaque:12;email:1".
func classList(m map[string]uint64, kv, sep string) string {
	var parts []string
	for c := range httpcookie.NumClasses {
		if n := m[c.String()]; n > 0 {
			parts = append(parts, c.String()+kv+strconv.FormatUint(n, 10))
		}
	}
	return strings.Join(parts, sep)
}

// mdCell escapes what would break a Markdown table cell or render as markup.
func mdCell(s string) string {
	if s == "" {
		return ""
	}
	r := strings.NewReplacer("|", `\|`, "\\", `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`, "\n", " ", "\r", " ")
	return r.Replace(s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// lifetime renders Max-Age for people: "session", "deleted", "30d", "2h".
func lifetime(maxAge *int64) string {
	if maxAge == nil {
		return "session"
	}
	s := *maxAge
	switch {
	case s <= 0:
		return "deleted"
	case s%86400 == 0 || s >= 7*86400:
		return strconv.FormatInt(s/86400, 10) + "d"
	case s%3600 == 0 || s >= 86400:
		return strconv.FormatInt(s/3600, 10) + "h"
	case s%60 == 0 || s >= 3600:
		return strconv.FormatInt(s/60, 10) + "m"
	}
	return strconv.FormatInt(s, 10) + "s"
}

func writeReportMarkdown(w io.Writer, r Report) error {
	ew := &errWriter{w: w}
	cookies, flagged := 0, 0
	for _, s := range r.Services {
		cookies += len(s.Cookies)
		for _, c := range s.Cookies {
			if len(c.Findings) > 0 {
				flagged++
			}
		}
	}
	ew.printf("# Cookie inventory\n\nGenerated %s: %d services, %d cookies, %d with findings. Cookie values are never recorded; \"Values\" counts what they looked like.\n",
		r.GeneratedAt.UTC().Format(time.RFC3339), len(r.Services), cookies, flagged)
	if l := r.LongLifetime; l.Rule != "" {
		ew.printf("\nlong-lifetime means a lifetime %s; privacy.max\\_cookie\\_lifetime: %s.\n", l.Rule, mdCell(l.Setting))
	}
	for _, s := range r.Services {
		ew.printf("\n## %s\n\n", mdCell(s.Service))
		if len(s.Cookies) > 0 {
			ew.printf("| Cookie | Domain | Path | Seen in | Secure | HttpOnly | SameSite | Lifetime | Values | Distinct | Declared | Category | Findings |\n")
			ew.printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		}
		for _, c := range s.Cookies {
			setByResponse := c.Responses > 0
			attr := func(b bool) string {
				if !setByResponse {
					return "–"
				}
				return yesNo(b)
			}
			life, sameSite := "–", "–"
			if setByResponse {
				life, sameSite = lifetime(c.MaxAgeS), cmp.Or(c.SameSite, "(unset)")
			}
			category := c.Category
			if c.Vendor != "" {
				category = strings.TrimSpace(category + " (" + c.Vendor + ")")
			}
			findings := strings.Join(c.Findings, ", ")
			if findings == "" {
				findings = "none"
			}
			ew.printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s |\n",
				mdCell(c.Name), mdCell(c.Domain), mdCell(c.Path), strings.Join(c.Sources, ", "),
				attr(c.Secure), attr(c.HTTPOnly), sameSite, life, classList(c.ValueClasses, " ", ", "),
				c.DistinctValues, yesNo(c.Declared), mdCell(category), findings)
		}
		var notes []string
		if len(s.Malformed) > 0 {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(s.Malformed)) {
				parts = append(parts, fmt.Sprintf("%s %d", mdCell(k), s.Malformed[k]))
			}
			notes = append(notes, "Malformed cookies not taken: "+strings.Join(parts, ", ")+".")
		}
		if s.Overflow > 0 {
			notes = append(notes, fmt.Sprintf("Observations dropped at the cap of distinct cookies: %d.", s.Overflow))
		}
		if len(notes) > 0 {
			ew.printf("\n%s\n", strings.Join(notes, " "))
		}
	}
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// CookieRef names a cookie of a service in a diff.
type CookieRef struct {
	Service  string   `json:"service"`
	Name     string   `json:"name"`
	Domain   string   `json:"domain"`
	Path     string   `json:"path"`
	Findings []string `json:"findings,omitempty"` // of the added or removed cookie
}

// FieldChange is one attribute that changed between two reports.
type FieldChange struct {
	Field string `json:"field"` // the JSON field name ("secure", "findings")
	Old   string `json:"old"`
	New   string `json:"new"`
}

// CookieChange is a cookie present in both reports whose attributes changed.
type CookieChange struct {
	CookieRef
	Changes []FieldChange `json:"changes"`
}

// ReportDiff is what changed between two reports: the weekly privacy
// review. Counts and times are not changes; attributes, value classes,
// declarations, labels and findings are.
type ReportDiff struct {
	OldGeneratedAt time.Time      `json:"old_generated_at"`
	NewGeneratedAt time.Time      `json:"new_generated_at"`
	Added          []CookieRef    `json:"added"`
	Removed        []CookieRef    `json:"removed"`
	Changed        []CookieChange `json:"changed"`
	// LongLifetimeRule, when the two reports applied different
	// long-lifetime rules, is that change (field "long_lifetime_rule"):
	// findings may then change without any cookie changing.
	LongLifetimeRule *FieldChange `json:"long_lifetime_rule,omitempty"`
}

// Empty reports whether nothing changed.
func (d ReportDiff) Empty() bool {
	return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 && d.LongLifetimeRule == nil
}

// Diff compares two reports (`alsd report cookies --diff OLD.json NEW.json`).
func Diff(old, new Report) ReportDiff {
	d := ReportDiff{OldGeneratedAt: old.GeneratedAt, NewGeneratedAt: new.GeneratedAt, Added: []CookieRef{}, Removed: []CookieRef{}, Changed: []CookieChange{}}
	if o, n := old.LongLifetime.Rule, new.LongLifetime.Rule; o != "" && n != "" && o != n {
		d.LongLifetimeRule = &FieldChange{Field: "long_lifetime_rule", Old: o, New: n}
	}
	oldIdx, newIdx := indexReport(old), indexReport(new)
	for _, k := range sortedRefs(newIdx) {
		n := newIdx[k]
		o, ok := oldIdx[k]
		if !ok {
			r := k.ref()
			r.Findings = n.Findings
			d.Added = append(d.Added, r)
			continue
		}
		if ch := cookieChanges(o, n); len(ch) > 0 {
			d.Changed = append(d.Changed, CookieChange{CookieRef: k.ref(), Changes: ch})
		}
	}
	for _, k := range sortedRefs(oldIdx) {
		if _, ok := newIdx[k]; !ok {
			r := k.ref()
			r.Findings = oldIdx[k].Findings
			d.Removed = append(d.Removed, r)
		}
	}
	return d
}

type refKey struct{ service, name, domain, path string }

func (k refKey) ref() CookieRef {
	return CookieRef{Service: k.service, Name: k.name, Domain: k.domain, Path: k.path}
}

func indexReport(r Report) map[refKey]CookieReport {
	idx := map[refKey]CookieReport{}
	for _, s := range r.Services {
		for _, c := range s.Cookies {
			idx[refKey{s.Service, c.Name, c.Domain, c.Path}] = c
		}
	}
	return idx
}

func sortedRefs(idx map[refKey]CookieReport) []refKey {
	keys := slices.Collect(maps.Keys(idx))
	slices.SortFunc(keys, func(a, b refKey) int {
		return cmp.Or(cmp.Compare(a.service, b.service), cmp.Compare(a.name, b.name), cmp.Compare(a.domain, b.domain), cmp.Compare(a.path, b.path))
	})
	return keys
}

func cookieChanges(o, n CookieReport) []FieldChange {
	var ch []FieldChange
	add := func(field, a, b string) {
		if a != b {
			ch = append(ch, FieldChange{Field: field, Old: a, New: b})
		}
	}
	maxAge := func(p *int64) string {
		if p == nil {
			return "session"
		}
		return strconv.FormatInt(*p, 10)
	}
	classes := func(m map[string]uint64) string {
		var names []string
		for c := range httpcookie.NumClasses {
			if m[c.String()] > 0 {
				names = append(names, c.String())
			}
		}
		return strings.Join(names, ",")
	}
	add("sources", strings.Join(o.Sources, ","), strings.Join(n.Sources, ","))
	add("secure", strconv.FormatBool(o.Secure), strconv.FormatBool(n.Secure))
	add("http_only", strconv.FormatBool(o.HTTPOnly), strconv.FormatBool(n.HTTPOnly))
	add("same_site", o.SameSite, n.SameSite)
	add("partitioned", strconv.FormatBool(o.Partitioned), strconv.FormatBool(n.Partitioned))
	add("max_age_s", maxAge(o.MaxAgeS), maxAge(n.MaxAgeS))
	add("value_classes", classes(o.ValueClasses), classes(n.ValueClasses))
	add("declared", strconv.FormatBool(o.Declared), strconv.FormatBool(n.Declared))
	add("category", o.Category, n.Category)
	add("vendor", o.Vendor, n.Vendor)
	add("findings", strings.Join(o.Findings, ","), strings.Join(n.Findings, ","))
	return ch
}

// WriteDiff renders a diff as md (for the review), csv (one row per added,
// removed or changed field) or json.
func WriteDiff(w io.Writer, d ReportDiff, format string) error {
	switch format {
	case FormatJSON:
		return writeJSON(w, d)
	case FormatCSV:
		return writeDiffCSV(w, d)
	case FormatMarkdown:
		return writeDiffMarkdown(w, d)
	}
	return fmt.Errorf("unknown diff format %q (want md, csv or json)", format)
}

func writeDiffCSV(w io.Writer, d ReportDiff) error {
	cw := csv.NewWriter(w)
	write := func(row ...string) {
		for i := range row {
			row[i] = csvSafe(row[i])
		}
		_ = cw.Write(row) // the error sticks in cw.Error
	}
	write("change", "service", "name", "domain", "path", "field", "old", "new")
	if r := d.LongLifetimeRule; r != nil {
		write("rule", "", "", "", "", r.Field, r.Old, r.New)
	}
	for _, r := range d.Added {
		write("added", r.Service, r.Name, r.Domain, r.Path, "findings", "", strings.Join(r.Findings, ";"))
	}
	for _, r := range d.Removed {
		write("removed", r.Service, r.Name, r.Domain, r.Path, "findings", strings.Join(r.Findings, ";"), "")
	}
	for _, c := range d.Changed {
		for _, f := range c.Changes {
			write("changed", c.Service, c.Name, c.Domain, c.Path, f.Field, f.Old, f.New)
		}
	}
	cw.Flush()
	return cw.Error()
}

func refLine(r CookieRef) string {
	where := ""
	if r.Domain != "" || r.Path != "" {
		where = fmt.Sprintf(" (domain %s, path %s)", cmp.Or(mdCell(r.Domain), "–"), cmp.Or(mdCell(r.Path), "–"))
	}
	return fmt.Sprintf("**%s** %s%s", mdCell(r.Service), mdCell(r.Name), where)
}

func writeDiffMarkdown(w io.Writer, d ReportDiff) error {
	ew := &errWriter{w: w}
	ew.printf("# Cookie inventory changes\n\nFrom %s to %s: %d added, %d removed, %d changed.\n",
		d.OldGeneratedAt.UTC().Format(time.RFC3339), d.NewGeneratedAt.UTC().Format(time.RFC3339),
		len(d.Added), len(d.Removed), len(d.Changed))
	if r := d.LongLifetimeRule; r != nil {
		ew.printf("\nThe long-lifetime rule changed from %s to %s: long-lifetime findings may change for that reason alone.\n", r.Old, r.New)
	}
	section := func(title string, refs []CookieRef) {
		if len(refs) == 0 {
			return
		}
		ew.printf("\n## %s\n\n", title)
		for _, r := range refs {
			findings := "no findings"
			if len(r.Findings) > 0 {
				findings = "findings: " + strings.Join(r.Findings, ", ")
			}
			ew.printf("- %s — %s\n", refLine(r), findings)
		}
	}
	section("Added", d.Added)
	section("Removed", d.Removed)
	if len(d.Changed) > 0 {
		ew.printf("\n## Changed\n\n")
		for _, c := range d.Changed {
			ew.printf("- %s\n", refLine(c.CookieRef))
			for _, f := range c.Changes {
				ew.printf("  - %s: %s → %s\n", f.Field, cmp.Or(mdCell(f.Old), "(none)"), cmp.Or(mdCell(f.New), "(none)"))
			}
		}
	}
	return ew.err
}
