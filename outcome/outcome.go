// Package outcome defines the words of SPEC §3 for how one access-log entry
// counts against its service's SLO: good, bad or excluded. The record
// contract, the SLI classifier and the record parsers all use this one
// definition, so the words are spelled in one place.
//
// It is a leaf: it imports only the standard library.
package outcome

// Outcome is how one entry counts against an SLO. The zero value, Unknown,
// means no classifier has run (an encoding leaves the field out).
type Outcome uint8

// The outcomes of SPEC §3. The values are not encoded anywhere (encodings
// use the words), but keep Unknown the zero value.
const (
	Unknown  Outcome = iota
	Good             // counts as a good event
	Bad              // counts as a bad event: it burns error budget
	Excluded         // does not count at all
	numOutcomes
)

var names = [numOutcomes]string{"", "good", "bad", "excluded"}

// String returns "good", "bad" or "excluded", the record's outcome field, and
// "" for Unknown.
func (o Outcome) String() string {
	if o < numOutcomes {
		return names[o]
	}
	return ""
}

// Parse returns the outcome named s, and false when s names none (Unknown,
// "", included).
func Parse(s string) (Outcome, bool) {
	for i := Good; i < numOutcomes; i++ {
		if names[i] == s {
			return i, true
		}
	}
	return Unknown, false
}

// ParseBytes is Parse for a byte slice, without allocating: record parsers
// call it once per record.
func ParseBytes(b []byte) (Outcome, bool) {
	for i := Good; i < numOutcomes; i++ {
		if string(b) == names[i] {
			return i, true
		}
	}
	return Unknown, false
}

// All lists the known outcomes in order, for exporters that pre-create one
// series per outcome.
func All() []Outcome { return []Outcome{Good, Bad, Excluded} }
