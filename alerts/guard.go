package alerts

import (
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

// BadEventsPrefix prefixes the recorded bad-request counts over each burn
// window pair's long window ("slo:sli_bad_events:increase1h"), which the
// low-traffic guard compares with min_bad_events.
const BadEventsPrefix = "slo:sli_bad_events:increase"

// BadEventsName returns the recording rule name of the bad-request count
// over a window ("1h").
func BadEventsName(window string) string { return BadEventsPrefix + window }

// Guard is the low-traffic guard of one window pair of one SLO (SPEC §5):
// the pair may fire only with at least Min bad requests in its long window,
// so one failure among a handful of requests never pages.
type Guard struct {
	Pair sli.BurnAlert
	// Min is the catalog's min_bad_events, or fewer: never more than the
	// bad requests a service at exactly one request per second has when
	// the pair's burn threshold is crossed (factor × budget × long window
	// in seconds). At one request per second or more, the burn condition
	// then implies the guard, so a real outage pages exactly as fast as
	// without it.
	Min float64
	// Expr is Min as the rules print it: the catalog's number ("10"), or
	// the product it was capped at ("(14.4 * 0.0001 * 3600)").
	Expr string
}

// Guards returns the guard of each window pair of severity sev for SLO s
// of svc, in s.Alerts order; nil when svc's min_bad_events is 0.
func Guards(svc catalog.Service, s SLO, sev sli.Severity) ([]Guard, error) {
	n := svc.Alerting.MinBadEvents
	if n <= 0 {
		return nil, nil
	}
	budget, ok := new(big.Rat).SetString(s.Budget)
	if !ok {
		return nil, fmt.Errorf("service %q slo %q: budget %q is not a number", svc.Name, s.Name, s.Budget)
	}
	var out []Guard
	for _, b := range pairs(s, sev) {
		factor, ok := new(big.Rat).SetString(formatFactor(b.Factor))
		if !ok {
			return nil, fmt.Errorf("burn factor %v is not a decimal", b.Factor)
		}
		seconds := int64(b.Long.Duration / time.Second)
		atOneRPS := new(big.Rat).Mul(factor, budget)
		atOneRPS.Mul(atOneRPS, big.NewRat(seconds, 1))
		g := Guard{Pair: b, Min: float64(n), Expr: strconv.Itoa(n)}
		if atOneRPS.Cmp(big.NewRat(int64(n), 1)) < 0 {
			g.Min, _ = atOneRPS.Float64()
			g.Expr = fmt.Sprintf("(%s * %s * %d)", formatFactor(b.Factor), s.Budget, seconds)
		}
		out = append(out, g)
	}
	return out, nil
}

// guardWindows are the long windows of the burn pairs, shortest first:
// the windows whose bad-request counts are recorded.
func guardWindows() []recordWindow {
	var out []recordWindow
	for _, w := range sli.Windows {
		for _, b := range sli.BurnAlerts {
			if b.Long == w {
				out = append(out, recordWindow{w.Name, w.Duration})
				break
			}
		}
	}
	return out
}

// badEventsExpr counts an SLO's bad requests over one window. Over a day
// or more it is evaluated with the long group, like the ratios.
func badEventsExpr(sel string, w recordWindow) string {
	return fmt.Sprintf("sum by (service, slo) (increase(%s{%s}[%s]))\n", ErrorsMetric, sel, w.name)
}

// HeldBackExpr is a PromQL expression that has one series, of value 1,
// exactly while guard g holds its window pair of SLO s of service back:
// the pair's burn conditions hold, but its long window has fewer than
// g.Min bad requests. Dashboards draw it; the generated tests check it.
func HeldBackExpr(service string, s SLO, g Guard) string {
	sel := fmt.Sprintf(`{service=%q,slo=%q,generator=%q}`, service, s.Name, Generator)
	th := threshold(g.Pair.Factor, s.Budget)
	return fmt.Sprintf("count(%s%s < %s and %s%s > %s and %s%s > %s)",
		BadEventsName(g.Pair.Long.Name), sel, g.Expr,
		RecordName(g.Pair.Long.Name), sel, th,
		RecordName(g.Pair.Short.Name), sel, th)
}
