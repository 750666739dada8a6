package edges

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The report formats of WriteReport.
const (
	FormatJSON     = "json"
	FormatMarkdown = "md"
	FormatDOT      = "dot"
)

// ContentType is the HTTP Content-Type of each report format.
var ContentType = map[string]string{
	FormatJSON:     "application/json",
	FormatMarkdown: "text/markdown; charset=utf-8",
	FormatDOT:      "text/vnd.graphviz; charset=utf-8",
}

// WriteReport renders r as "json" (the /api/dependencies document), "md"
// (tables to paste into a review) or "dot" (a Graphviz digraph: dot -Tsvg).
func WriteReport(w io.Writer, r Report, format string) error {
	var b bytes.Buffer
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write dependencies report: %w", err)
		}
	case FormatMarkdown:
		if err := writeMarkdown(&b, r); err != nil {
			return err
		}
	case FormatDOT:
		writeDOT(&b, r)
	default:
		return fmt.Errorf("unknown report format %q (want md, json or dot)", format)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write dependencies report: %w", err)
	}
	return nil
}

func writeMarkdown(b *bytes.Buffer, r Report) error {
	fmt.Fprintf(b, "Dependencies at %s, counted since %s\n\n", r.GeneratedAt.UTC().Format(time.RFC3339), r.Since.UTC().Format(time.RFC3339))
	if len(r.Edges) == 0 {
		b.WriteString("No outbound calls observed.\n")
	} else {
		tw := tabwriter.NewWriter(b, 0, 0, 1, ' ', tabwriter.Debug)
		fmt.Fprintln(tw, "| source\t destination\t requests\t errors\t error ratio\t p99\t req/s (recent)\t declared\t")
		fmt.Fprintln(tw, "|---\t---\t---\t---\t---\t---\t---\t---\t")
		for _, e := range r.Edges {
			fmt.Fprintf(tw, "| %s\t %s\t %d\t %d\t %s\t %s\t %s\t %s\t\n", e.Source, e.Destination, e.Requests, e.Errors,
				percent(e.ErrorRatio), p99Text(e.P99Ms), strconv.FormatFloat(e.RequestsPerSecond, 'f', 2, 64), yesNo(e.Declared))
		}
		// tabwriter's Debug mode separates cells with '|', which is
		// exactly a Markdown table row once the trailing one closes it.
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write dependencies report: %w", err)
		}
	}
	pairs := func(title, none string, ps []Pair) {
		fmt.Fprintf(b, "\n%s\n\n", title)
		if len(ps) == 0 {
			fmt.Fprintf(b, "%s\n", none)
		}
		for _, p := range ps {
			fmt.Fprintf(b, "- %s → %s\n", p.Source, p.Destination)
		}
	}
	pairs("Undeclared: observed calls the catalog does not declare in the caller's upstreams", "None.", r.Undeclared)
	pairs("Unused: declared upstreams with no call since "+r.Since.UTC().Format(time.RFC3339), "None.", r.Unused)
	return nil
}

func percent(x float64) string { return strconv.FormatFloat(x*100, 'f', 3, 64) + "%" }

func p99Text(ms *float64) string {
	if ms == nil {
		return "—"
	}
	return strconv.FormatFloat(*ms, 'f', 1, 64) + "ms"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// The error ratio classes of an edge, which the DOT output and the web UI
// colour by: below 0.1%, below 1%, 1% or more.
const (
	ClassOK   = "ok"
	ClassWarn = "warn"
	ClassBad  = "bad"
)

// ErrorClass returns the class of an error ratio.
func ErrorClass(ratio float64) string {
	switch {
	case ratio >= 0.01:
		return ClassBad
	case ratio >= 0.001:
		return ClassWarn
	}
	return ClassOK
}

// dotColors are the DOT colours of the classes (colour-blind safe against
// each other and the grey of unused declarations).
var dotColors = map[string]string{ClassOK: "#1b7837", ClassWarn: "#e08214", ClassBad: "#b2182b"}

const (
	dotUnused = "#8c8c8c"
	dotFont   = "Helvetica"
)

// writeDOT renders r as a left-to-right digraph: observed edges labelled
// with their counts, pen width growing with the request count, colour by
// error ratio; undeclared edges dashed and labelled so; unused
// declarations dotted and grey.
func writeDOT(b *bytes.Buffer, r Report) {
	b.WriteString("digraph dependencies {\n")
	fmt.Fprintf(b, "  graph [rankdir=LR, fontname=%q, label=%s, labelloc=t];\n", dotFont,
		dotQuote("meshtel dependencies since "+r.Since.UTC().Format(time.RFC3339)))
	fmt.Fprintf(b, "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f5f5f5\", fontname=%q];\n", dotFont)
	fmt.Fprintf(b, "  edge [fontname=%q, fontsize=10];\n", dotFont)
	for _, n := range nodeNames(r) {
		fmt.Fprintf(b, "  %s;\n", dotQuote(n))
	}
	for _, e := range r.Edges {
		label := fmt.Sprintf("%d req, %s err", e.Requests, percent(e.ErrorRatio))
		if e.P99Ms != nil {
			label += ", p99 " + p99Text(e.P99Ms)
		}
		style := "solid"
		if !e.Declared {
			label, style = "UNDECLARED\n"+label, "dashed"
		}
		color := dotColors[ErrorClass(e.ErrorRatio)]
		width := 1 + math.Log10(float64(max(e.Requests, 1)))/2
		fmt.Fprintf(b, "  %s -> %s [label=%s, color=%q, fontcolor=%q, style=%s, penwidth=%s];\n",
			dotQuote(e.Source), dotQuote(e.Destination), dotQuote(label), color, color,
			style, strconv.FormatFloat(width, 'f', 2, 64))
	}
	for _, p := range r.Unused {
		fmt.Fprintf(b, "  %s -> %s [label=\"unused (declared)\", color=%q, fontcolor=%q, style=dotted];\n",
			dotQuote(p.Source), dotQuote(p.Destination), dotUnused, dotUnused)
	}
	b.WriteString("}\n")
}

// nodeNames lists every service the report names, sorted.
func nodeNames(r Report) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, e := range r.Edges {
		add(e.Source)
		add(e.Destination)
	}
	for _, p := range r.Unused {
		add(p.Source)
		add(p.Destination)
	}
	slices.Sort(out)
	return out
}

// dotQuote quotes s as a DOT string: backslashes and quotes escaped, and
// newlines as DOT's centred line break.
func dotQuote(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
	return `"` + s + `"`
}

// Handler serves GET /api/dependencies: the Snapshot as JSON, or with
// ?format=md or ?format=dot in those formats.
func (t *Tracker) Handler() http.Handler {
	return ReportHandler(func() (Report, error) { return t.Snapshot(), nil })
}

// ReportHandler serves GET /api/dependencies from report, in the format
// ?format= asks for (default json).
func ReportHandler(report func() (Report, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		format := req.URL.Query().Get("format")
		if format == "" {
			format = FormatJSON
		}
		if _, ok := ContentType[format]; !ok {
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("unknown report format %q (want md, json or dot)", format))
			return
		}
		r, err := report()
		if err != nil {
			writeJSONError(w, http.StatusInternalServerError, err.Error())
			return
		}
		var b bytes.Buffer
		if err := WriteReport(&b, r, format); err != nil {
			writeJSONError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", ContentType[format])
		w.Header().Set("Cache-Control", "no-store")
		if req.Method != http.MethodHead {
			_, _ = w.Write(b.Bytes()) // the client went away
		}
	})
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
