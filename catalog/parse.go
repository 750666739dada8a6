package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Keys the catalog understands, per mapping. Anything else is a mistake.
var (
	topKeys          = []string{"defaults", "teams", "services"}
	defaultsKeys     = []string{"team", "slos"}
	teamKeys         = []string{"receiver", "slack", "runbook_base"}
	kindKeys         = []string{string(HTTPService), string(Cluster), string(TCPService)}
	serviceKeys      = []string{"http_service", "cluster", "tcp_service", "port", "healthcheck", "team", "upstreams", "slos", "aliases", "cookies", "domains", "spiffe", "runbook"}
	slosKeys         = []string{"availability", "latency"}
	availabilityKeys = []string{"objective"}
	latencyKeys      = []string{"objective", "threshold"}
)

var (
	// nameRE: names become file names, Grafana UIDs and Envoy names.
	nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	// objectiveRE: objectives are copied verbatim into PromQL and reports,
	// so only plain decimals are accepted (no 9.99e1, 0x63 or 099).
	objectiveRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)
	// yamlLineRE finds the line in yaml.v3's syntax errors ("yaml: line 3: …").
	yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// maxMergeDepth bounds chains of YAML merge keys (<<: *a where a merges
// another, which merges another…).
const maxMergeDepth = 32

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

type parser struct {
	file string
	errs Errors
	// budget counts node visits down. YAML aliases let a small file name
	// the same subtree many times over ("billion laughs"); past the budget
	// the walk stops.
	budget int
	// merging holds the mappings whose merge keys are being expanded.
	merging map[*yaml.Node]bool
}

// field is one key/value pair of a mapping.
type field struct{ key, val *yaml.Node }

