package aggregate

import (
	"testing"

	"github.com/meshtel/meshtel/sli"
)

// workloadSpan is how far back, in seconds, workload's records go: 26
// hours, over two UTC days, so the per-day totals of the monthly report
// are folded out of the 10-second slots, checkpointed and handed over like
// every other count.
const workloadSpan = 26 * 3600

// checkMonthEqual holds the merged monthly reports of ms (what `alsd
// report slo --month --admin …` shows) to the all-in-one tracker's: the
// per-day totals survive checkpoints, rebalances and crashes, and merge
// exactly across aggregators.
func checkMonthEqual(t *testing.T, ref *reference, ms ...*member) {
	t.Helper()
	var rs []sli.MonthReport
	for _, m := range ms {
		r, err := m.MonthReport(now)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	got, err := sli.MergeMonthReports(rs...)
	if err != nil {
		t.Fatal(err)
	}
	want := ref.tracker.Month(now)
	if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
		t.Errorf("merged monthly report differs from the all-in-one tracker:\n got %s\nwant %s", g, w)
	}
	days := 0
	for _, s := range want.SLOs {
		for _, d := range s.Days {
			if d.Total > 0 {
				days++
			}
		}
	}
	if days < 3 {
		t.Errorf("the workload has traffic on %d (service, SLO, day)s: the check sees too little", days)
	}
}
