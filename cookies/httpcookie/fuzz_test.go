package httpcookie

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

var requestSeeds = []string{
	"",
	"a=1",
	"SID=31d4d96e407aad42; lang=en-US",
	"a=1; b=2;",
	"a=1;; ;b=2",
	`q="hello"; e=""`,
	"a=1; flag; =x; a b=1; c=\"x\"y\"; d=héllo",
	"u=550e8400-e29b-41d4-a716-446655440000; m=jane.doe%40example.com; ip=10.1.2.3",
	"t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln; p=%2B41446681800",
	strings.Repeat("c=1; ", 200),
}

var responseSeeds = []string{
	"",
	"SID=31d4d96e407aad42; Path=/; Domain=example.com; Secure; HttpOnly",
	"a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT, b=2; Path=/",
	"a=1; Expires=Wednesday, 21-Oct-26 07:28:00 GMT; Max-Age=abc, c=3; SameSite=None",
	`a="x, b=y"; Path=/, c=3`,
	"a=1,b=2,",
	",b=1, , c=2",
	"=x; Path=/, b c=1, d=\"x\"y\", e=2",
	"a=1; SameSite=Bogus; Priority=High; Partitioned; Max-Age=0",
	"a=1; Expires=Wed Oct 21 07:28:00 2026; Domain=.Example.COM",
	"a=1; Expires=Wed, 21 Oct 2026 07:28:00 PST; Max-Age=05; max-age=+7; Max-Age =3; SameSite=\x01, b=\"q\"; Expires=\"x\"",
	"a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Expires=bogus; sameSITE=nOnE; \x7fx=1; Domain=\"d\"",
	strings.Repeat("c=1; Path=/, ", 200),
}

func FuzzSplitSetCookie(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		lines := SplitSetCookie(header)
		if got := strings.Join(lines, ","); got != header {
			t.Fatalf("lines %q do not join back to %q", lines, header)
		}
		for i, l := range lines[min(1, len(lines)):] {
			if !startsCookie(l) {
				t.Fatalf("line %d %q does not start a cookie", i+1, l)
			}
		}
	})
}

// FuzzSplitKeepsDates folds well-formed Set-Cookie lines, each with an
// Expires date containing a comma, and checks the split finds them again.
func FuzzSplitKeepsDates(f *testing.F) {
	f.Add("sid", "abc", int64(1761031680), uint8(3))
	f.Add("_ga", "GA1.2.3", int64(0), uint8(1))
	f.Fuzz(func(t *testing.T, name, value string, unix int64, n uint8) {
		if !isToken(name) || strings.ContainsAny(value, ",;\" \t\r\n\\") {
			return
		}
		for i := 0; i < len(value); i++ {
			if !validValueByte(value[i]) {
				return
			}
		}
		exp := time.Unix(unix%(1<<34), 0).UTC().Format(http.TimeFormat)
		lines := make([]string, int(n%8)+1)
		for i := range lines {
			lines[i] = name + "=" + value + "; Expires=" + exp + "; Path=/"
		}
		got := SplitSetCookie(strings.Join(lines, ", "))
		if len(got) != len(lines) {
			t.Fatalf("%d lines split into %d: %q", len(lines), len(got), got)
		}
	})
}

func validValueByte(b byte) bool { return 0x20 <= b && b < 0x7f && b != '"' && b != ';' && b != '\\' }

func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got, bad := ParseRequest(header, nil, nil)
		pieces := 0
		for _, p := range strings.Split(header, ";") {
			if trimSpace(p) != "" {
				pieces++
			}
		}
		if len(got)+len(bad) > pieces+1 || len(got) > MaxCookiesPerHeader {
			t.Fatalf("%d pieces gave %d cookies and %d malformed", pieces, len(got), len(bad))
		}
		if pieces <= MaxCookiesPerHeader && len(got)+len(bad) != pieces {
			t.Fatalf("%d pieces gave %d cookies and %d malformed", pieces, len(got), len(bad))
		}
		for _, o := range got {
			if !isToken(o.Name) || o.Source != Request || o.Domain != "" || o.Path != "" || o.HasMaxAge || o.ValueClass >= NumClasses {
				t.Fatalf("bad observation %+v", o)
			}
		}
		for _, m := range bad {
			if m >= NumMalformed {
				t.Fatalf("unknown reason %d", m)
			}
		}
		if ref, refBad := refParseRequest(header, nil, nil); !reflect.DeepEqual(got, ref) || !reflect.DeepEqual(bad, refBad) {
			t.Fatalf("net/http reference disagrees\n got %+v %v\n ref %+v %v", got, bad, ref, refBad)
		}
		// Agreement with net/http: what it accepts as a whole, we take whole.
		if cs, err := http.ParseCookie(trimSpace(header)); err == nil && len(cs) <= MaxCookiesPerHeader {
			if len(bad) != 0 || len(got) != len(cs) {
				t.Fatalf("net/http took %d cookies, we took %d and %v", len(cs), len(got), bad)
			}
			for i, c := range cs {
				if got[i].Name != c.Name || got[i].ValueClass != Classify(c.Value) || got[i].ValueHash != hashValue(c.Value) {
					t.Fatalf("cookie %d: %+v, net/http %q", i, got[i], c.Name)
				}
			}
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got, bad := ParseResponse(header, entryTime, nil, nil)
		if ref, refBad := refParseResponse(header, entryTime, nil, nil); !reflect.DeepEqual(got, ref) || !reflect.DeepEqual(bad, refBad) {
			t.Fatalf("net/http reference disagrees\n got %+v %v\n ref %+v %v", got, bad, ref, refBad)
		}
		var want []string
		refused := 0
		for _, l := range SplitSetCookie(header) {
			l = trimSpace(l)
			if l == "" {
				continue
			}
			if c, err := http.ParseSetCookie(l); err == nil {
				want = append(want, c.Name)
			} else {
				refused++
			}
		}
		if refused+len(want) > MaxCookiesPerHeader {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("net/http took %q, we took %d", want, len(got))
		}
		attr := 0
		for _, m := range bad {
			switch {
			case m == BadAttribute:
				attr++
			case m >= NumMalformed || m == TooMany:
				t.Fatalf("unexpected reason %v", m)
			}
		}
		if len(bad)-attr != refused || attr > len(got) {
			t.Fatalf("%d refused lines, reasons %v", refused, bad)
		}
		for i, o := range got {
			if o.Name != want[i] || o.Source != Response || o.MaxAgeS < 0 || (o.MaxAgeS != 0 && !o.HasMaxAge) {
				t.Fatalf("cookie %d: %+v, net/http %q", i, o, want[i])
			}
			switch o.SameSite {
			case "", "Strict", "Lax", "None":
			default:
				t.Fatalf("SameSite %q", o.SameSite)
			}
			if o.Domain != strings.ToLower(o.Domain) {
				t.Fatalf("domain %q not normalized", o.Domain)
			}
		}
	})
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"", "1", "jane%40example.com", "2001:db8::1", "+41 44 668 18 00", "eyJa.eyJb.c", "YWJjZGVmZ2hpams="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c := Classify(v)
		if c >= NumClasses || (c == Empty) != (v == "") {
			t.Fatalf("Classify(%q) = %v", v, c)
		}
		if want := classifyChain(v); c != want {
			t.Fatalf("Classify(%q) = %v, ungated tests say %v", v, c, want)
		}
	})
}
