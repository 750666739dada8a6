package catalog

import "time"

// Built-in defaults, used for every SLO field neither the service nor
// defaults.slos sets, and by Empty.
const (
	defaultAvailability = "99.9"
	defaultLatency      = "99"
	defaultThreshold    = "500ms"
)

func builtinSLOs() SLOs {
	return SLOs{
		Availability: &Objective{Percent: 99.9, Text: defaultAvailability, Window: DefaultWindow},
		Latency: &LatencyObjective{
			Objective:     Objective{Percent: 99, Text: defaultLatency, Window: DefaultWindow},
			Threshold:     500 * time.Millisecond,
			ThresholdText: defaultThreshold,
		},
	}
}

// Empty returns a catalog with no services, no teams, the built-in
// default SLOs (availability 99.9, latency 99 under 500ms),
// DefaultMinBadEvents and DefaultMaxCookieLifetime. alsd uses it when
// run without --catalog, so every service it sees gets those objectives.
func Empty() *Catalog {
	c := &Catalog{
		Defaults: Defaults{SLOs: builtinSLOs(), Alerting: Alerting{MinBadEvents: DefaultMinBadEvents}},
		Privacy:  Privacy{MaxCookieLifetime: DefaultMaxCookieLifetime},
	}
	c.idx = newIndex(c)
	return c
}

type index struct {
	byName map[string]*Service // names and aliases
	byPort map[int]*Service
	teams  map[string]*Team
}

func newIndex(c *Catalog) *index {
	idx := &index{
		byName: make(map[string]*Service, len(c.Services)),
		byPort: make(map[int]*Service, len(c.Services)),
		teams:  make(map[string]*Team, len(c.Teams)),
	}
	for i := range c.Services {
		s := &c.Services[i]
		idx.byName[s.Name] = s
		for _, a := range s.Aliases {
			idx.byName[a] = s
		}
		if s.Port != 0 {
			idx.byPort[s.Port] = s
		}
	}
	for i := range c.Teams {
		idx.teams[c.Teams[i].Name] = &c.Teams[i]
	}
	return idx
}

// Lookup returns the service named name, by its name or any of its aliases
// (exact, case-sensitive match), or nil. A nil Catalog has no services.
// The returned Service is shared: callers must not modify it.
func (c *Catalog) Lookup(name string) *Service {
	if c == nil {
		return nil
	}
	if c.idx != nil {
		return c.idx.byName[name]
	}
	for i := range c.Services {
		s := &c.Services[i]
		if s.Name == name {
			return s
		}
		for _, a := range s.Aliases {
			if a == name {
				return s
			}
		}
	}
	return nil
}

// ByPort returns the service listening on port, or nil.
func (c *Catalog) ByPort(port int) *Service {
	if c == nil || port == 0 {
		return nil
	}
	if c.idx != nil {
		return c.idx.byPort[port]
	}
	for i := range c.Services {
		if c.Services[i].Port == port {
			return &c.Services[i]
		}
	}
	return nil
}

// Team returns the team named name, or nil.
func (c *Catalog) Team(name string) *Team {
	if c == nil {
		return nil
	}
	if c.idx != nil {
		return c.idx.teams[name]
	}
	for i := range c.Teams {
		if c.Teams[i].Name == name {
			return &c.Teams[i]
		}
	}
	return nil
}

// SLOsFor returns the effective SLOs of service (a name or alias), or the
// catalog's defaults when the catalog does not know it. A nil Catalog
// answers the built-in defaults. The objectives are shared and read-only.
func (c *Catalog) SLOsFor(service string) SLOs {
	if c == nil {
		return builtinSLOs()
	}
	if s := c.Lookup(service); s != nil {
		return s.SLOs
	}
	return c.Defaults.SLOs
}
