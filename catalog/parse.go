package catalog

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/meshtel/meshtel/pii"
	"go.yaml.in/yaml/v3"
)

// Keys the catalog understands, per mapping. Anything else is a mistake.
var (
	topKeys          = []string{"defaults", "teams", "services", "pipeline", "privacy"}
	defaultsKeys     = []string{"team", "slos", "alerting"}
	pipelineKeys     = []string{"team"}
	alertingKeys     = []string{"min_bad_events"}
	teamKeys         = []string{"receiver", "slack", "runbook_base"}
	kindKeys         = []string{string(HTTPService), string(Cluster), string(TCPService)}
	serviceKeys      = []string{"http_service", "cluster", "tcp_service", "port", "healthcheck", "team", "upstreams", "slos", "alerting", "aliases", "cookies", "domains", "spiffe", "runbook"}
	slosKeys         = []string{"availability", "latency"}
	availabilityKeys = []string{"objective", "window"}
	latencyKeys      = []string{"objective", "threshold", "window"}
)

var (
	// nameRE: names become file names, Grafana UIDs and Envoy names.
	nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	// objectiveRE: objectives are copied verbatim into PromQL and reports,
	// so only plain decimals are accepted (no 9.99e1, 0x63 or 099).
	objectiveRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)
	// integerRE: a decimal integer literal, however large.
	integerRE = regexp.MustCompile(`^[-+]?[0-9]+$`)
)

// Load reads and parses the catalog file at path. A file that cannot be
// read yields a wrapped I/O error; a file with mistakes yields Errors.
func Load(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load catalog: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and checks catalog YAML; file names the source in positions.
// It reports every mistake it finds, as Errors sorted by position, and
// returns a catalog only when there are none.
func Parse(file string, data []byte) (*Catalog, error) {
	p := &parser{file: file, budget: 10000 + 10*len(data)}
	if root := p.decode(data); root != nil {
		if c := p.catalog(root); c != nil && len(p.errs) == 0 {
			c.idx = newIndex(c)
			return c, nil
		}
	}
	return nil, p.errs.finish()
}

// teamsState says whether team references can be checked.
type teamsState int

const (
	teamsAbsent teamsState = iota // no teams: section; every reference is undefined
	teamsBroken                   // teams: is malformed; references are not checked
	teamsOK
)

// rawService is a decoded service with the nodes its cross-references need.
type rawService struct {
	Service
	owner     string // "service \"name\"" or "service entry #3", for messages
	named     bool   // has a valid name, so it takes part in cross-checks
	nameNode  *yaml.Node
	teamNode  *yaml.Node // nil when the service names no team
	portNode  *yaml.Node
	upstreams []*yaml.Node
	aliases   []*yaml.Node
}

func (p *parser) catalog(root *yaml.Node) *Catalog {
	root = p.resolve(root)
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "a catalog must be a mapping with defaults, teams and services, got %s", describe(root))
		return nil
	}
	c := &Catalog{File: p.file}
	// Top-level x- keys are free for anchors, as in Docker Compose files.
	fs := slices.DeleteFunc(p.pairs(root, 0), func(f field) bool { return strings.HasPrefix(f.key.Value, "x-") })
	top := p.known(fs, "the catalog", topKeys)

	state := teamsAbsent
	teamNodes := map[string]*yaml.Node{}
	if f, ok := top["teams"]; ok {
		c.Teams, teamNodes, state = p.teams(f.val)
	}

	c.Defaults.SLOs = builtinSLOs()
	c.Defaults.Alerting = Alerting{MinBadEvents: DefaultMinBadEvents}
	var defaultTeam *yaml.Node
	if f, ok := top["defaults"]; ok {
		if fs, ok := p.mapping(f.val, "defaults", " with team, slos and alerting", defaultsKeys); ok {
			if t, ok := fs["team"]; ok {
				if name, ok := p.str(t.val, "team of defaults"); ok {
					c.Defaults.Team = name
					defaultTeam = p.resolve(t.val)
				}
			}
			if s, ok := fs["slos"]; ok {
				c.Defaults.SLOs = p.slos(s.val, "defaults", c.Defaults.SLOs, false)
			}
			if a, ok := fs["alerting"]; ok {
				c.Defaults.Alerting = p.alerting(a.val, "defaults", c.Defaults.Alerting)
			}
		}
	}
	if defaultTeam != nil {
		p.checkTeam(c.Defaults.Team, defaultTeam, "defaults", state, teamNodes)
	}
	c.Pipeline.Team = c.Defaults.Team
	if f, ok := top["pipeline"]; ok {
		c.Pipeline.Team = p.pipelineTeam(f.val, c.Defaults.Team, state, teamNodes)
	}
	c.Privacy = Privacy{MaxCookieLifetime: DefaultMaxCookieLifetime}
	if f, ok := top["privacy"]; ok {
		c.Privacy = p.privacy(f.val)
	}

	f, ok := top["services"]
	if !ok {
		p.errorf(root, "the catalog has no services key; list the mesh's services under it")
		return c
	}
	svcs := p.services(f.val, c.Defaults)
	p.crossCheck(svcs, state, teamNodes)
	c.Services = make([]Service, 0, len(svcs))
	for _, s := range svcs {
		c.Services = append(c.Services, s.Service)
	}
	return c
}

