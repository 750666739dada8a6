package webui

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/sli"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults of Config.
const (
	DefaultSampleInterval  = 10 * time.Second
	DefaultHistoryLength   = 3 * time.Hour
	DefaultMaxSeries       = 1000
	DefaultRecentBad       = 50
	DefaultMaxServices     = 1000
	DefaultRefreshInterval = 15 * time.Second
)

// Config configures a UI. Every field is optional: a page whose source is
// missing says so instead of failing (alsd --compute=false has no SLOs or
// cookies, only the pipeline).
type Config struct {
	// SLO returns the current /api/slo document, usually
	// (*sli.Tracker).Snapshot.
	SLO func() sli.Report
	// SLOState returns the tracker's slots and per-route counters, usually
	// (*sli.Tracker).State. The detail page draws requests and error ratios
	// over time and the per-route table from it. Nil: those sections say
	// they are not available.
	SLOState func() *sli.State
	// Month returns the monthly report (SPEC §9) of the calendar month a
	// time lies in, usually (*sli.Tracker).Month. The service page shows
	// it under a month selector. Nil: no monthly report.
	Month func(time.Time) sli.MonthReport
	// Cookies returns the current /api/cookies document, usually
	// (*cookies.Inventory).Snapshot.
	Cookies func() cookies.Report
	// Dependencies returns the current /api/dependencies document, usually
	// (*edges.Tracker).Snapshot: the /graph page and each service page's
	// callers. Nil: those say they are not available.
	Dependencies func() edges.Report
	// Catalog gives services their team, kind and runbook. Default
	// catalog.Empty().
	Catalog *catalog.Catalog
	// Gatherer is where the pipeline page reads alsd's own metrics
	// (SPEC §5), usually alsd's prometheus.Registry.
	Gatherer prometheus.Gatherer
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// SampleInterval is how often Run samples budgets and pipeline
	// counters for the history graphs. Default DefaultSampleInterval.
	SampleInterval time.Duration
	// HistoryLength is how far back the sampled history goes. Default
	// DefaultHistoryLength.
	HistoryLength time.Duration
	// MaxSeries caps the (service, SLO) pairs with a sampled history;
	// further ones are shown without one. Default DefaultMaxSeries.
	MaxSeries int
	// RecentBad is how many recent bad requests are kept per service.
	// Default DefaultRecentBad.
	RecentBad int
	// MaxServices caps the services ObserveBad keeps requests of; bad
	// requests of further services are not kept. Default
	// DefaultMaxServices.
	MaxServices int
	// RefreshInterval is how often the pages refresh themselves in the
	// browser. Default DefaultRefreshInterval.
	RefreshInterval time.Duration
	// Logger receives rendering failures. Default slog.Default().
	Logger *slog.Logger
}

// UI serves the web UI. Its methods are safe for concurrent use.
type UI struct {
	cfg     Config
	log     *slog.Logger
	pages   map[string]*template.Template
	static  http.Handler
	history *history
	recent  *recent
}

// The pages, by template file name.
const (
	pageOverview = "overview.html"
	pageDetail   = "detail.html"
	pageCookies  = "cookies.html"
	pageDiff     = "diff.html"
	pagePipeline = "pipeline.html"
	pageGraph    = "graph.html"
	pageNotFound = "notfound.html"
)

