package aggregate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/cookies"
	"github.com/meshtel/meshtel/edges"
	"github.com/meshtel/meshtel/sli"
)

// view is the state of every owned partition merged into one tracker, one
// inventory and one edge tracker, as an all-in-one alsd that saw only these
// partitions' records would hold it. It is built per read: reads are rare (scrapes,
// reports) next to records, and the partitions keep no shared state that
// every record would have to update.
type view struct {
	tracker   *sli.Tracker
	inventory *cookies.Inventory
	edges     *edges.Tracker
	reg       *prometheus.Registry
	owns      func(service string) bool
}

func (a *Aggregator) view() (*view, error) {
	a.mu.Lock()
	parts := make([]*partition, 0, len(a.owned))
	owned := make(map[int]bool, len(a.owned))
	for p, pt := range a.owned {
		// A partition the coordinator has not confirmed for a session
		// timeout may have another owner answering for it already.
		if pt.leased() {
			parts = append(parts, pt)
			owned[p] = true
		}
	}
	a.mu.Unlock()

	v := &view{reg: prometheus.NewRegistry()}
	var err error
	if v.tracker, err = sli.New(sli.Config{Catalog: a.cfg.Catalog, Registerer: v.reg, Now: a.cfg.Now, Logger: a.log}); err != nil {
		return nil, err
	}
	if v.inventory, err = cookies.New(cookies.Config{Catalog: a.cfg.Catalog, Registerer: v.reg, Now: a.cfg.Now, Logger: a.log}); err != nil {
		return nil, err
	}
	if v.edges, err = edges.New(edges.Config{Catalog: a.cfg.Catalog, Registerer: v.reg, Now: a.cfg.Now, Logger: a.log}); err != nil {
		return nil, err
	}
	counted := map[string]bool{}
	for _, pt := range parts {
		st := pt.tracker.Load().State()
		for _, s := range st.Services {
			if len(s.Routes) > 0 {
				counted[s.Name] = true
			}
		}
		v.tracker.Add(st)
		data, err := pt.inventory.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("cookie state of partition %d: %w", pt.id, err)
		}
		if err := v.inventory.MergeState(data); err != nil {
			return nil, fmt.Errorf("cookie state of partition %d: %w", pt.id, err)
		}
		v.edges.Add(pt.edges.State())
	}
	// Close sets the mesh_cookies gauges; without a state dir it writes
	// nothing.
	_ = v.inventory.Close()
	n := int(a.partitions.Load())
	// A service is ours when we counted it, or, for the catalog's services
	// without traffic, when its records would land in a partition we own:
	// so every service shows up at exactly one aggregator.
	v.owns = func(service string) bool {
		if counted[service] || service == sli.OtherService {
			return true
		}
		return n > 0 && owned[PartitionOf(service, n)]
	}
	return v, nil
}

// PartitionOf returns the record-topic partition of service's records
// among n (0 when n is not positive): the Kafka key is the service name,
// partitioned by murmur2 as the Java client and alsd's sink do.
func PartitionOf(service string, n int) int {
	if n <= 0 {
		return 0
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(service)}, ids...)
}

// SLOReport returns the /api/slo document of the services the aggregator
// owns now.
func (a *Aggregator) SLOReport() (sli.Report, error) {
	v, err := a.view()
	if err != nil {
		return sli.Report{}, err
	}
	r := v.tracker.Snapshot()
	r.SLOs = slices.DeleteFunc(r.SLOs, func(s sli.SLOStatus) bool { return !v.owns(s.Service) })
	return r, nil
}

// CookieReport returns the /api/cookies document of the services the
// aggregator owns now.
func (a *Aggregator) CookieReport() (cookies.Report, error) {
	v, err := a.view()
	if err != nil {
		return cookies.Report{}, err
	}
	r := v.inventory.Snapshot()
	r.Services = slices.DeleteFunc(r.Services, func(s cookies.ServiceReport) bool { return !v.owns(s.Service) })
	return r, nil
}

// MonthReport returns the monthly report (SPEC §9) of the calendar month
// month lies in, for the services the aggregator owns now: their per-day
// totals live in the partitions' checkpoints like every other count.
func (a *Aggregator) MonthReport(month time.Time) (sli.MonthReport, error) {
	v, err := a.view()
	if err != nil {
		return sli.MonthReport{}, err
	}
	r := v.tracker.Month(month)
	r.SLOs = slices.DeleteFunc(r.SLOs, func(s sli.MonthSLO) bool { return !v.owns(s.Service) })
	return r, nil
}

