package openslo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// This file checks documents against the OpenSLO v1 specification
// (README.md of github.com/OpenSLO/OpenSLO, "Specification"), written
// from its text: the objects and fields it defines, decoded strictly so a
// field it does not define is an error, and the constraints its notes
// state. Only the kinds dashgen writes are covered.

// specObject is the general schema every object shares.
type specObject struct {
	APIVersion string       `yaml:"apiVersion"`
	Kind       string       `yaml:"kind"`
	Metadata   specMetadata `yaml:"metadata"`
	Spec       yaml.Node    `yaml:"spec"`
}

type specMetadata struct {
	Name        string               `yaml:"name"`
	DisplayName string               `yaml:"displayName"`
	Labels      map[string]yaml.Node `yaml:"labels"` // string or list of strings
	Annotations map[string]string    `yaml:"annotations"`
}

type specService struct {
	Description string `yaml:"description"`
}

type specMetricSource struct {
	MetricSource struct {
		MetricSourceRef string    `yaml:"metricSourceRef"`
		Type            string    `yaml:"type"`
		Spec            yaml.Node `yaml:"spec"` // anything valid YAML
	} `yaml:"metricSource"`
}

type specSLI struct {
	Description     string            `yaml:"description"`
	ThresholdMetric *specMetricSource `yaml:"thresholdMetric"`
	RatioMetric     *struct {
		Counter *bool             `yaml:"counter"`
		Good    *specMetricSource `yaml:"good"`
		Bad     *specMetricSource `yaml:"bad"`
		Total   *specMetricSource `yaml:"total"`
		RawType string            `yaml:"rawType"`
		Raw     *specMetricSource `yaml:"raw"`
	} `yaml:"ratioMetric"`
}

type specSLO struct {
	Description  string    `yaml:"description"`
	Service      string    `yaml:"service"`
	Indicator    yaml.Node `yaml:"indicator"`
	IndicatorRef string    `yaml:"indicatorRef"`
	TimeWindow   []struct {
		Duration string `yaml:"duration"`
		Calendar *struct {
			StartTime string `yaml:"startTime"`
			TimeZone  string `yaml:"timeZone"`
		} `yaml:"calendar"`
		IsRolling *bool `yaml:"isRolling"`
	} `yaml:"timeWindow"`
	BudgetingMethod string `yaml:"budgetingMethod"`
	Objectives      []struct {
		DisplayName     string    `yaml:"displayName"`
		Op              string    `yaml:"op"`
		Value           *float64  `yaml:"value"`
		Target          *float64  `yaml:"target"`
		TargetPercent   *float64  `yaml:"targetPercent"`
		TimeSliceTarget *float64  `yaml:"timeSliceTarget"`
		TimeSliceWindow string    `yaml:"timeSliceWindow"`
		Indicator       yaml.Node `yaml:"indicator"`
		IndicatorRef    string    `yaml:"indicatorRef"`
		CompositeWeight *float64  `yaml:"compositeWeight"`
	} `yaml:"objectives"`
	AlertPolicies yaml.Node `yaml:"alertPolicies"`
}

