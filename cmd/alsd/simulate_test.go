package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshtel/meshtel/kafkasink"
)

// TestScrape reads the counters from a real client_golang /metrics
// endpoint, as alsd serves it, and refuses what is not one.
func TestScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	produced := prometheus.NewCounter(prometheus.CounterOpts{Name: kafkasink.MetricKafkaProduced, Help: "h"})
	produced.Add(1234)
	reg.MustRegister(produced, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounter(prometheus.CounterOpts{Name: "alsd_kafka_produced_total_other", Help: "h"}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	good := httptest.NewServer(mux)
	defer good.Close()

	c, err := scrape(context.Background(), good.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if c.produced != 1234 {
		t.Errorf("produced = %v, want 1234", c.produced)
	}
	if c.cpuSeconds <= 0 {
		t.Errorf("cpu seconds = %v, want the process collector's positive value", c.cpuSeconds)
	}

	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"no kafka", "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1\n", 200, "no alsd_kafka_produced_total"},
		{"not metrics", "<html>hello</html>\n", 200, "parsing error"},
		{"broken value", "alsd_kafka_produced_total many\n", 200, "parsing error"},
		{"error status", "", 503, "503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			if _, err := scrape(context.Background(), srv.URL); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
