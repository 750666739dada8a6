// Package selfmetric defines the metrics of alsd's own that more than one
// package counts into, so that each is described once and registered once,
// by whichever package comes first. Metrics one package owns stay there.
package selfmetric

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// RecordsDropped counts records lost, by reason (SPEC §5).
const RecordsDropped = "alsd_records_dropped_total"

// Reasons of RecordsDropped.
const (
	// DroppedSpoolFull: accepted records that could be neither produced
	// nor spooled (the Kafka sink).
	DroppedSpoolFull = "spool_full"
	// DroppedOTLPUnreadable: OTLP log records alsd could not read,
	// rejected in the response's partial_success (the receivers).
	DroppedOTLPUnreadable = "otlp_unreadable"
)

// NewRecordsDropped returns the RecordsDropped counter registered on reg,
// or the one already registered there, with each of reasons at 0 so that
// alerts see the series before its first drop. A nil reg registers
// nowhere.
func NewRecordsDropped(reg prometheus.Registerer, reasons ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: RecordsDropped,
		Help: "Records lost, by reason: spool_full and spool_error (accepted records that could be neither produced nor spooled: the spool is full, or could not be written), otlp_unreadable (OTLP log records alsd could not read, rejected in partial_success).",
	}, []string{"reason"})
	if reg != nil {
		if err := reg.Register(v); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err) // the same name with other labels or help: a programming error, like MustRegister's
			}
			v = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	for _, r := range reasons {
		v.WithLabelValues(r)
	}
	return v
}