// DependenciesReport returns the /api/dependencies document of the
// partitions the aggregator owns now: the edges their outbound records
// make (a source's records share its partition; sources outside the
// catalog, counted as edges.Other, may show up at several aggregators and
// add up when merged), and the unused declarations of the services it
// owns.
func (a *Aggregator) DependenciesReport() (edges.Report, error) {
	v, err := a.view()
	if err != nil {
		return edges.Report{}, err
	}
	r := v.edges.Snapshot()
	r.Unused = slices.DeleteFunc(r.Unused, func(p edges.Pair) bool { return !v.owns(p.Source) })
	return r, nil
}

// DependenciesHandler serves GET /api/dependencies (?format=md|dot).
func (a *Aggregator) DependenciesHandler() http.Handler {
	return edges.ReportHandler(a.DependenciesReport)
}

// SLOHandler serves GET /api/slo (?format=md for the Markdown table;
// ?month=YYYY-MM for the monthly report, as json, md or csv).
func (a *Aggregator) SLOHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		sli.ServeReport(w, r, a.SLOReport, a.MonthReport)
	})
}

// CookiesHandler serves GET /api/cookies (?format=md|csv; ?service=NAME
// keeps one service).
func (a *Aggregator) CookiesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		svc := req.URL.Query().Get("service")
		reportHandler(cookies.FormatJSON, func(format string) ([]byte, error) {
			r, err := a.CookieReport()
			if err != nil {
				return nil, err
			}
			if svc != "" {
				r.Services = slices.DeleteFunc(r.Services, func(s cookies.ServiceReport) bool { return s.Service != svc })
			}
			var b bytes.Buffer
			if err := cookies.WriteReport(&b, r, format); err != nil {
				return nil, badFormat{err}
			}
			return b.Bytes(), nil
		}).ServeHTTP(w, req)
	})
}

// badFormat marks a report error that is the client's: an unknown format.
type badFormat struct{ error }

var contentTypes = map[string]string{
	"json": "application/json",
	"md":   "text/markdown; charset=utf-8",
	"csv":  "text/csv; charset=utf-8",
}

func reportHandler(defaultFormat string, render func(format string) ([]byte, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSONError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		format := r.URL.Query().Get("format")
		if format == "" {
			format = defaultFormat
		}
		body, err := render(format)
		if err != nil {
			code := http.StatusInternalServerError
			if _, ok := err.(badFormat); ok {
				code = http.StatusBadRequest
			}
			writeJSONError(w, code, err.Error())
			return
		}
		w.Header().Set("Content-Type", contentTypes[format])
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	})
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// viewOnly are the families of the view's tracker and inventory that
// describe the view itself, not the mesh: their checkpoint counters.
var viewOnly = map[string]bool{
	"alsd_sli_checkpoint_errors_total":    true,
	"alsd_sli_checkpoint_corrupt_total":   true,
	"alsd_cookies_checkpoints_total":      true,
	"alsd_edges_checkpoint_errors_total":  true,
	"alsd_edges_checkpoint_corrupt_total": true,
}

// Gatherer returns the SLI, cookie and edge metrics (SPEC §5: mesh_sli_*,
// mesh_slo_*, mesh_request_duration_seconds, mesh_cookies; SPEC §8:
// mesh_edge_*) of the services and partitions the aggregator owns now, for
// the /metrics handler next to the process's own registry
// (prometheus.Gatherers).
func (a *Aggregator) Gatherer() prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		v, err := a.view()
		if err != nil {
			return nil, err
		}
		mfs, err := v.reg.Gather()
		out := mfs[:0]
		for _, mf := range mfs {
			if viewOnly[mf.GetName()] {
				continue
			}
			mf.Metric = slices.DeleteFunc(mf.Metric, func(m *dto.Metric) bool {
				for _, l := range m.GetLabel() {
					if l.GetName() == "service" {
						return !v.owns(l.GetValue())
					}
				}
				return false
			})
			if len(mf.Metric) > 0 {
				out = append(out, mf)
			}
		}
		return out, err
	})
}
