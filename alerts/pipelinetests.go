package alerts

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/meshtel/meshtel/catalog"
)

// PipelineRulesPathFromTests is where PipelineTestsFile's rule_files entry
// points when the layout of SPEC §5 is kept.
func PipelineRulesPathFromTests() string {
	return path.Join("..", "rules", catalog.PipelineName+".rules.yml")
}

// Instances of the pipeline test series.
const (
	testInstance  = "alsd-0:9102"
	testInstance2 = "alsd-1:9102"
)

// PipelineTestsFile renders the `promtool test rules` file of the
// pipeline alerts: each fires when it should and stays quiet otherwise —
// MeshTelemetryDown with every alsd target down or none scraped, but not
// while one is up; MeshRecordsDropped on an increase and on a reason's
// first drop, but not on a steady counter or a restart's reset, and no
// longer once the drops stop; MeshSpoolFilling and MeshAggregatorLag only
// when the condition outlasts their `for`; MeshServiceSilent for a service
// whose traffic stopped (each with its own team), but not for one with
// steady traffic nor one that never had any. rulesFile is the rule file's
// path relative to the test file.
func PipelineTestsFile(cat *catalog.Catalog, cfg Config, rulesFile string) ([]byte, error) {
	groups, err := PipelineRuleGroups(cat, cfg)
	if err != nil {
		return nil, err
	}
	byName := map[string]rulefmt.Rule{}
	for _, r := range groups.Groups[0].Rules {
		byName[r.Alert] = r
	}
	f := unitTestFile{
		RuleFiles:          []string{rulesFile},
		EvaluationInterval: model.Duration(time.Minute),
	}
	f.Tests = append(f.Tests, telemetryDownTests(cfg.alsdJob(), byName[TelemetryDownAlert])...)
	f.Tests = append(f.Tests, recordsDroppedTests(cfg.alsdJob(), byName[RecordsDroppedAlert])...)
	f.Tests = append(f.Tests, spoolFillingTests(cfg.alsdJob(), byName[SpoolFillingAlert])...)
	f.Tests = append(f.Tests, aggregatorLagTests(cfg.lagThreshold(), byName[AggregatorLagAlert])...)
	if len(cat.Services) > 0 {
		f.Tests = append(f.Tests, serviceSilentTests(cat, cfg)...)
	}
	return marshalYAML(f)
}

// firingAs is the alert r raises for a series with the given labels.
func firingAs(r rulefmt.Rule, seriesLabels map[string]string) expAlert {
	ls := maps.Clone(r.Labels)
	maps.Copy(ls, seriesLabels)
	return expAlert{ExpLabels: ls, ExpAnnotations: r.Annotations}
}

// checks builds alert test cases: at each offset, exactly the alerts given.
func checks(alert string, at map[time.Duration][]expAlert) []alertTestCase {
	var out []alertTestCase
	for _, d := range slices.Sorted(maps.Keys(at)) {
		exp := at[d]
		if exp == nil {
			exp = []expAlert{}
		}
		out = append(out, alertTestCase{EvalTime: model.Duration(d), Alertname: alert, ExpAlerts: exp})
	}
	return out
}

func minutes(n int) time.Duration { return time.Duration(n) * time.Minute }

func testGroupOf(name string, in []series, cases []alertTestCase) testGroup {
	return testGroup{Name: name, Interval: model.Duration(time.Minute), InputSeries: in, AlertRuleTest: cases}
}

func upSeries(job, instance string) string {
	return fmt.Sprintf("up{job=%q,instance=%q}", job, instance)
}

func telemetryDownTests(job string, r rulefmt.Rule) []testGroup {
	fires := []expAlert{firingAs(r, nil)}
	return []testGroup{
		testGroupOf(TelemetryDownAlert+": every alsd target down for 5m pages",
			[]series{{upSeries(job, testInstance), "1x10 0x20"}, {upSeries(job, testInstance2), "1x10 0x20"}},
			checks(TelemetryDownAlert, map[time.Duration][]expAlert{minutes(10): nil, minutes(15): nil, minutes(17): fires})),
		testGroupOf(TelemetryDownAlert+": no alsd target scraped at all pages",
			[]series{{upSeries("prometheus", "localhost:9090"), "1x30"}},
			checks(TelemetryDownAlert, map[time.Duration][]expAlert{minutes(4): nil, minutes(7): fires})),
		testGroupOf(TelemetryDownAlert+": one alsd target up is enough, other jobs do not count",
			[]series{{upSeries(job, testInstance), "0x30"}, {upSeries(job, testInstance2), "1x30"}, {upSeries("prometheus", "localhost:9090"), "0x30"}},
			checks(TelemetryDownAlert, map[time.Duration][]expAlert{minutes(20): nil})),
	}
}

func droppedSeries(job, instance, reason string) string {
	return fmt.Sprintf("%s{job=%q,instance=%q,reason=%q}", droppedMetric, job, instance, reason)
}

