package catalog

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// String formats the position as FILE:LINE:COL, the form editors and CI
// annotations jump to.
func (p Pos) String() string {
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Error is one mistake in a catalog file.
type Error struct {
	Pos Pos
	Msg string
}

// Error formats the mistake as FILE:LINE:COL: message.
func (e *Error) Error() string {
	return e.Pos.String() + ": " + e.Msg
}

// Errors are all the mistakes found in one catalog file, sorted by position.
// Parse returns them together so a user fixes a file in one round; any other
// error from Load (an unreadable file) is not an Errors, which is how callers
// such as dashgen tell exit code 1 from exit code 2.
type Errors []*Error

var _ error = Errors(nil)

// Error joins the mistakes with newlines, one FILE:LINE:COL: message each.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap exposes each mistake to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxErrors bounds the report: past it, more messages only hide the first
// ones, and a hostile file could otherwise produce millions.
const maxErrors = 500

// finish sorts by position, drops exact repeats (a YAML anchor used twice
// repeats its mistakes at the same place) and caps the count.
func (es Errors) finish() Errors {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
			strings.Compare(a.Msg, b.Msg),
		)
	})
	es = slices.CompactFunc(es, func(a, b *Error) bool { return *a == *b })
	if len(es) > maxErrors {
		last := es[maxErrors-1].Pos
		es = append(es[:maxErrors:maxErrors], &Error{Pos: last, Msg: fmt.Sprintf("too many errors (%d), stopping", len(es))})
	}
	return es
}