func (p *parser) teams(n *yaml.Node) ([]Team, map[string]*yaml.Node, teamsState) {
	n = p.resolve(n)
	nodes := map[string]*yaml.Node{}
	if isNull(n) {
		return nil, nodes, teamsOK
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "teams must be a mapping of team names to {receiver: …}, got %s", describe(n))
		return nil, nodes, teamsBroken
	}
	var teams []Team
	for _, f := range p.pairs(n, 0) {
		if p.exhausted() {
			break
		}
		name := f.key.Value
		nodes[name] = f.key
		if !nameRE.MatchString(name) {
			p.errorf(f.key, "invalid team name %q: must match %s", name, nameRE)
		}
		owner := fmt.Sprintf("team %q", name)
		t := Team{Name: name, Pos: p.pos(f.key)}
		v := p.resolve(f.val)
		var pairs []field
		switch {
		case v.Kind == yaml.MappingNode:
			pairs = p.pairs(v, 0)
		case !isNull(v):
			p.errorf(v, "%s must be a mapping like {receiver: %s-oncall}, got %s", owner, name, describe(v))
			continue
		}
		fs := p.known(pairs, owner, teamKeys)
		if r, ok := fs["receiver"]; ok && !isNull(p.resolve(r.val)) {
			t.Receiver, _ = p.str(r.val, "receiver of "+owner)
		}
		if t.Receiver == "" && !misspelt(pairs, teamKeys, "receiver") {
			p.errorf(f.key, "team %q has no receiver", name)
		}
		if v, ok := fs["slack"]; ok {
			t.Slack, _ = p.str(v.val, "slack of "+owner)
		}
		if v, ok := fs["runbook_base"]; ok {
			t.RunbookBase, _ = p.str(v.val, "runbook_base of "+owner)
		}
		teams = append(teams, t)
	}
	return teams, nodes, teamsOK
}

// pipelineTeam decodes pipeline: {team: T}, returning T, or def when the
// mapping names no team.
func (p *parser) pipelineTeam(n *yaml.Node, def string, state teamsState, teams map[string]*yaml.Node) string {
	fs, ok := p.mapping(n, "pipeline", " like {team: platform}", pipelineKeys)
	if !ok {
		return def
	}
	t, ok := fs["team"]
	if !ok {
		return def
	}
	name, ok := p.str(t.val, "team of pipeline")
	if !ok {
		return def
	}
	p.checkTeam(name, p.resolve(t.val), "pipeline", state, teams)
	return name
}

// alerting decodes an alerting mapping over base: a value it does not set
// keeps base's.
func (p *parser) alerting(n *yaml.Node, owner string, base Alerting) Alerting {
	fs, ok := p.mapping(n, "alerting of "+owner, " like {min_bad_events: 10}", alertingKeys)
	if !ok {
		return base
	}
	if f, ok := fs["min_bad_events"]; ok {
		if v, ok := p.minBadEvents(f.val, owner); ok {
			base.MinBadEvents = v
		}
	}
	return base
}

// maxMinBadEvents bounds min_bad_events far above any sensible value, so
// the number always fits an int and prints as itself in PromQL.
const maxMinBadEvents = 1_000_000_000