func recordsDroppedTests(job string, r rulefmt.Rule) []testGroup {
	labels := func(instance, reason string) map[string]string {
		return map[string]string{"job": job, "instance": instance, "reason": reason}
	}
	return []testGroup{
		testGroupOf(RecordsDroppedAlert+": an increase pages, until 5m without one",
			[]series{{droppedSeries(job, testInstance, "spool_full"), "0x10 25x20"}},
			checks(RecordsDroppedAlert, map[time.Duration][]expAlert{
				minutes(9):  nil,
				minutes(12): {firingAs(r, labels(testInstance, "spool_full"))},
				minutes(17): nil,
			})),
		testGroupOf(RecordsDroppedAlert+": a reason's first drop pages (its series appears above 0)",
			[]series{{droppedSeries(job, testInstance, "otlp_unreadable"), "_x10 3x20"}},
			checks(RecordsDroppedAlert, map[time.Duration][]expAlert{
				minutes(12): {firingAs(r, labels(testInstance, "otlp_unreadable"))},
				minutes(17): nil,
			})),
		testGroupOf(RecordsDroppedAlert+": a steady counter and a restart's reset stay quiet",
			[]series{{droppedSeries(job, testInstance, "spool_full"), "7x30"}, {droppedSeries(job, testInstance2, "spool_full"), "7x10 0x20"}},
			checks(RecordsDroppedAlert, map[time.Duration][]expAlert{minutes(12): nil, minutes(20): nil})),
	}
}

func spoolFillingTests(job string, r rulefmt.Rule) []testGroup {
	spool := fmt.Sprintf("%s{job=%q,instance=%q}", spoolMetric, job, testInstance)
	fires := []expAlert{firingAs(r, map[string]string{"job": job, "instance": testInstance})}
	return []testGroup{
		testGroupOf(SpoolFillingAlert+": records in the spool for 15m file a ticket",
			[]series{{spool, "0x5 4096x30"}},
			checks(SpoolFillingAlert, map[time.Duration][]expAlert{minutes(19): nil, minutes(22): fires})),
		testGroupOf(SpoolFillingAlert+": a spool replayed within 15m stays quiet",
			[]series{{spool, "0x5 4096x10 0x20"}},
			checks(SpoolFillingAlert, map[time.Duration][]expAlert{minutes(22): nil, minutes(30): nil})),
	}
}

func aggregatorLagTests(threshold int64, r rulefmt.Rule) []testGroup {
	lag := func(partition int) string {
		return fmt.Sprintf(`%s{job="alsd-aggregate",instance="agg-0:9102",partition="%d"}`, lagMetric, partition)
	}
	th := strconv.FormatInt(threshold, 10)
	return []testGroup{
		testGroupOf(AggregatorLagAlert+": the largest lag above "+th+" records for 15m files a ticket",
			[]series{{lag(0), strconv.FormatInt(threshold+1, 10) + "x30"}, {lag(1), "0x30"}},
			checks(AggregatorLagAlert, map[time.Duration][]expAlert{minutes(14): nil, minutes(17): {firingAs(r, nil)}})),
		testGroupOf(AggregatorLagAlert+": lag at the threshold, or above it briefly, stays quiet",
			[]series{{lag(0), th + "x30"}, {lag(1), strconv.FormatInt(10*threshold, 10) + "x5 0x25"}},
			checks(AggregatorLagAlert, map[time.Duration][]expAlert{minutes(20): nil})),
	}
}

// Traffic shapes of the MeshServiceSilent cases: ten requests a minute for
// an hour, then none; ten a minute throughout; none ever.
const (
	silentSamples = 110
	stopsAt       = 60
)

func silentTraffic(kind string) string {
	switch kind {
	case "stops":
		return fmt.Sprintf("0+10x%d %dx%d", stopsAt, 10*stopsAt, silentSamples-stopsAt-1)
	case "steady":
		return fmt.Sprintf("0+10x%d", silentSamples)
	default:
		return fmt.Sprintf("0x%d", silentSamples)
	}
}

// serviceSilentTests: the silence clock starts at stopsAt; checks fall on
// the silence group's 2m evaluations, before and after 30m of silence.
func serviceSilentTests(cat *catalog.Catalog, cfg Config) []testGroup {
	before, after := minutes(stopsAt+26), minutes(stopsAt+32)
	shaped := func(kind func(i int) string) []series {
		var in []series
		for i, svc := range cat.Services {
			in = append(in, series{seriesName(RequestsMetric, svc.Name, "availability"), silentTraffic(kind(i))})
		}
		return in
	}
	fired := func(which func(i int) bool) []expAlert {
		out := []expAlert{}
		for i, svc := range cat.Services {
			if which(i) {
				out = append(out, expAlert{ExpLabels: silentLabels(svc), ExpAnnotations: silentAnnotations(cat, svc, cfg)})
			}
		}
		return out
	}
	first := cat.Services[0].Name
	return []testGroup{
		testGroupOf(fmt.Sprintf("%s: %s stops after an hour of traffic, the others keep theirs or never had any: a ticket for %s alone after 30m", ServiceSilentAlert, first, first),
			shaped(func(i int) string {
				switch i {
				case 0:
					return "stops"
				case 1:
					return "none"
				}
				return "steady"
			}),
			checks(ServiceSilentAlert, map[time.Duration][]expAlert{
				before: nil,
				after:  fired(func(i int) bool { return i == 0 }),
			})),
		testGroupOf(ServiceSilentAlert+": every service stops: one ticket each, to its own team",
			shaped(func(int) string { return "stops" }),
			checks(ServiceSilentAlert, map[time.Duration][]expAlert{after: fired(func(int) bool { return true })})),
		testGroupOf(ServiceSilentAlert+": steady traffic stays quiet",
			shaped(func(int) string { return "steady" }),
			checks(ServiceSilentAlert, map[time.Duration][]expAlert{after: nil})),
		testGroupOf(ServiceSilentAlert+": services that never had traffic stay quiet",
			shaped(func(int) string { return "none" }),
			checks(ServiceSilentAlert, map[time.Duration][]expAlert{after: nil})),
	}
}