// New returns a UI; it fails only when a duration or cap is negative.
func New(cfg Config) (*UI, error) {
	for name, d := range map[string]time.Duration{
		"sample interval": cfg.SampleInterval, "history length": cfg.HistoryLength, "refresh interval": cfg.RefreshInterval,
	} {
		if d < 0 {
			return nil, fmt.Errorf("webui: negative %s %v", name, d)
		}
	}
	for name, n := range map[string]int{"max series": cfg.MaxSeries, "recent bad": cfg.RecentBad, "max services": cfg.MaxServices} {
		if n < 0 {
			return nil, fmt.Errorf("webui: negative %s %d", name, n)
		}
	}
	if cfg.SampleInterval == 0 {
		cfg.SampleInterval = DefaultSampleInterval
	}
	if cfg.HistoryLength == 0 {
		cfg.HistoryLength = DefaultHistoryLength
	}
	if cfg.MaxSeries == 0 {
		cfg.MaxSeries = DefaultMaxSeries
	}
	if cfg.RecentBad == 0 {
		cfg.RecentBad = DefaultRecentBad
	}
	if cfg.MaxServices == 0 {
		cfg.MaxServices = DefaultMaxServices
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.Catalog == nil {
		cfg.Catalog = catalog.Empty()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	u := &UI{
		cfg:     cfg,
		log:     cfg.Logger,
		pages:   map[string]*template.Template{},
		history: newHistory(cfg.SampleInterval, cfg.HistoryLength, cfg.MaxSeries),
		recent:  newRecent(cfg.RecentBad, cfg.MaxServices),
	}
	for _, p := range []string{pageOverview, pageDetail, pageCookies, pageDiff, pagePipeline, pageGraph, pageNotFound} {
		t, err := template.New(p).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/chart.html", "templates/callers.html", "templates/"+p)
		if err != nil {
			return nil, fmt.Errorf("webui: template %q: %w", p, err)
		}
		u.pages[p] = t
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("webui: static assets: %w", err)
	}
	u.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	return u, nil
}

// Run samples the history every Config.SampleInterval until ctx ends.
// Without Run the pages work, but the history graphs stay empty.
func (u *UI) Run(ctx context.Context) error {
	t := time.NewTicker(u.cfg.SampleInterval)
	defer t.Stop()
	for {
		u.Sample()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sample records one point of every history series now; Run calls it on
// its ticker.
func (u *UI) Sample() {
	now := u.cfg.Now()
	if u.cfg.SLO != nil {
		u.history.addSLOs(now, u.cfg.SLO())
	}
	if u.cfg.Gatherer != nil {
		if p, err := gatherPipeline(u.cfg.Gatherer); err == nil {
			u.history.addPipeline(now, p)
		}
	}
}

// ObserveBad keeps one bad request (SPEC §3 outcome "bad") for the
// service's detail page. Only the method, the path without its query
// string, the status and the response flags are kept — never headers or
// cookies. flags is copied.
func (u *UI) ObserveBad(service, method, path string, status int, flags []string, t time.Time) {
	if t.IsZero() {
		t = u.cfg.Now()
	}
	u.recent.add(service, method, path, status, flags, t)
}

// Handler serves the UI; mount it at "/" of the admin mux, after the more
// specific /metrics and /api/ routes. Paths it does not know answer with
// a 404 page.
func (u *UI) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", u.overview)
	mux.HandleFunc("GET /slo/{service}", u.detail)
	mux.HandleFunc("GET /cookies", u.cookiesPage)
	mux.HandleFunc("GET /cookies.csv", u.cookiesDownload(cookies.FormatCSV, "text/csv; charset=utf-8"))
	mux.HandleFunc("GET /cookies.md", u.cookiesDownload(cookies.FormatMarkdown, "text/markdown; charset=utf-8"))
	mux.HandleFunc("POST /cookies/diff", u.cookiesDiff)
	mux.HandleFunc("GET /pipeline", u.pipelinePage)
	mux.HandleFunc("GET /graph", u.graphPage)
	mux.Handle("GET /static/", u.static)
	mux.HandleFunc("/", u.notFound)
	return securityHeaders(mux)
}

// securityHeaders keeps the pages self-contained: no inline script, nothing
// loaded from elsewhere, no framing.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// page is what every page template gets: the layout's fields and the
// page's own data.
type page struct {
	Title     string
	Nav       string // the nav entry to mark as current
	Generated time.Time
	Refresh   int // seconds; 0: the page does not refresh itself
	Data      any
}

func (u *UI) render(w http.ResponseWriter, status int, name string, p page) {
	if p.Generated.IsZero() {
		p.Generated = u.cfg.Now().UTC()
	}
	var b bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		u.log.Error("webui: rendering page", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes()) // the client went away
}

func (u *UI) refreshSeconds() int {
	return max(1, int(u.cfg.RefreshInterval/time.Second))
}

func (u *UI) notFound(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	u.render(w, http.StatusNotFound, pageNotFound, page{Title: "Not found", Data: notFoundView{Path: r.URL.Path}})
}

type notFoundView struct {
	Path    string
	Service string // set when /slo/<service> names no known service
}

// team returns the catalog team of a service, "" when none.
func (u *UI) team(service string) string {
	if s := u.cfg.Catalog.Lookup(service); s != nil {
		return s.Team
	}
	return u.cfg.Catalog.Defaults.Team
}

// teams lists the catalog's teams, in file order, for the filter.
func (u *UI) teams() []string {
	var out []string
	for _, t := range u.cfg.Catalog.Teams {
		out = append(out, t.Name)
	}
	return out
}

// cutQuery drops a query string or fragment: they carry PII.
func cutQuery(path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		return path[:i]
	}
	return path
}