func (p *parser) minBadEvents(n *yaml.Node, owner string) (int, bool) {
	n = p.resolve(n)
	// yaml.v3 tags integers beyond int64 as floats; they are still whole.
	whole := n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float" && integerRE.MatchString(n.Value))
	if !whole {
		p.errorf(n, "min_bad_events of %s must be a whole number of bad requests (0 turns the low-traffic guard off), got %s", owner, describe(n))
		return 0, false
	}
	var v int64
	err := n.Decode(&v)
	switch {
	case strings.HasPrefix(n.Value, "-") && (err != nil || v < 0):
		p.errorf(n, "min_bad_events %s of %s is negative; use 0 to turn the low-traffic guard off", n.Value, owner)
		return 0, false
	case err != nil || v > maxMinBadEvents:
		p.errorf(n, "min_bad_events %s of %s is too large: at most %d", n.Value, owner, maxMinBadEvents)
		return 0, false
	}
	return int(v), true
}

// checkTeam reports a team reference that no team defines.
func (p *parser) checkTeam(name string, at *yaml.Node, owner string, state teamsState, teams map[string]*yaml.Node) {
	switch state {
	case teamsBroken:
		return
	case teamsAbsent:
		p.errorf(at, "team %q of %s is not defined: the catalog has no teams section", name, owner)
		return
	}
	if _, ok := teams[name]; !ok {
		p.errorf(at, "team %q of %s is not defined under teams%s", name, owner, didYouMean(name, mapKeys(teams)))
	}
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic suggestions on ties
	return keys
}

func (p *parser) services(n *yaml.Node, defaults Defaults) []*rawService {
	n = p.resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "services must be a list of service entries (- http_service: name …), got %s", describe(n))
		return nil
	}
	svcs := make([]*rawService, 0, len(n.Content))
	for i, item := range n.Content {
		if p.exhausted() {
			break
		}
		if s := p.service(item, i+1, defaults); s != nil {
			svcs = append(svcs, s)
		}
	}
	return svcs
}

func (p *parser) service(n *yaml.Node, ordinal int, defaults Defaults) *rawService {
	n = p.resolve(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "service entry #%d must be a mapping with one of http_service, cluster or tcp_service, got %s", ordinal, describe(n))
		return nil
	}
	fs := p.pairs(n, 0)
	s := &rawService{}
	// The name comes first: every other message names the service.
	kindField := p.serviceName(fs, ordinal, s)
	owner := s.owner
	m := p.known(fs, owner, serviceKeys)
	if kindField.key == nil && !misspelt(fs, serviceKeys, kindKeys...) {
		p.errorf(n, "%s needs exactly one of http_service, cluster or tcp_service", owner)
	}

	if f, ok := m["port"]; ok {
		s.portNode = p.resolve(f.val)
		s.Port = p.port(f.val, owner)
	} else if kindField.key != nil && !misspelt(fs, serviceKeys, "port") {
		p.errorf(kindField.key, "%s has no port", owner)
	}
	if f, ok := m["healthcheck"]; ok {
		p.healthCheck(f, s)
	}
	if f, ok := m["team"]; ok {
		if t, ok := p.str(f.val, "team of "+owner); ok {
			s.Team = t
			s.teamNode = p.resolve(f.val)
		}
	} else {
		s.Team = defaults.Team
	}
	p.serviceLists(m, s)
	if f, ok := m["runbook"]; ok {
		s.Runbook, _ = p.str(f.val, "runbook of "+owner)
	}
	var slosNode *yaml.Node
	if f, ok := m["slos"]; ok {
		slosNode = f.val
	}
	s.SLOs = p.slos(slosNode, owner, defaults.SLOs, s.Kind == TCPService)
	s.Alerting = defaults.Alerting
	if f, ok := m["alerting"]; ok {
		s.Alerting = p.alerting(f.val, owner, defaults.Alerting)
	}
	return s
}