func (p *parser) pos(n *yaml.Node) Pos {
	return Pos{File: p.file, Line: max(n.Line, 1), Column: max(n.Column, 1)}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Error{Pos: p.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// decode parses the YAML text, returning the root node or nil after
// recording why there is none.
func (p *parser) decode(data []byte) (root *yaml.Node) {
	defer func() {
		// yaml.v3 is not ours; a panic inside it must become a report, not
		// take down dashgen or alsd.
		if r := recover(); r != nil {
			p.errs = append(p.errs, &Error{Pos: Pos{File: p.file, Line: 1, Column: 1}, Msg: fmt.Sprintf("yaml: cannot parse: %v", r)})
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errs = append(p.errs, &Error{Pos: Pos{File: p.file, Line: 1, Column: 1}, Msg: "empty catalog: expected a mapping with defaults, teams and services"})
		} else {
			p.syntaxError(data, err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		p.errorf(&extra, "a catalog is a single YAML document; remove this second one")
	case !errors.Is(err, io.EOF):
		p.syntaxError(data, err)
	}
	if len(doc.Content) == 0 || isNull(p.resolve(doc.Content[0])) {
		p.errorf(&doc, "empty catalog: expected a mapping with defaults, teams and services")
		return nil
	}
	return doc.Content[0]
}

// parserProblems are yaml.v3's messages from its parser (not its scanner).
// For these it reports a 0-based line, and that of the enclosing block's
// start when the block does not begin on the first line: the mistake is on
// the reported line + 1 or below it.
var parserProblems = []string{
	"did not find expected key",
	"did not find expected '-' indicator",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected node content",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found duplicate %TAG directive",
	"found incompatible YAML document",
}

// unknownAnchorRE matches yaml.v3's one position-less composer error we can
// place ourselves.
var unknownAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

func (p *parser) syntaxError(data []byte, err error) {
	pos := Pos{File: p.file, Line: 1, Column: 1}
	text := err.Error()
	msg := "yaml syntax error: " + strings.TrimPrefix(text, "yaml: ")
	if m := yamlLineRE.FindStringSubmatch(text); m != nil {
		line, _ := strconv.Atoi(m[1]) // \d+ always converts
		msg = "yaml syntax error: " + m[2]
		if slices.Contains(parserProblems, m[2]) {
			line++
			msg = "yaml syntax error at or below this line: " + m[2]
		}
		pos.Line = max(line, 1)
	} else if m := unknownAnchorRE.FindStringSubmatch(text); m != nil {
		msg = fmt.Sprintf("alias *%s refers to no anchor &%s defined before it", m[1], m[1])
		if at := regexp.MustCompile(`\*` + regexp.QuoteMeta(m[1]) + `(?:[\s,\]}]|$)`).FindIndex(data); at != nil {
			pos = p.offsetPos(data, at[0])
		}
	} else if at := badRune(data); at >= 0 {
		pos = p.offsetPos(data, at)
	}
	p.errs = append(p.errs, &Error{Pos: pos, Msg: msg})
}

// yamlAllowed reports whether YAML admits r in a stream (YAML 1.2 §5.1).
func yamlAllowed(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r', r == 0x85:
		return true
	case r >= 0x20 && r <= 0x7e, r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}

// offsetPos turns a byte offset into a position, counting lines and
// columns as yaml.v3 does: columns in characters, and CR, LF, CRLF, NEL,
// LS and PS each end a line.
func (p *parser) offsetPos(data []byte, off int) Pos {
	line, col := 1, 1
	for i := 0; i < off; {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == '\r' && i+1 < off && data[i+1] == '\n':
			size = 2
			fallthrough
		case r == '\r', r == '\n', r == 0x85, r == 0x2028, r == 0x2029:
			line, col = line+1, 1
		default:
			col++
		}
		i += size
	}
	return Pos{File: p.file, Line: line, Column: col}
}

// badRune returns the offset of the first byte YAML rejects (invalid UTF-8,
// or a control character other than tab and line breaks), or -1. yaml.v3
// reports these without a position.
func badRune(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 || !yamlAllowed(r) {
			return i
		}
		i += size
	}
	return -1
}

// resolve follows an alias to the node it names and charges the visit to
// the budget.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	p.budget--
	if p.budget == 0 {
		p.errorf(n, "catalog too large, or its aliases expand too far; stopping here")
	}
	return n
}

func (p *parser) exhausted() bool { return p.budget <= 0 }

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's YAML type for "must be X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	}
	switch t := n.ShortTag(); t {
	case "!!str":
		return fmt.Sprintf("a string (%q)", n.Value)
	case "!!int":
		return "an integer (" + n.Value + ")"
	case "!!float":
		return "a number (" + n.Value + ")"
	case "!!bool":
		return "a boolean (" + n.Value + ")"
	case "!!null":
		return "null"
	case "!!timestamp":
		return "a timestamp (" + n.Value + ")"
	default:
		return "a value tagged " + t
	}
}

// pairs returns the key/value pairs of mapping n, reporting duplicate keys
// and applying YAML merge keys (<<): explicit keys win over merged ones, and
// earlier merge sources over later ones.
func (p *parser) pairs(n *yaml.Node, depth int) []field {
	var out []field
	var merges []*yaml.Node
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content) && !p.exhausted(); i += 2 {
		k, v := p.resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "keys must be strings, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k, "duplicate key %q (first at %s)", k.Value, p.pos(first))
			continue
		}
		seen[k.Value] = k
		out = append(out, field{k, v})
	}
	for _, m := range merges {
		for _, f := range p.mergeSources(m, depth) {
			if _, ok := seen[f.key.Value]; !ok {
				seen[f.key.Value] = f.key
				out = append(out, f)
			}
		}
	}
	return out
}

// mergeSources returns the pairs a merge key's value contributes: one
// mapping, or a list of mappings.
func (p *parser) mergeSources(v *yaml.Node, depth int) []field {
	v = p.resolve(v)
	if depth >= maxMergeDepth {
		p.errorf(v, "merge keys (<<) nested more than %d deep", maxMergeDepth)
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return p.mergeMapping(v, depth)
	case yaml.SequenceNode:
		var out []field
		for _, item := range v.Content {
			if p.exhausted() {
				break
			}
			item = p.resolve(item)
			if item.Kind != yaml.MappingNode {
				p.errorf(item, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(item))
				continue
			}
			out = append(out, p.mergeMapping(item, depth)...)
		}
		return out
	}
	p.errorf(v, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(v))
	return nil
}

