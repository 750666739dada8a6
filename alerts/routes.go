package alerts

import (
	"fmt"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/sli"
)

// alertmanager.yml, only the parts dashgen writes. Receivers carry no
// integration: wiring them to PagerDuty, Slack or e-mail is the operator's.
type amConfig struct {
	Route     amRoute      `yaml:"route"`
	Receivers []amReceiver `yaml:"receivers"`
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

// Routes renders an alertmanager.yml whose route tree sends each team's
// alerts to that team's receiver, split by severity (page, ticket) and
// grouped by service. Alerts of no known team go to the default team's
// receiver. Teams sharing a receiver share one receiver entry.
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
