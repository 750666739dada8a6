package pii

import "strconv"

// Kind is a kind of personal data the masker recognises.
type Kind uint8

// The kinds of SPEC §2, in the order Path tries them.
const (
	Email Kind = iota // an e-mail address
	Card              // a payment card number
	JWT               // a JSON Web Token (JWS compact form)
	Token             // a secret-looking token
	numKinds
)

var (
	kindNames    = [numKinds]string{"email", "card", "jwt", "token"}
	placeholders = [numKinds]string{"{email}", "{card}", "{jwt}", "{token}"}
)

// String returns the kind as the kind label of alsd_pii_masked_total
// ("email", "card", "jwt", "token").
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Placeholder returns what a masked unit of this kind becomes ("{email}").
func (k Kind) Placeholder() string {
	if k < numKinds {
		return placeholders[k]
	}
	return "{" + k.String() + "}"
}

// Counts counts masked units per Kind; index it with a Kind. Callers keep
// one per record or per batch and add it to alsd_pii_masked_total{kind},
// ranging over it: for k, n := range c { … Kind(k).String() … }.
type Counts [numKinds]uint32

// Total returns the number of units masked, all kinds together.
func (c *Counts) Total() uint32 {
	var t uint32
	for _, n := range c {
		t += n
	}
	return t
}

func (c *Counts) add(k Kind) {
	if c != nil {
		c[k]++
	}
}