// mergeMapping returns the pairs of a mapping merged into another,
// refusing a mapping that (through merges) includes itself.
func (p *parser) mergeMapping(m *yaml.Node, depth int) []field {
	if p.merging[m] {
		p.errorf(m, "a merge key (<<) includes the mapping that contains it")
		return nil
	}
	if p.merging == nil {
		p.merging = make(map[*yaml.Node]bool)
	}
	p.merging[m] = true
	defer delete(p.merging, m)
	return p.pairs(m, depth+1)
}

// known reports keys outside keys and returns the rest by name. where says
// whose mapping it is, for the message.
func (p *parser) known(fs []field, where string, keys []string) map[string]field {
	m := make(map[string]field, len(fs))
	for _, f := range fs {
		if !slices.Contains(keys, f.key.Value) {
			hint := didYouMean(f.key.Value, keys)
			if hint == "" {
				hint = "; valid keys: " + strings.Join(keys, ", ")
			}
			p.errorf(f.key, "unknown key %q in %s%s", f.key.Value, where, hint)
			continue
		}
		m[f.key.Value] = f
	}
	return m
}

// mapping checks that n is a mapping and returns its known keys. A null
// value is an empty mapping. ok is false when n is not a mapping.
func (p *parser) mapping(n *yaml.Node, where, example string, keys []string) (fs map[string]field, ok bool) {
	n = p.resolve(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping%s, got %s", where, example, describe(n))
		return nil, false
	}
	return p.known(p.pairs(n, 0), where, keys), true
}

