package httpcookie

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		value string
		want  ValueClass
	}{
		{"", Empty},
		{"0", Numeric},
		{"1732527600", Numeric},
		{"-1", Numeric},
		{"3.14", Numeric},
		{"1.2.3", Opaque},
		{"550e8400-e29b-41d4-a716-446655440000", UUID},
		{"550E8400-E29B-41D4-A716-446655440000", UUID},
		{"{550e8400-e29b-41d4-a716-446655440000}", UUID},
		{"550e8400-e29b-41d4-a716-44665544000g", Base64},
		{"31d4d96e407aad42", Hex},
		{"DEADBEEF01", Hex},
		{"deadbeef", Hex},
		{"31d4D96e407aad42", Base64}, // mixed case is not hex
		{"abc1", Opaque},
		{"YWJjZGVmZ2hpamts", Base64},
		{"YWJjZGVmZ2hpams=", Base64},
		{"YWJjZGVmZ2hpam=", Opaque}, // padding on a length that is not a multiple of 4
		{"dGhpcyBpcyBh-_w", Base64},
		{"dGhp+/cyBpcy-_w", Opaque}, // two alphabets
		{"accepted", Opaque},
		{"consentgivenforall", Opaque},
		{"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", JWT},
		{"eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", JWT},
		{"eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", JWT},
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0", Opaque}, // two parts: not a JWT
		{"jane.doe@example.com", Email},
		{"jane.doe%40example.com", Email},
		{"uid=42&mail=jane%40example.co.uk&x=1", Email},
		{"user@localhost", Opaque},
		{"@example.com", Opaque},
		{"a@b.c", Opaque},
		{"10.0.0.1", IP},
		{"192.168.100.200", IP},
		{"2001:db8::1", IP},
		{"::1", Opaque}, // too short to tell from other tokens
		{"999.1.1.1", Opaque},
		{"GA1.2.1234567.1732527600", Opaque},
		{"+41446681800", Phone},
		{"%2B41446681800", Phone},
		{"+1 (415) 555-0123", Phone},
		{"415-555-0123", Phone},
		{"(415)555-0123", Phone},
		{"4155550123", Numeric},
		{"+12", Opaque},
		{"opaque value with spaces", Opaque},
	}
	for _, tt := range tests {
		if got := Classify(tt.value); got != tt.want {
			t.Errorf("Classify(%q) = %v, want %v", tt.value, got, tt.want)
		}
		if got := classifyChain(tt.value); got != tt.want {
			t.Errorf("ungated classifyChain(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}

func TestIsPII(t *testing.T) {
	for c := range NumClasses {
		want := c == Email || c == IP || c == Phone
		if c.IsPII() != want {
			t.Errorf("%v.IsPII() = %v", c, !want)
		}
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	values := []string{"jane%40example.com", "2001:db8::1", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "+41446681800", "YWJjZGVmZ2hpamts"}
	if n := testing.AllocsPerRun(100, func() {
		for _, v := range values {
			Classify(v)
		}
	}); n != 0 {
		t.Errorf("Classify allocates %v times", n)
	}
}

// classifyChain is Classify without its byte-kind gates: the gates must
// only ever skip tests that would fail.
func classifyChain(v string) ValueClass {
	switch {
	case v == "":
		return Empty
	case isJWT(v):
		return JWT
	case isUUID(v):
		return UUID
	case isPhone(v):
		return Phone
	case isNumeric(v):
		return Numeric
	case isIP(v):
		return IP
	case hasEmail(v):
		return Email
	case isHex(v):
		return Hex
	case isBase64(v):
		return Base64
	}
	return Opaque
}
