package webui

import (
	"html/template"
	"strconv"
	"time"

	"github.com/meshtel/meshtel/edges"
)

// funcs are the template helpers.
var funcs = template.FuncMap{
	// when is a time for people: UTC, to the second.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	// iso is a time for <time datetime>.
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"clock": func(t time.Time) string {
		return t.UTC().Format("15:04:05") + " UTC"
	},
	// symbol gives each status a shape, so that it never rests on colour.
	"symbol": func(status string) string {
		switch status {
		case statusExhausted:
			return "✖"
		case statusBurning:
			return "▲"
		}
		return "✔"
	},
	"num":   func(v uint64) string { return groupDigits(strconv.FormatUint(v, 10)) },
	"fnum":  func(v float64) string { return groupDigits(strconv.FormatFloat(v, 'f', 0, 64)) },
	"f1":    func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"sub":   func(a, b float64) float64 { return a - b },
	"add":   func(a, b float64) float64 { return a + b },
	"div2":  func(a float64) float64 { return a / 2 },
	"bytes": formatBytes,
	"pct":   func(v float64) string { return formatPercent(v, 1) },
	"yesno": func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	},
	"dur": func(d time.Duration) string { return d.String() },
	// secs is a number of seconds as a duration, to the second.
	"secs": func(s float64) time.Duration { return time.Duration(s) * time.Second },
	// classes are the error classes of dependency edges, and "unused".
	"classes": func() []string { return []string{edges.ClassOK, edges.ClassWarn, edges.ClassBad, "unused"} },
}

// groupDigits puts thin spaces between groups of three digits.
func groupDigits(s string) string {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if len(s) <= 4 {
		if neg {
			return "-" + s
		}
		return s
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, "\u202f"...)
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}
