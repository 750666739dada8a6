// Package sli computes service level indicators, error budgets and burn
// rates from plain request observations, exports them to Prometheus and
// serves them as the /api/slo document; it also owns the burn-rate windows
// and alert factors the generated rules use (Windows, BurnAlerts), so alsd
// and the rules never disagree.
//
// Classify is SPEC §3: it decides whether one access-log entry is good,
// bad or excluded. A Tracker counts the non-excluded entries per service in
// time slots — fine ones for the short burn windows, coarse ones for the
// long windows and the rolling budgets, UTC days for 400 days — so every
// window comes from bounded memory, and cumulatively per (service, route)
// for the exported counters.
//
// Each SLO has its catalog window (SLOWindow): 30, 28 or 7 rolling days, or
// the calendar month in UTC, whose budget is projected from the month so
// far (Consumed). The burn-rate conditions keep the SRE workbook's budget
// shares for every window (BurnAlertsFor). The per-day totals also make
// the monthly report (Tracker.Month, MergeMonthReports).
//
// Low traffic: a window without requests has burn rate 0, and a service
// without requests in the budget window has SLI 1 and its whole budget
// left. No ratio is ever NaN or infinite; objectives must lie strictly
// between 0 and 100.
//
// The package deliberately knows nothing of Envoy's protobufs, gRPC or
// Kafka: callers turn their records into Observations. It does not alert
// either; alerts come from the generated Prometheus rules over the
// counters it exports.
package sli