// serviceName reads the entry's kind key (http_service, cluster or
// tcp_service) and the name under it into s, sets s.owner, the service's
// name in every later message, and returns the kind's field (no key when
// there is none).
func (p *parser) serviceName(fs []field, ordinal int, s *rawService) field {
	var kindField field
	for _, f := range fs {
		if !slices.Contains(kindKeys, f.key.Value) {
			continue
		}
		if kindField.key != nil {
			p.errorf(f.key, "service has both %s and %s; use exactly one of http_service, cluster or tcp_service", kindField.key.Value, f.key.Value)
			continue
		}
		kindField = f
	}
	s.owner = fmt.Sprintf("service entry #%d", ordinal)
	if kindField.key == nil {
		return kindField
	}
	s.Kind = Kind(kindField.key.Value)
	s.Pos = p.pos(kindField.key)
	s.nameNode = p.resolve(kindField.val)
	name, ok := p.str(kindField.val, string(s.Kind)+" name")
	if !ok {
		return kindField
	}
	s.Name = name
	s.owner = fmt.Sprintf("service %q", name)
	switch {
	case !nameRE.MatchString(name):
		p.errorf(s.nameNode, "invalid service name %q: must match %s", name, nameRE)
	case name == PipelineName:
		p.errorf(s.nameNode, "service name %q is reserved for the pipeline's own alerts (%s.rules.yml)", name, PipelineName)
		s.named = true // a valid name: upstreams naming it are not mistakes too
	default:
		s.named = true
	}
	return kindField
}

// healthCheck reads the healthcheck key of s.
func (p *parser) healthCheck(f field, s *rawService) {
	hc, ok := p.str(f.val, "healthcheck of "+s.owner)
	if !ok {
		return
	}
	at := p.resolve(f.val)
	switch {
	case s.Kind == TCPService:
		p.errorf(f.key, "%s is a tcp_service: it has no HTTP health check", s.owner)
	case !strings.HasPrefix(hc, "/"):
		p.errorf(at, "healthcheck %q of %s must start with /", hc, s.owner)
	case strings.ContainsRune(hc, '?'):
		p.errorf(at, "healthcheck %q of %s must be a path without a query string (health checks match the path alone)", hc, s.owner)
	case strings.ContainsFunc(hc, unicode.IsSpace):
		p.errorf(at, "healthcheck %q of %s contains white space", hc, s.owner)
	case pii.Path(hc, new(pii.Counts)) != hc:
		// alsd compares the masked path with the health check.
		p.errorf(at, "healthcheck %q of %s holds what alsd masks as personal data (%s); it would never match", hc, s.owner, pii.Path(hc, new(pii.Counts)))
	default:
		s.HealthCheck = hc
	}
}

// serviceLists reads the list keys of s: upstreams, aliases, cookies,
// domains and spiffe, checking each item.
func (p *parser) serviceLists(m map[string]field, s *rawService) {
	owner := s.owner
	if f, ok := m["upstreams"]; ok {
		s.Upstreams, s.upstreams = p.strList(f.val, "upstreams", owner)
	}
	if f, ok := m["aliases"]; ok {
		s.Aliases, s.aliases = p.strList(f.val, "aliases", owner)
		for i, a := range s.Aliases {
			if a == "" || len(a) > 253 || strings.ContainsFunc(a, unicode.IsSpace) {
				p.errorf(s.aliases[i], "alias %q of %s must be 1 to 253 characters without white space", a, owner)
			}
		}
	}
	check := func(key string, dst *[]string, bad func(string) bool, msg string) {
		f, ok := m[key]
		if !ok {
			return
		}
		var nodes []*yaml.Node
		*dst, nodes = p.strList(f.val, key, owner)
		for i, v := range *dst {
			if bad(v) {
				p.errorf(nodes[i], msg, v, owner)
			}
		}
	}
	check("cookies", &s.Cookies, func(c string) bool { return !isToken(c) },
		"cookie %q of %s is not a valid cookie name (RFC 6265 token)")
	check("domains", &s.Domains, func(d string) bool { return d == "" || strings.ContainsAny(d, "/:@ \t") },
		"domain %q of %s must be a host name such as example.com")
	check("spiffe", &s.SPIFFE, func(id string) bool { return len(id) <= len("spiffe://") || !strings.HasPrefix(id, "spiffe://") },
		"spiffe identity %q of %s must be a spiffe:// URI")
}

// misspelt reports whether an unknown key in fs looks like a misspelling
// of one of want: then "unknown key … did you mean" already says what is
// missing, and a second message would only repeat it.
func misspelt(fs []field, keys []string, want ...string) bool {
	for _, f := range fs {
		if !slices.Contains(keys, f.key.Value) && slices.Contains(want, suggest(f.key.Value, keys)) {
			return true
		}
	}
	return false
}

