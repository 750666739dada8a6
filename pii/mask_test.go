package pii

import (
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/net/publicsuffix"
)

// A JWT from RFC 7519's example claims, HS256-signed, and an unsecured one
// ("alg":"none", empty signature).
const (
	testJWT     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	testJWTNone = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."
)

var pathCases = []struct {
	name, in, want string
	counts         Counts
}{
	// Masked: SPEC §2's kinds.
	{"email segment", "/users/jane.doe@example.com/orders", "/users/{email}/orders", Counts{Email: 1}},
	{"email percent-encoded", "/users/jane.doe%40example.com/orders", "/users/{email}/orders", Counts{Email: 1}},
	{"email upper case, encoded plus", "/u/JANE%2BNEWS%40EXAMPLE.COM", "/u/{email}", Counts{Email: 1}},
	{"email double-encoded", "/u/jane%2540example.com", "/u/{email}", Counts{Email: 1}},
	{"email inside a segment", "/v1/users/jane@example.com:verify", "/v1/users/{email}", Counts{Email: 1}},
	{"email with a format suffix", "/users/jane@example.com.json", "/users/{email}", Counts{Email: 1}},
	{"email with IDN TLD", "/u/jane@example.xn--p1ai", "/u/{email}", Counts{Email: 1}},
	{"card", "/cards/4111111111111111/verify", "/cards/{card}/verify", Counts{Card: 1}},
	{"card with dashes", "/cards/4111-1111-1111-1111", "/cards/{card}", Counts{Card: 1}},
	{"card with encoded spaces", "/cards/5555%205555%205555%204444", "/cards/{card}", Counts{Card: 1}},
	{"card 13 digits", "/c/4222222222222", "/c/{card}", Counts{Card: 1}},
	{"card 15 digits (Amex)", "/c/378282246310005", "/c/{card}", Counts{Card: 1}},
	{"card 19 digits", "/c/4111111111111111110", "/c/{card}", Counts{Card: 1}},
	// SPEC's card rule has no issuer check: a millisecond timestamp that
	// passes Luhn (one in ten do) is masked too.
	{"Luhn-valid timestamp", "/events/1732527600123", "/events/{card}", Counts{Card: 1}},
	{"jwt", "/reset/" + testJWT, "/reset/{jwt}", Counts{JWT: 1}},
	{"jwt unsecured", "/reset/" + testJWTNone + "/x", "/reset/{jwt}/x", Counts{JWT: 1}},
	{"jwt header with leading space", "/t/IHsiYWxnIjoiSFMyNTYifQ.eyJzdWIiOiIxIn0.c2ln", "/t/{jwt}", Counts{JWT: 1}},
	{"token hex", "/invite/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c", "/invite/{token}", Counts{Token: 1}},
	{"token base64url", "/pkce/dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "/pkce/{token}", Counts{Token: 1}},
	{"token padded", "/k/c2VjcmV0LWtleS1mb3ItdGhlLWFwaS0xMjM0NTY3ODk=", "/k/{token}", Counts{Token: 1}},
	{"token prefixed", "/hooks/ghp_16C7e42F292c6912E7710c838347Ae178B4a", "/hooks/{token}", Counts{Token: 1}},
	{"token snake prefix", "/pay/sk_live_4eC39HqLyjWDarjtT1zdp7dc", "/pay/{token}", Counts{Token: 1}},
	{"token dashless UUID", "/s/3f2504e04f8911d39a0c0305e82c3301", "/s/{token}", Counts{Token: 1}},
	{"token 40-hex commit", "/commits/3f9a2b1c9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f70", "/commits/{token}", Counts{Token: 1}},
	{"token license key", "/activate/ABCD-1234-EF56-GH78-IJ90-KL12-MN34", "/activate/{token}", Counts{Token: 1}},
	{"path parameter", "/cart;jsessionid=A1B2C3D4E5F60718293A4B5C6D7E8F90/items", "/cart;jsessionid={token}/items", Counts{Token: 1}},
	{"several", "/u/a@b.co/cards/4111111111111111/t/" + testJWT, "/u/{email}/cards/{card}/t/{jwt}", Counts{Email: 1, Card: 1, JWT: 1}},
	{"query value", "/search?email=jane.doe@example.com&q=shoes", "/search?email={email}&q=shoes", Counts{Email: 1}},
	{"query value encoded", "/?email=jane.doe%40example.com", "/?email={email}", Counts{Email: 1}},
	{"query plus is a space", "/pay?card=4111+1111+1111+1111", "/pay?card={card}", Counts{Card: 1}},
	{"query name", "/unsubscribe?jane@example.com", "/unsubscribe?{email}", Counts{Email: 1}},
	{"query token", "/cb?code=9f86d081884c7d659a2feaa0c55ad015a3bf&state=1", "/cb?code={token}&state=1", Counts{Token: 1}},

	// Kept: ids, assets, words and everything close to a rule.
	{"empty", "", "", Counts{}},
	{"root", "/", "/", Counts{}},
	{"api", "/api/v1/pins", "/api/v1/pins", Counts{}},
	{"numeric id", "/v1/orders/12345", "/v1/orders/12345", Counts{}},
	{"UUID", "/orders/550e8400-e29b-41d4-a716-446655440000", "/orders/550e8400-e29b-41d4-a716-446655440000", Counts{}},
	{"UUID upper case", "/o/550E8400-E29B-41D4-A716-446655440000/x", "/o/550E8400-E29B-41D4-A716-446655440000/x", Counts{}},
	{"asset", "/static/app.3f9a2b1c9d0e.js", "/static/app.3f9a2b1c9d0e.js", Counts{}},
	{"asset long hash", "/static/js/main.3f9a2b1c9d0e4f5a6b7c8d9e0f1a2b3c.chunk.js", "/static/js/main.3f9a2b1c9d0e4f5a6b7c8d9e0f1a2b3c.chunk.js", Counts{}},
	{"asset three parts from e", "/static/eslint.config.js", "/static/eslint.config.js", Counts{}},
	{"asset three parts from C", "/js/Chart.bundle.min", "/js/Chart.bundle.min", Counts{}},
	{"12-digit order number", "/orders/123456789012", "/orders/123456789012", Counts{}},
	{"Luhn-invalid 16 digits", "/orders/4111111111111112", "/orders/4111111111111112", Counts{}},
	{"20 digits", "/ids/41111111111111111111", "/ids/41111111111111111111", Counts{}},
	{"card with double separator", "/c/4111--1111-1111-1111", "/c/4111--1111-1111-1111", Counts{}},
	{"card with trailing dash", "/c/4111111111111111-", "/c/4111111111111111-", Counts{}},
	{"plus in a path is not a space", "/c/4111+1111+1111+1111", "/c/4111+1111+1111+1111", Counts{}},
	{"base64 of short words", "/b/aGVsbG8gd29ybGQ/YWRtaW4=/c2VjcmV0", "/b/aGVsbG8gd29ybGQ/YWRtaW4=/c2VjcmV0", Counts{}},
	{"short commit hashes", "/commit/3f9a2b1/tree/3f9a2b1c9d0e4f5a6b7c8d9e0f1a2b3", "/commit/3f9a2b1/tree/3f9a2b1c9d0e4f5a6b7c8d9e0f1a2b3", Counts{}},
	{"slug", "/products/nike-air-max-270-react-black-white-2023", "/products/nike-air-max-270-react-black-white-2023", Counts{}},
	{"slug with a mixed word", "/blog/how-to-run-envoy-with-istio-1-22-on-k8s", "/blog/how-to-run-envoy-with-istio-1-22-on-k8s", Counts{}},
	{"snake case name", "/exports/customer_preferences_report_q3_2024_final", "/exports/customer_preferences_report_q3_2024_final", Counts{}},
	{"title case slug", "/p/Apple-iPhone-15-Pro-Max-256GB-Natural-Titanium", "/p/Apple-iPhone-15-Pro-Max-256GB-Natural-Titanium", Counts{}},
	{"camel case, no digits", "/pkg.v1.OrderService/ListAllCustomerOrdersByRegionAndDate", "/pkg.v1.OrderService/ListAllCustomerOrdersByRegionAndDate", Counts{}},
	{"grpc", "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Check", Counts{}},
	{"jwt-shaped without alg", "/t/eyJmb28iOiJiYXIifQ.eyJzdWIiOiIxIn0.c2ln", "/t/eyJmb28iOiJiYXIifQ.eyJzdWIiOiIxIn0.c2ln", Counts{}},
	{"jwt-shaped with ALG", "/t/eyJBTEciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "/t/eyJBTEciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", Counts{}},
	{"npm version", "/npm/lodash@4.17.21/lodash.min.js", "/npm/lodash@4.17.21/lodash.min.js", Counts{}},
	{"scoped package", "/@babel/core@7.24.0", "/@babel/core@7.24.0", Counts{}},
	{"handle", "/@jane", "/@jane", Counts{}},
	{"retina images", "/img/logo@2x.png/icon@3X.WEBP/sprite@1.5x.png", "/img/logo@2x.png/icon@3X.WEBP/sprite@1.5x.png", Counts{}},
	{"address without a dot", "/users/jane@localhost", "/users/jane@localhost", Counts{}},
	{"address with a one-letter TLD", "/u/a@b.c", "/u/a@b.c", Counts{}},
	{"encoded non-ASCII", "/search/caf%C3%A9/cr%C3%A8me-br%C3%BBl%C3%A9e", "/search/caf%C3%A9/cr%C3%A8me-br%C3%BBl%C3%A9e", Counts{}},
	{"malformed escapes", "/a%zz/b%4/%", "/a%zz/b%4/%", Counts{}},
	{"query clean", "/api/v1/users/42?page=2&q=shoes&utm_source=mail", "/api/v1/users/42?page=2&q=shoes&utm_source=mail", Counts{}},
	{"date", "/reports/2024-01-15/summary", "/reports/2024-01-15/summary", Counts{}},
	{"ip", "/hosts/10.0.0.1:8080", "/hosts/10.0.0.1:8080", Counts{}},
	{"placeholders", "/u/{email}/c/{card}?t={token}", "/u/{email}/c/{card}?t={token}", Counts{}},
}

func TestPath(t *testing.T) {
	for _, tc := range pathCases {
		t.Run(tc.name, func(t *testing.T) {
			var c Counts
			got := Path(tc.in, &c)
			if got != tc.want {
				t.Errorf("Path(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if c != tc.counts {
				t.Errorf("Path(%q) counted %v, want %v", tc.in, c, tc.counts)
			}
			if again := Path(got, nil); again != got {
				t.Errorf("masking %q again gave %q", got, again)
			}
		})
	}
}

func TestPathLongEncodedSegment(t *testing.T) {
	// Longer than the stack scratch buffer: decoded on the heap, same rules.
	pad := strings.Repeat("x", scratchSize)
	in := "/u/" + pad + "%2Bjane%40example.com/" + pad + "%20"
	if got, want := Path(in, nil), "/u/{email}/"+pad+"%20"; got != want {
		t.Errorf("Path(long) = %q, want %q", got, want)
	}
}

func TestUserAgent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"curl/8.5.0", "curl/8.5.0"},
		{"Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0", "Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0"},
		{"Mozilla/5.0 (compatible; FooBot/1.0; +mailto:ops@example.com)", "Mozilla/5.0 (compatible; FooBot/1.0; +mailto:{email})"},
		{"crawler (contact jane.doe@example.com, bob@example.org)", "crawler (contact {email}, {email})"},
		{"bot (ops%40example.com)", "bot ({email})"},
		{"mail.app jane@example.com.", "mail.app {email}."},
		{"Share/2.0 (jane@example.com.json; logo@2x.png)", "Share/2.0 ({email}.json; logo@2x.png)"},
		{"a@b.co@c.org", "{email}@c.org"},
		{"App/1.0 user@localhost lib@1.2.3 @scope/pkg", "App/1.0 user@localhost lib@1.2.3 @scope/pkg"},
	} {
		var c Counts
		got := UserAgent(tc.in, &c)
		if got != tc.want {
			t.Errorf("UserAgent(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if n := uint32(strings.Count(tc.want, "{email}")); c[Email] != n || c.Total() != n {
			t.Errorf("UserAgent(%q) counted %v, want %d e-mails", tc.in, c, n)
		}
		if again := UserAgent(got, nil); again != got {
			t.Errorf("masking %q again gave %q", got, again)
		}
	}
}

func TestKind(t *testing.T) {
	for k, want := range map[Kind][2]string{
		Email: {"email", "{email}"}, Card: {"card", "{card}"}, JWT: {"jwt", "{jwt}"}, Token: {"token", "{token}"},
		Kind(9): {"Kind(9)", "{Kind(9)}"},
	} {
		if got := [2]string{k.String(), k.Placeholder()}; got != want {
			t.Errorf("Kind %d: got %q, want %q", k, got, want)
		}
	}
	if len(Counts{}) != int(numKinds) {
		t.Errorf("Counts has %d entries for %d kinds", len(Counts{}), numKinds)
	}
}

// The extensions cut off a domain ("logo@2x.png") must never be TLDs, or a
// real address would escape.
func TestFileExtsAreNotTLDs(t *testing.T) {
	for _, e := range fileExts {
		if _, icann := publicsuffix.PublicSuffix("example." + e); icann {
			t.Errorf("%q is an ICANN TLD", e)
		}
	}
}

// cleanPaths is what nearly every record carries: the path must come back
// as the very same string, with no allocation.
var cleanPaths = []string{
	"/", "/api/v1/pins", "/api/v1/users/42", "/static/app.3f9a2b1c9d0e.js",
	"/orders/550e8400-e29b-41d4-a716-446655440000/items", "/v1/orders/123456789012",
	"/shop.Catalog/GetProduct", "/search/caf%C3%A9?page=2&q=shoes",
	"/products/nike-air-max-270-react-black-white-2023", "/npm/lodash@4.17.21/lodash.min.js",
	"/static/eslint.config.js",
}

func TestNoAllocationWhenClean(t *testing.T) {
	var c Counts
	for _, p := range cleanPaths {
		if got := Path(p, &c); got != p || c.Total() != 0 {
			t.Fatalf("Path(%q) = %q (counts %v), want it unchanged", p, got, c)
		}
		if n := testing.AllocsPerRun(100, func() { Path(p, &c) }); n != 0 {
			t.Errorf("Path(%q): %v allocations, want 0", p, n)
		}
	}
	for _, ua := range []string{"Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0", "grpc-go/1.70.0", "App/1.0 user@localhost"} {
		if n := testing.AllocsPerRun(100, func() { UserAgent(ua, &c) }); n != 0 {
			t.Errorf("UserAgent(%q): %v allocations, want 0", ua, n)
		}
	}
}

func TestOneAllocationWhenMasked(t *testing.T) {
	// The result string is the only allocation for e-mails, cards and tokens
	// (a JWT also decodes its header).
	for _, p := range []string{
		"/users/jane.doe@example.com/orders", "/users/jane.doe%40example.com/orders",
		"/cards/4111111111111111/verify", "/invite/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c",
	} {
		if n := testing.AllocsPerRun(100, func() { Path(p, nil) }); n != 1 {
			t.Errorf("Path(%q): %v allocations, want 1", p, n)
		}
	}
}

// The package is a leaf: the receivers import it, it imports only the
// standard library.
func TestStandardLibraryOnly(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if deps := strings.Fields(string(out)); len(deps) != 1 || deps[0] != "github.com/meshtel/meshtel/pii" {
		t.Errorf("non-standard dependencies: %q", deps)
	}
}