// str decodes a string scalar; what names it for the message.
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	n = p.resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.errorf(n, "%s must be a string, got %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

// strList decodes a list of strings, reporting entries listed twice. A null
// value is an empty list. nodes[i] is where vals[i] was written.
func (p *parser) strList(n *yaml.Node, key, owner string) (vals []string, nodes []*yaml.Node) {
	n = p.resolve(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
			hint = fmt.Sprintf("; write [%s]", n.Value)
		}
		p.errorf(n, "%s of %s must be a list of strings, got %s%s", key, owner, describe(n), hint)
		return nil, nil
	}
	seen := make(map[string]*yaml.Node, len(n.Content))
	for _, item := range n.Content {
		if p.exhausted() {
			break
		}
		item = p.resolve(item)
		s, ok := p.str(item, key+" entry of "+owner)
		if !ok {
			continue
		}
		if first, dup := seen[s]; dup {
			p.errorf(item, "%s of %s lists %q twice (first at %s)", key, owner, s, p.pos(first))
			continue
		}
		seen[s] = item
		vals = append(vals, s)
		nodes = append(nodes, item)
	}
	return vals, nodes
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
	var defaultTeam *yaml.Node
	if f, ok := top["defaults"]; ok {
		if fs, ok := p.mapping(f.val, "defaults", " with team and slos", defaultsKeys); ok {
			if t, ok := fs["team"]; ok {
				if name, ok := p.str(t.val, "team of defaults"); ok {
					c.Defaults.Team = name
					defaultTeam = p.resolve(t.val)
				}
			}
			if s, ok := fs["slos"]; ok {
				c.Defaults.SLOs = p.slos(s.val, "defaults", c.Defaults.SLOs, false)
			}
		}
	}
	if defaultTeam != nil {
		p.checkTeam(c.Defaults.Team, defaultTeam, "defaults", state, teamNodes)
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
	owner := fmt.Sprintf("service entry #%d", ordinal)
	if kindField.key != nil {
		s.Kind = Kind(kindField.key.Value)
		s.Pos = p.pos(kindField.key)
		s.nameNode = p.resolve(kindField.val)
		if name, ok := p.str(kindField.val, string(s.Kind)+" name"); ok {
			s.Name = name
			owner = fmt.Sprintf("service %q", name)
			if nameRE.MatchString(name) {
				s.named = true
			} else {
				p.errorf(s.nameNode, "invalid service name %q: must match %s", name, nameRE)
			}
		}
	}
	s.owner = owner
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
		if hc, ok := p.str(f.val, "healthcheck of "+owner); ok {
			at := p.resolve(f.val)
			switch {
			case s.Kind == TCPService:
				p.errorf(f.key, "%s is a tcp_service: it has no HTTP health check", owner)
			case !strings.HasPrefix(hc, "/"):
				p.errorf(at, "healthcheck %q of %s must start with /", hc, owner)
			case strings.ContainsRune(hc, '?'):
				p.errorf(at, "healthcheck %q of %s must be a path without a query string (health checks match the path alone)", hc, owner)
			case strings.ContainsFunc(hc, unicode.IsSpace):
				p.errorf(at, "healthcheck %q of %s contains white space", hc, owner)
			default:
				s.HealthCheck = hc
			}
		}
	}
	if f, ok := m["team"]; ok {
		if t, ok := p.str(f.val, "team of "+owner); ok {
			s.Team = t
			s.teamNode = p.resolve(f.val)
		}
	} else {
		s.Team = defaults.Team
	}
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
	if f, ok := m["cookies"]; ok {
		var nodes []*yaml.Node
		s.Cookies, nodes = p.strList(f.val, "cookies", owner)
		for i, c := range s.Cookies {
			if !isToken(c) {
				p.errorf(nodes[i], "cookie %q of %s is not a valid cookie name (RFC 6265 token)", c, owner)
			}
		}
	}
	if f, ok := m["domains"]; ok {
		var nodes []*yaml.Node
		s.Domains, nodes = p.strList(f.val, "domains", owner)
		for i, d := range s.Domains {
			if d == "" || strings.ContainsAny(d, "/:@ \t") {
				p.errorf(nodes[i], "domain %q of %s must be a host name such as example.com", d, owner)
			}
		}
	}
	if f, ok := m["spiffe"]; ok {
		var nodes []*yaml.Node
		s.SPIFFE, nodes = p.strList(f.val, "spiffe", owner)
		for i, id := range s.SPIFFE {
			if len(id) <= len("spiffe://") || !strings.HasPrefix(id, "spiffe://") {
				p.errorf(nodes[i], "spiffe identity %q of %s must be a spiffe:// URI", id, owner)
			}
		}
	}
	if f, ok := m["runbook"]; ok {
		s.Runbook, _ = p.str(f.val, "runbook of "+owner)
	}
	var slosNode *yaml.Node
	if f, ok := m["slos"]; ok {
		slosNode = f.val
	}
	s.SLOs = p.slos(slosNode, owner, defaults.SLOs, s.Kind == TCPService)
	return s
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
		where := "availability SLO of " + owner
		v := p.resolve(f.val)
		if isNull(v) {
			p.errorf(v, "%s cannot be disabled: every service has one", where)
		} else if m, ok := p.mapping(v, where, " like {objective: 99.9}", availabilityKeys); ok {
			if o, ok := m["objective"]; ok {
				if obj, ok := p.objective(o.val, where); ok {
					out.Availability = &obj
				}
			}
		}
	}
	if f, ok := fs["latency"]; ok {
		where := "latency SLO of " + owner
		v := p.resolve(f.val)
		switch {
		case isNull(v):
			out.Latency = nil
		case tcp:
			p.errorf(f.key, "%s is a tcp_service: it gets availability SLOs only; remove latency", owner)
		default:
			m, ok := p.mapping(v, where, " like {objective: 99, threshold: 500ms}", latencyKeys)
			if !ok {
				break
			}
			lat := LatencyObjective{}
			if out.Latency != nil {
				lat = *out.Latency
			}
			complete := true
			if o, ok := m["objective"]; ok {
				if obj, ok := p.objective(o.val, where); ok {
					lat.Objective = obj
				}
			} else if out.Latency == nil {
				p.errorf(f.key, "%s needs an objective: the defaults disable latency", where)
				complete = false
			}
			if t, ok := m["threshold"]; ok {
				if d, text, ok := p.threshold(t.val, where); ok {
					lat.Threshold, lat.ThresholdText = d, text
				}
			} else if out.Latency == nil {
				p.errorf(f.key, "%s needs a threshold: the defaults disable latency", where)
				complete = false
			}
			if complete {
				out.Latency = &lat
			}
		}
	}
	return out
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
