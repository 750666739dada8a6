// Package webui is alsd's built-in web UI, served from the admin address:
// the SLO overview (GET /), a service's detail page (GET /slo/<service>,
// with the monthly report of the month picked by ?month=YYYY-MM, and the
// service as its callers see it beside its own SLI), the dependency graph
// (GET /graph: services coloured by SLO status, edges by error ratio,
// undeclared calls and unused declarations marked), the cookie inventory
// (GET /cookies, with CSV and Markdown downloads and a diff against a saved
// report) and the pipeline's own health (GET /pipeline).
//
// Pages are rendered on the server with html/template; charts and the
// graph (a layered layout computed here) are inline SVG drawn on the
// server. The stylesheet and a small script (sorting, filtering,
// auto-refresh) are embedded in the binary, so the UI needs no build step,
// no CDN and no network beyond alsd itself. Every page works without
// JavaScript; the script only adds to it.
//
// Data comes from what alsd already computes: the /api/slo, /api/cookies
// and /api/dependencies documents (sli.Report, cookies.Report,
// edges.Report), the SLI tracker's slots and per-route counters
// (sli.State), its per-day totals (sli.MonthReport) and alsd's own
// Prometheus metrics. Two things no other package keeps are kept here,
// bounded: a history of each SLO's budget and SLI and of the pipeline
// counters, sampled by Run every Config.SampleInterval over
// Config.HistoryLength, and the most recent bad requests per service with
// their response flags, fed by ObserveBad. Both start empty when alsd starts; they are not
// checkpointed.
//
// The UI never sees a cookie value (cookies.Report has none) and never
// shows a query string: ObserveBad cuts it off before storing the path.
//
// The package deliberately does not alert, query Prometheus, or change any
// state: every page is a read-only view; the cookie diff form only
// compares an uploaded report with the current one, and the month form
// only picks what to show.
package webui