func (p *parser) port(n *yaml.Node, owner string) int {
	n = p.resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.errorf(n, "port of %s must be an integer, got %s", owner, describe(n))
		return 0
	}
	var v int64
	if err := n.Decode(&v); err != nil || v < 1 || v > 65535 {
		p.errorf(n, "port %s of %s is outside 1-65535", n.Value, owner)
		return 0
	}
	return int(v)
}

// isToken reports whether s is an HTTP token, the syntax RFC 6265 gives
// cookie names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return true
}

// slos decodes an slos mapping and merges it field by field over base.
// tcp drops latency: TCP services get availability SLOs only.
func (p *parser) slos(n *yaml.Node, owner string, base SLOs, tcp bool) SLOs {
	out := SLOs{}
	if base.Availability != nil {
		a := *base.Availability
		out.Availability = &a
	}
	if base.Latency != nil && !tcp {
		l := *base.Latency
		out.Latency = &l
	}
	if n == nil {
		return out
	}
	fs, ok := p.mapping(n, "slos of "+owner, " with availability and latency", slosKeys)
	if !ok {
		return out
	}
	if f, ok := fs["availability"]; ok {
		out.Availability = p.availability(f, owner, out.Availability)
	}
	if f, ok := fs["latency"]; ok {
		out.Latency = p.latency(f, owner, out.Latency, tcp)
	}
	return out
}

// availability decodes an availability SLO and merges it over base.
func (p *parser) availability(f field, owner string, base *Objective) *Objective {
	where := "availability SLO of " + owner
	v := p.resolve(f.val)
	if isNull(v) {
		p.errorf(v, "%s cannot be disabled: every service has one", where)
		return base
	}
	m, ok := p.mapping(v, where, " like {objective: 99.9}", availabilityKeys)
	if !ok {
		return base
	}
	out := Objective{Window: DefaultWindow}
	if base != nil {
		out = *base
	}
	p.objectiveFields(m, where, &out)
	return &out
}

// latency decodes a latency SLO and merges it over base; nil disables it.
func (p *parser) latency(f field, owner string, base *LatencyObjective, tcp bool) *LatencyObjective {
	where := "latency SLO of " + owner
	v := p.resolve(f.val)
	switch {
	case isNull(v):
		return nil
	case tcp:
		p.errorf(f.key, "%s is a tcp_service: it gets availability SLOs only; remove latency", owner)
		return base
	}
	m, ok := p.mapping(v, where, " like {objective: 99, threshold: 500ms}", latencyKeys)
	if !ok {
		return base
	}
	lat := LatencyObjective{Objective: Objective{Window: DefaultWindow}}
	if base != nil {
		lat = *base
	}
	complete := true
	if _, ok := m["objective"]; !ok && base == nil {
		p.errorf(f.key, "%s needs an objective: the defaults disable latency", where)
		complete = false
	}
	p.objectiveFields(m, where, &lat.Objective)
	if t, ok := m["threshold"]; ok {
		if d, text, ok := p.threshold(t.val, where); ok {
			lat.Threshold, lat.ThresholdText = d, text
		}
	} else if base == nil {
		p.errorf(f.key, "%s needs a threshold: the defaults disable latency", where)
		complete = false
	}
	if !complete {
		return base
	}
	return &lat
}

// objectiveFields sets the objective and window an SLO mapping gives.
func (p *parser) objectiveFields(m map[string]field, where string, o *Objective) {
	if f, ok := m["objective"]; ok {
		if obj, ok := p.objective(f.val, where); ok {
			o.Percent, o.Text = obj.Percent, obj.Text
		}
	}
	if f, ok := m["window"]; ok {
		if w, ok := p.window(f.val, where); ok {
			o.Window = w
		}
	}
}

// window decodes an SLO's window: one of Windows, written as a string.
func (p *parser) window(n *yaml.Node, where string) (Window, bool) {
	n = p.resolve(n)
	names := make([]string, len(Windows))
	for i, w := range Windows {
		names[i] = string(w)
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, "window of %s must be one of %s, got %s", where, want, describe(n))
		return "", false
	}
	if w := Window(n.Value); n.ShortTag() == "!!str" && slices.Contains(Windows, w) {
		return w, true
	}
	p.errorf(n, "window %s of %s is not one of %s (rolling days, or month for the calendar month in UTC)%s",
		n.Value, where, want, didYouMean(n.Value, names))
	return "", false
}

