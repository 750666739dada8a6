package webui

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshtel/meshtel/cookies"
)

// maxDiffUpload bounds the saved report a diff may upload.
const maxDiffUpload = 16 << 20

// cookieRow is one cookie of the inventory table.
type cookieRow struct {
	Service, Name, Domain, Path string
	Sources                     string
	Secure, HTTPOnly            bool
	SameSite                    string
	Lifetime                    string
	MaxAgeS                     int64 // for sorting; -1 for session cookies
	ValueClasses                string
	Distinct                    uint64
	FirstSeen, LastSeen         time.Time
	Requests, Responses         uint64
	Declared                    bool
	Category, Vendor            string
	Findings                    []string
}

type cookiesView struct {
	Enabled             bool
	Rows                []cookieRow
	Shown, Total        int
	Services, Findings  []string
	Service, Finding, Q string
	HaveDB              bool
	Notes               []string             // malformed and overflow counts
	Rule                cookies.LifetimeRule // what long-lifetime means here
}

func (u *UI) cookiesPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := cookiesView{Enabled: u.cfg.Cookies != nil, Findings: cookies.Findings,
		Service: q.Get("service"), Finding: q.Get("finding"), Q: strings.TrimSpace(q.Get("q"))}
	p := page{Title: "Cookies", Nav: "cookies", Refresh: u.refreshSeconds(), Data: &v}
	if v.Enabled {
		rep := u.cfg.Cookies()
		p.Generated = rep.GeneratedAt
		v.Rule = rep.LongLifetime
		for _, s := range rep.Services {
			v.Services = append(v.Services, s.Service)
			for _, reason := range slices.Sorted(maps.Keys(s.Malformed)) {
				v.Notes = append(v.Notes, fmt.Sprintf("%s: %d cookies not taken (%s)", s.Service, s.Malformed[reason], reason))
			}
			if s.Overflow > 0 {
				v.Notes = append(v.Notes, fmt.Sprintf("%s: %d observations beyond the cap of distinct cookies", s.Service, s.Overflow))
			}
			for _, c := range s.Cookies {
				v.Total++
				v.HaveDB = v.HaveDB || c.Category != "" || c.Vendor != ""
				if v.Service != "" && s.Service != v.Service ||
					v.Finding != "" && !slices.Contains(c.Findings, v.Finding) ||
					v.Q != "" && !strings.Contains(strings.ToLower(c.Name), strings.ToLower(v.Q)) {
					continue
				}
				v.Rows = append(v.Rows, cookieRowOf(s.Service, c))
			}
		}
		// Cookies with findings first: the privacy review starts there.
		slices.SortStableFunc(v.Rows, func(a, b cookieRow) int { return cmp.Compare(len(b.Findings), len(a.Findings)) })
		v.Shown = len(v.Rows)
	}
	u.render(w, http.StatusOK, pageCookies, p)
}

func cookieRowOf(service string, c cookies.CookieReport) cookieRow {
	row := cookieRow{
		Service: service, Name: c.Name, Domain: c.Domain, Path: c.Path,
		Sources: strings.Join(c.Sources, ", "), Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite,
		Lifetime: "session", MaxAgeS: -1, Distinct: c.DistinctValues,
		FirstSeen: c.FirstSeen, LastSeen: c.LastSeen, Requests: c.Requests, Responses: c.Responses,
		Declared: c.Declared, Category: c.Category, Vendor: c.Vendor, Findings: c.Findings,
	}
	if c.MaxAgeS != nil {
		row.MaxAgeS = *c.MaxAgeS
		row.Lifetime = lifetime(*c.MaxAgeS)
	}
	var classes []string
	for _, k := range slices.Sorted(maps.Keys(c.ValueClasses)) {
		classes = append(classes, k+" "+strconv.FormatUint(c.ValueClasses[k], 10))
	}
	row.ValueClasses = strings.Join(classes, ", ")
	return row
}

// lifetime renders a Max-Age for people.
func lifetime(s int64) string {
	switch {
	case s <= 0:
		return "deleted"
	case s >= 365*86400:
		return strconv.FormatFloat(float64(s)/(365*86400), 'f', 1, 64) + " years"
	case s >= 2*86400:
		return strconv.FormatInt(s/86400, 10) + " days"
	case s >= 2*3600:
		return strconv.FormatInt(s/3600, 10) + " hours"
	case s >= 120:
		return strconv.FormatInt(s/60, 10) + " minutes"
	}
	return strconv.FormatInt(s, 10) + " s"
}

// cookiesDownload serves the report in one of the `alsd report cookies`
// formats as a file download.
func (u *UI) cookiesDownload(format, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if u.cfg.Cookies == nil {
			u.notFound(w, r)
			return
		}
		rep := u.cfg.Cookies()
		var b bytes.Buffer
		if err := cookies.WriteReport(&b, rep, format); err != nil {
			u.log.Error("webui: cookie report", "format", format, "err", err)
			http.Error(w, "internal error writing the report", http.StatusInternalServerError)
			return
		}
		name := "cookies-" + rep.GeneratedAt.UTC().Format("20060102T150405Z") + "." + format
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b.Bytes()) // the client went away
	}
}

type diffView struct {
	Diff  cookies.ReportDiff
	Error string
}

// cookiesDiff compares an uploaded report (saved from /api/cookies or
// `alsd report cookies --format json`) with the current inventory.
func (u *UI) cookiesDiff(w http.ResponseWriter, r *http.Request) {
	p := page{Title: "Cookie changes", Nav: "cookies"}
	v := diffView{}
	p.Data = &v
	if u.cfg.Cookies == nil {
		u.notFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxDiffUpload)
	f, _, err := r.FormFile("old")
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			v.Error = fmt.Sprintf("The uploaded report is larger than %d MiB.", maxDiffUpload>>20)
		} else {
			v.Error = "Choose a saved report (JSON) to compare with."
		}
		u.render(w, http.StatusBadRequest, pageDiff, p)
		return
	}
	defer f.Close()
	old, err := cookies.ReadReport(f)
	if err != nil {
		v.Error = "The uploaded file is not a cookie report: " + err.Error()
		u.render(w, http.StatusBadRequest, pageDiff, p)
		return
	}
	cur := u.cfg.Cookies()
	p.Generated = cur.GeneratedAt
	v.Diff = cookies.Diff(old, cur)
	u.render(w, http.StatusOK, pageDiff, p)
}
