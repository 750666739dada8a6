package selfmetric

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSharedRegistration: the second package to ask gets the first one's
// counter, so both count into one series per reason.
func TestSharedRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	sink := NewRecordsDropped(reg, DroppedSpoolFull)
	receiver := NewRecordsDropped(reg, DroppedOTLPUnreadable)
	sink.WithLabelValues(DroppedSpoolFull).Add(2)
	receiver.WithLabelValues(DroppedOTLPUnreadable).Add(3)
	if n := testutil.CollectAndCount(reg, RecordsDropped); n != 2 {
		t.Errorf("%d series, want 2 (one per reason)", n)
	}
	if v := testutil.ToFloat64(sink.WithLabelValues(DroppedOTLPUnreadable)); v != 3 {
		t.Errorf("otlp_unreadable through the first counter = %v, want 3", v)
	}
	if NewRecordsDropped(nil) == nil {
		t.Error("nil registerer: no counter")
	}
}