func (p *parser) objective(n *yaml.Node, where string) (Objective, bool) {
	n = p.resolve(n)
	if t := n.ShortTag(); n.Kind != yaml.ScalarNode || (t != "!!int" && t != "!!float") {
		p.errorf(n, "objective of %s must be a number (a percentage such as 99.9), got %s", where, describe(n))
		return Objective{}, false
	}
	if !objectiveRE.MatchString(n.Value) {
		p.errorf(n, "objective %s of %s must be written as a plain decimal percentage such as 99.9", n.Value, where)
		return Objective{}, false
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || v <= 0 || v >= 100 {
		p.errorf(n, "objective %s of %s is outside (0, 100)", n.Value, where)
		return Objective{}, false
	}
	return Objective{Percent: v, Text: n.Value}, true
}

func (p *parser) threshold(n *yaml.Node, where string) (time.Duration, string, bool) {
	n = p.resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, "threshold of %s must be a duration such as 500ms, got %s", where, describe(n))
		return 0, "", false
	}
	d, err := time.ParseDuration(n.Value)
	switch {
	case err != nil:
		p.errorf(n, "threshold %q of %s is not a duration such as 500ms or 1s", n.Value, where)
		return 0, "", false
	case d <= 0:
		p.errorf(n, "threshold %q of %s must be positive", n.Value, where)
		return 0, "", false
	}
	return d, n.Value, true
}

// crossCheck reports what one service alone cannot show: names, aliases
// and ports used twice, undefined teams and unknown upstreams. It also
// rewrites upstreams given by alias to service names.
func (p *parser) crossCheck(svcs []*rawService, state teamsState, teams map[string]*yaml.Node) {
	type def struct {
		svc   *rawService
		at    *yaml.Node
		alias bool
	}
	names := make(map[string]def, len(svcs))
	ports := make(map[int]*rawService, len(svcs))
	describeDef := func(d def) string {
		if d.alias {
			return fmt.Sprintf("an alias of service %q (at %s)", d.svc.Name, p.pos(d.at))
		}
		return fmt.Sprintf("service %q (at %s)", d.svc.Name, p.pos(d.at))
	}
	for _, s := range svcs {
		if !s.named {
			continue
		}
		if first, dup := names[s.Name]; dup {
			p.errorf(s.nameNode, "duplicate service name %q: already used by %s", s.Name, describeDef(first))
		} else {
			names[s.Name] = def{s, s.nameNode, false}
		}
		for i, a := range s.Aliases {
			if first, dup := names[a]; dup {
				p.errorf(s.aliases[i], "alias %q of service %q is already used by %s", a, s.Name, describeDef(first))
				continue
			}
			names[a] = def{s, s.aliases[i], true}
		}
		if s.Port != 0 {
			if first, dup := ports[s.Port]; dup {
				p.errorf(s.portNode, "port %d of service %q clashes with service %q (at %s)", s.Port, s.Name, first.Name, p.pos(first.portNode))
			} else {
				ports[s.Port] = s
			}
		}
	}
	serviceNames := make([]string, 0, len(svcs))
	for _, s := range svcs {
		if s.named {
			serviceNames = append(serviceNames, s.Name)
		}
	}
	for _, s := range svcs {
		if s.teamNode != nil {
			p.checkTeam(s.Team, s.teamNode, s.owner, state, teams)
		}
		seen := make(map[string]string, len(s.Upstreams))
		ups := s.Upstreams[:0]
		for i, up := range s.Upstreams {
			d, ok := names[up]
			if !ok {
				p.errorf(s.upstreams[i], "upstream %q of %s names no service in the catalog%s", up, s.owner, didYouMean(up, serviceNames))
				continue
			}
			if first, dup := seen[d.svc.Name]; dup {
				p.errorf(s.upstreams[i], "upstreams of %s list service %q twice, as %q and %q", s.owner, d.svc.Name, first, up)
				continue
			}
			seen[d.svc.Name] = up
			ups = append(ups, d.svc.Name)
		}
		s.Upstreams = ups
	}
}
