package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// This file holds the YAML layer of Parse: decoding with positions, syntax
// errors placed in the file, aliases and merge keys, duplicate and unknown
// keys, and scalar and list types. parse.go builds the catalog on top.

// yamlLineRE finds the line in yaml.v3's syntax errors ("yaml: line 3: …").
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// maxMergeDepth bounds chains of YAML merge keys (<<: *a where a merges
// another, which merges another…).
const maxMergeDepth = 32

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
