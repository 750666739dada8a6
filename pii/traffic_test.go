package pii

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// rate is a count out of a total, printed with its percentage.
type rate struct{ n, of int }

func (r rate) String() string {
	return fmt.Sprintf("%d/%d (%.2f%%)", r.n, r.of, 100*float64(r.n)/float64(max(r.of, 1)))
}

// TestTraffic masks realistic traffic (testdata/paths.txt and
// useragents.txt: the simulator's paths and user agents, public sample
// applications and API shapes, and planted personal data) and reports the
// false-positive rate (clean lines that changed) and the miss rate (lines
// with personal data not masked as expected). Both must be zero.
func TestTraffic(t *testing.T) {
	for _, f := range []struct {
		file string
		mask func(string, *Counts) string
	}{{"testdata/paths.txt", Path}, {"testdata/useragents.txt", UserAgent}} {
		var falsePos, missed rate
		for _, l := range readLines(t, f.file) {
			in, want, planted := strings.Cut(l.text, "\t")
			if !planted {
				want = in
			}
			r := &falsePos
			if planted {
				r = &missed
			}
			r.of++
			if got := f.mask(in, nil); got != want {
				r.n++
				t.Errorf("%s:%d: %q masked to %q, want %q", f.file, l.line, in, got, want)
			}
		}
		t.Logf("%s: false positives %v, personal data missed %v", f.file, falsePos, missed)
	}
}

type line struct {
	text string
	line int
}

// readLines returns a fixture's lines, without blank lines and comments.
func readLines(t *testing.T, name string) []line {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []line
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for n := 1; s.Scan(); n++ {
		if text := s.Text(); text != "" && !strings.HasPrefix(text, "#") {
			lines = append(lines, line{text, n})
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return lines
}

// requestLine finds the request and the last quoted field (the user agent)
// of an access-log line in Apache's combined format or Envoy's default one:
// `… "GET /path HTTP/1.1" … "user agent"`.
var requestLine = regexp.MustCompile(`"[A-Z]+ (\S+) [^"]*"`)

// TestCorpus measures the masker on a real access log, for numbers that no
// hand-written fixture gives: MESHTEL_PII_CORPUS names a file of Apache
// combined or Envoy default-format lines. It reports how many paths and
// user agents each kind masked and prints every masked path, for a human to
// tell true from false positives. Skipped without the variable: captured
// traffic is personal data and is not committed.
func TestCorpus(t *testing.T) {
	name := os.Getenv("MESHTEL_PII_CORPUS")
	if name == "" {
		t.Skip("MESHTEL_PII_CORPUS not set")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var paths, uas, unparsed int
	var maskedPaths, maskedUAs int
	var pathCounts, uaCounts Counts
	distinct := map[string]bool{}
	for i, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		m := requestLine.FindStringSubmatchIndex(l)
		if m == nil {
			unparsed++
			continue
		}
		p := l[m[2]:m[3]]
		paths++
		var c Counts
		if out := Path(p, &c); c.Total() > 0 {
			maskedPaths++
			pathCounts = add(pathCounts, c)
			if !distinct[p] {
				distinct[p] = true
				t.Logf("line %d: %s -> %s", i+1, p, out)
			}
		}
		if q := strings.LastIndexByte(l, '"'); q > m[1] {
			if open := strings.LastIndexByte(l[:q], '"'); open >= m[1] {
				uas++
				var c Counts
				ua := l[open+1 : q]
				if out := UserAgent(ua, &c); c.Total() > 0 {
					maskedUAs++
					uaCounts = add(uaCounts, c)
					if !distinct[ua] {
						distinct[ua] = true
						t.Logf("line %d: user agent %q -> %q", i+1, ua, out)
					}
				}
			}
		}
	}
	t.Logf("paths masked: %v; masks by kind (email card jwt token): %v", rate{maskedPaths, paths}, pathCounts)
	t.Logf("user agents masked: %v; lines unparsed: %d", rate{maskedUAs, uas}, unparsed)
}

func add(a, b Counts) Counts {
	for k := range a {
		a[k] += b[k]
	}
	return a
}
