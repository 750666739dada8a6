package accesslog

import (
	"math"
	"strings"
	"unicode/utf8"

	"github.com/meshtel/meshtel/cookies/httpcookie"
)

// DefaultMaxHeaderBytes is the default of Converter.MaxHeaderBytes (SPEC §1).
const DefaultMaxHeaderBytes = 8 << 10

// headerBudget is what is left of one record's MaxHeaderBytes. Headers
// take from it in the order x-request-id, user-agent, cookie, set-cookie;
// cookie headers are cut between cookies, so the inventory never sees a
// cookie with a truncated name or value.
type headerBudget struct {
	left int
	cut  bool
}

func (c *Converter) headerBudget() headerBudget {
	switch {
	case c.MaxHeaderBytes < 0:
		return headerBudget{left: math.MaxInt}
	case c.MaxHeaderBytes == 0:
		return headerBudget{left: DefaultMaxHeaderBytes}
	}
	return headerBudget{left: c.MaxHeaderBytes}
}

// text keeps what fits of v, cut at a character boundary.
func (b *headerBudget) text(v string) string {
	if len(v) <= b.left {
		b.left -= len(v)
		return v
	}
	n := b.left
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	b.left, b.cut = 0, true
	return v[:n]
}

// cookie keeps the whole cookies of a Cookie header that fit.
func (b *headerBudget) cookie(h string) string {
	if len(h) <= b.left {
		b.left -= len(h)
		return h
	}
	// A cookie that ends right at the budget is kept: look one byte past.
	n := strings.LastIndexByte(h[:b.left+1], ';')
	b.left, b.cut = 0, true
	if n < 0 {
		return ""
	}
	return h[:n]
}

// setCookie keeps the whole lines of a folded Set-Cookie header that fit.
func (b *headerBudget) setCookie(h string) string {
	if len(h) <= b.left {
		b.left -= len(h)
		return h
	}
	keep, pos := 0, 0
	for _, line := range httpcookie.SplitSetCookie(h) {
		end := pos + len(line)
		if end > b.left {
			break
		}
		keep, pos = end, end+1 // past the folding comma
	}
	b.left, b.cut = 0, true
	return h[:keep]
}