var (
	// rfc1123 is a DNS label: what metadata.name must support.
	rfc1123 = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// labelKey: at most 63 characters, alphanumeric at both ends, "-_."
	// between.
	labelKey = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$`)
	// durationShorthand: a positive integer and one of m h d w M Q Y.
	durationShorthand = regexp.MustCompile(`^[1-9][0-9]*[mhdwMQY]$`)
)

// maxDescription is the longest description the specification allows.
const maxDescription = 1050

// specDoc is one checked document.
type specDoc struct {
	kind, name string
	sli        *specSLI
	slo        *specSLO
}

// checkSpec decodes a YAML stream of OpenSLO documents and returns every
// way it breaks the v1 specification, including references (SLO service
// and indicatorRef) that no document of the stream defines.
func checkSpec(data []byte) ([]specDoc, []error) {
	var docs []specDoc
	var errs []error
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	for i := 0; ; i++ {
		var o specObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return docs, append(errs, fmt.Errorf("document %d: %w", i, err))
		}
		d, derrs := checkObject(o)
		for _, e := range derrs {
			errs = append(errs, fmt.Errorf("document %d (%s %q): %w", i, o.Kind, o.Metadata.Name, e))
		}
		docs = append(docs, d)
	}
	return docs, append(errs, checkRefs(docs)...)
}

func checkObject(o specObject) (specDoc, []error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.APIVersion != "openslo/v1" {
		fail("apiVersion %q, want openslo/v1", o.APIVersion)
	}
	if !rfc1123.MatchString(o.Metadata.Name) {
		fail("metadata.name %q is not an RFC 1123 label", o.Metadata.Name)
	}
	for k, v := range o.Metadata.Labels {
		if !labelKey.MatchString(k) {
			fail("label key %q", k)
		}
		var one string
		var many []string
		if v.Decode(&one) != nil && v.Decode(&many) != nil {
			fail("label %q is neither a string nor a list of strings", k)
		}
	}
	d := specDoc{kind: o.Kind, name: o.Metadata.Name}
	var err error
	switch o.Kind {
	case "Service":
		var s specService
		if err = strictDecode(&o.Spec, &s); err == nil && len([]rune(s.Description)) > maxDescription {
			fail("description longer than %d characters", maxDescription)
		}
	case "SLI":
		d.sli = &specSLI{}
		if err = strictDecode(&o.Spec, d.sli); err == nil {
			errs = append(errs, checkSLI(d.sli)...)
		}
	case "SLO":
		d.slo = &specSLO{}
		if err = strictDecode(&o.Spec, d.slo); err == nil {
			errs = append(errs, checkSLO(d.slo)...)
		}
	default:
		fail("kind %q is not one dashgen writes", o.Kind)
	}
	if err != nil {
		fail("spec: %w", err)
	}
	return d, errs
}

func strictDecode(n *yaml.Node, v any) error {
	var b bytes.Buffer
	if err := yaml.NewEncoder(&b).Encode(n); err != nil {
		return err
	}
	dec := yaml.NewDecoder(&b)
	dec.KnownFields(true)
	return dec.Decode(v)
}

func checkSLI(s *specSLI) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len([]rune(s.Description)) > maxDescription {
		fail("description longer than %d characters", maxDescription)
	}
	if (s.RatioMetric == nil) == (s.ThresholdMetric == nil) {
		fail("exactly one of ratioMetric and thresholdMetric must be given")
		return errs
	}
	r := s.RatioMetric
	if r == nil {
		return append(errs, checkSource("thresholdMetric", s.ThresholdMetric)...)
	}
	switch {
	case r.Raw != nil:
		if r.Good != nil || r.Bad != nil || r.Total != nil || (r.RawType != "success" && r.RawType != "failure") {
			fail("raw needs rawType success or failure and no good, bad or total")
		}
	case r.Total == nil || (r.Good == nil) == (r.Bad == nil):
		fail("ratioMetric needs total and exactly one of good and bad")
	}
	if r.Counter == nil {
		fail("ratioMetric.counter is not set")
	}
	for name, src := range map[string]*specMetricSource{"good": r.Good, "bad": r.Bad, "total": r.Total, "raw": r.Raw} {
		if src != nil {
			errs = append(errs, checkSource(name, src)...)
		}
	}
	return errs
}

// checkSource checks a metric source; Prometheus queries must parse.
func checkSource(name string, m *specMetricSource) []error {
	src := m.MetricSource
	if src.Type == "" && src.MetricSourceRef == "" {
		return []error{fmt.Errorf("%s: type is required without metricSourceRef", name)}
	}
	if src.Type != "Prometheus" {
		return nil
	}
	var q struct {
		Query string `yaml:"query"`
	}
	if err := src.Spec.Decode(&q); err != nil || q.Query == "" {
		return []error{fmt.Errorf("%s: a Prometheus source without a query", name)}
	}
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(q.Query); err != nil {
		return []error{fmt.Errorf("%s: query %q: %w", name, q.Query, err)}
	}
	return nil
}

func checkSLO(s *specSLO) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len([]rune(s.Description)) > maxDescription {
		fail("description longer than %d characters", maxDescription)
	}
	if (s.IndicatorRef == "") == s.Indicator.IsZero() {
		fail("exactly one of indicator and indicatorRef must be given")
	}
	if !slices.Contains([]string{"Occurrences", "Timeslices", "RatioTimeslices"}, s.BudgetingMethod) {
		fail("budgetingMethod %q", s.BudgetingMethod)
	}
	if len(s.TimeWindow) != 1 {
		fail("timeWindow has %d items, want exactly one", len(s.TimeWindow))
	}
	for _, w := range s.TimeWindow {
		if !durationShorthand.MatchString(w.Duration) {
			fail("timeWindow duration %q is not a duration shorthand", w.Duration)
		}
		rolling := w.IsRolling != nil && *w.IsRolling
		switch {
		case rolling && w.Calendar != nil:
			fail("a rolling window has a calendar")
		case !rolling && w.Calendar == nil:
			fail("a window that is not rolling needs a calendar")
		case w.Calendar != nil:
			if _, err := time.Parse(time.DateTime, w.Calendar.StartTime); err != nil {
				fail("calendar startTime %q: %v", w.Calendar.StartTime, err)
			}
			if _, err := time.LoadLocation(w.Calendar.TimeZone); err != nil || w.Calendar.TimeZone == "" {
				fail("calendar timeZone %q is not an IANA zone", w.Calendar.TimeZone)
			}
		}
	}
	if len(s.Objectives) == 0 {
		fail("no objectives")
	}
	for _, o := range s.Objectives {
		if (o.Target == nil) == (o.TargetPercent == nil) {
			fail("objective needs exactly one of target and targetPercent")
		}
		if o.Target != nil && (*o.Target < 0 || *o.Target >= 1) {
			fail("target %v outside [0, 1)", *o.Target)
		}
		if o.TargetPercent != nil && (*o.TargetPercent < 0 || *o.TargetPercent >= 100) {
			fail("targetPercent %v outside [0, 100)", *o.TargetPercent)
		}
		if o.Op != "" || o.Value != nil {
			fail("op and value belong to threshold metrics only")
		}
		if (s.BudgetingMethod == "Timeslices") != (o.TimeSliceTarget != nil) {
			fail("timeSliceTarget is for Timeslices only, and required there")
		}
	}
	return errs
}

// checkRefs: each SLO names a Service and an SLI defined in the stream.
func checkRefs(docs []specDoc) []error {
	defined := map[string]bool{}
	for _, d := range docs {
		if defined[d.kind+"/"+d.name] {
			return []error{fmt.Errorf("%s %q defined twice", d.kind, d.name)}
		}
		defined[d.kind+"/"+d.name] = true
	}
	var errs []error
	for _, d := range docs {
		if d.slo == nil {
			continue
		}
		if !defined["Service/"+d.slo.Service] {
			errs = append(errs, fmt.Errorf("SLO %q: service %q is not defined", d.name, d.slo.Service))
		}
		if d.slo.IndicatorRef != "" && !defined["SLI/"+d.slo.IndicatorRef] {
			errs = append(errs, fmt.Errorf("SLO %q: indicatorRef %q is not defined", d.name, d.slo.IndicatorRef))
		}
	}
	return errs
}
