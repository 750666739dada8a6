package alerts

import (
	"fmt"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

// alertmanager.yml, only the parts dashgen writes. Receivers carry no
// integration: wiring them to PagerDuty, Slack or e-mail is the operator's.
type amConfig struct {
	Route        amRoute         `yaml:"route"`
	InhibitRules []amInhibitRule `yaml:"inhibit_rules"`
	Receivers    []amReceiver    `yaml:"receivers"`
}

type amInhibitRule struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal,omitempty"`
}

type amRoute struct {
	Receiver       string    `yaml:"receiver,omitempty"`
	GroupBy        []string  `yaml:"group_by,omitempty"`
	Matchers       []string  `yaml:"matchers,omitempty"`
	GroupWait      string    `yaml:"group_wait,omitempty"`
	GroupInterval  string    `yaml:"group_interval,omitempty"`
	RepeatInterval string    `yaml:"repeat_interval,omitempty"`
	Routes         []amRoute `yaml:"routes,omitempty"`
}

type amReceiver struct {
	Name string `yaml:"name"`
}

// Timing per severity: pages are sent fast and repeated hourly while they
// fire; tickets are batched and repeated daily.
var severityTiming = map[sli.Severity]amRoute{
	sli.Page:   {GroupWait: "30s", GroupInterval: "5m", RepeatInterval: "1h"},
	sli.Ticket: {GroupWait: "5m", GroupInterval: "30m", RepeatInterval: "24h"},
}

// inhibitRules are SPEC §5's inhibitions. A page mutes the ticket of the
// same service and SLO: one problem, one notification. Both sides must
// carry a service and an SLO, because Alertmanager counts a label absent
// on both sides as equal: without that, every label-less pipeline page
// would mute every label-less pipeline ticket. While MeshTelemetryDown
// fires, burn and silence alerts say nothing new — their SLIs went quiet
// because alsd did.
var inhibitRules = []amInhibitRule{
	{
		SourceMatchers: []string{fmt.Sprintf("severity=%q", sli.Page), `service=~".+"`, `slo=~".+"`},
		TargetMatchers: []string{fmt.Sprintf("severity=%q", sli.Ticket), `service=~".+"`, `slo=~".+"`},
		Equal:          []string{"service", "slo"},
	},
	{
		SourceMatchers: []string{fmt.Sprintf("alertname=%q", TelemetryDownAlert)},
		TargetMatchers: []string{fmt.Sprintf("alertname=~%q", AlertName+"|"+ServiceSilentAlert)},
	},
}

// Routes renders an alertmanager.yml whose route tree sends each team's
// alerts to that team's receiver, split by severity (page, ticket) and
// grouped by service, with the inhibitions of SPEC §5. Alerts of no known
// team go to the default team's receiver. Teams sharing a receiver share
// one receiver entry.
func Routes(cat *catalog.Catalog) ([]byte, error) {
	if cat == nil {
		return nil, fmt.Errorf("no catalog")
	}
	receiverOf := map[string]string{}
	var cfg amConfig
	seen := map[string]bool{}
	for _, t := range cat.Teams {
		if t.Receiver == "" {
			return nil, fmt.Errorf("team %q has no receiver", t.Name)
		}
		receiverOf[t.Name] = t.Receiver
		if !seen[t.Receiver] {
			seen[t.Receiver] = true
			cfg.Receivers = append(cfg.Receivers, amReceiver{Name: t.Receiver})
		}
	}
	root, ok := receiverOf[cat.Defaults.Team]
	if !ok {
		return nil, fmt.Errorf("default team %q is not defined", cat.Defaults.Team)
	}
	cfg.Route = amRoute{
		Receiver: root,
		GroupBy:  []string{"alertname", "service"},
	}
	cfg.InhibitRules = inhibitRules
	for _, t := range cat.Teams {
		tr := amRoute{
			Receiver: t.Receiver,
			Matchers: []string{fmt.Sprintf("team=%q", t.Name)},
		}
		for _, sev := range severities() {
			r := severityTiming[sev]
			r.Matchers = []string{fmt.Sprintf("severity=%q", sev)}
			tr.Routes = append(tr.Routes, r)
		}
		cfg.Route.Routes = append(cfg.Route.Routes, tr)
	}
	return marshalYAML(cfg)
}
