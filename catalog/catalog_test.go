package catalog

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, src string) *Catalog {
	t.Helper()
	c, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return c
}

// sloString renders SLOs compactly for comparison: "a=99.9 l=99/500ms".
func sloString(s SLOs) string {
	var parts []string
	if s.Availability != nil {
		parts = append(parts, "a="+s.Availability.Text)
	} else {
		parts = append(parts, "a=off")
	}
	if s.Latency != nil {
		parts = append(parts, "l="+s.Latency.Text+"/"+s.Latency.ThresholdText)
	} else {
		parts = append(parts, "l=off")
	}
	return strings.Join(parts, " ")
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want map[string]string // service → sloString
	}{
		{
			name: "built-in defaults",
			src: `
services:
  - http_service: a
    port: 1`,
			want: map[string]string{"a": "a=99.9 l=99/500ms"},
		},
		{
			name: "defaults override built-ins field by field",
			src: `
defaults:
  slos:
    latency: {threshold: 1s}
services:
  - http_service: a
    port: 1`,
			want: map[string]string{"a": "a=99.9 l=99/1s"},
		},
		{
			name: "service overrides defaults field by field",
			src: `
defaults:
  slos:
    availability: {objective: 99.5}
    latency: {objective: 95, threshold: 2s}
services:
  - http_service: thr
    port: 1
    slos: {latency: {threshold: 250ms}}
  - http_service: obj
    port: 2
    slos: {latency: {objective: 99.95}}
  - http_service: avail
    port: 3
    slos: {availability: {objective: 99.999}}
  - http_service: empty
    port: 4
    slos: {availability: {}, latency: {}}
  - http_service: none
    port: 5`,
			want: map[string]string{
				"thr":   "a=99.5 l=95/250ms",
				"obj":   "a=99.5 l=99.95/2s",
				"avail": "a=99.999 l=95/2s",
				"empty": "a=99.5 l=95/2s",
				"none":  "a=99.5 l=95/2s",
			},
		},
		{
			name: "latency null disables, tcp never has latency",
			src: `
services:
  - http_service: off
    port: 1
    slos: {latency: null}
  - tcp_service: db
    port: 2
  - tcp_service: db2
    port: 3
    slos: {availability: {objective: 99.99}}
  - cluster: up
    port: 4`,
			want: map[string]string{
				"off": "a=99.9 l=off",
				"db":  "a=99.9 l=off",
				"db2": "a=99.99 l=off",
				"up":  "a=99.9 l=99/500ms",
			},
		},
		{
			name: "defaults disable latency, a service turns it back on",
			src: `
defaults:
  slos: {latency: null}
services:
  - http_service: plain
    port: 1
  - http_service: fast
    port: 2
    slos: {latency: {objective: 99.5, threshold: 100ms}}`,
			want: map[string]string{
				"plain": "a=99.9 l=off",
				"fast":  "a=99.9 l=99.5/100ms",
			},
		},
		{
			name: "objective text kept exactly as written",
			src: `
services:
  - http_service: a
    port: 1
    slos:
      availability: {objective: 99.90}
      latency: {objective: 99.0, threshold: 1500ms}`,
			want: map[string]string{"a": "a=99.90 l=99.0/1500ms"},
		},
		{
			name: "merge keys",
			src: `
x-slos: &strict {availability: {objective: 99.99}}
services:
  - http_service: a
    port: 1
    slos:
      <<: *strict
      latency: {threshold: 50ms}`,
			want: map[string]string{"a": "a=99.99 l=99/50ms"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.src)
			for name, want := range tt.want {
				s := c.Lookup(name)
				if s == nil {
					t.Fatalf("no service %q", name)
				}
				if got := sloString(s.SLOs); got != want {
					t.Errorf("%s: SLOs = %s, want %s", name, got, want)
				}
			}
		})
	}
}

func TestMergeValues(t *testing.T) {
	c := mustParse(t, `
services:
  - http_service: a
    port: 1
    slos:
      availability: {objective: 99.95}
      latency: {threshold: 1m30s}`)
	s := c.Lookup("a").SLOs
	if s.Availability.Percent != 99.95 || s.Availability.Ratio() != 0.9995 {
		t.Errorf("availability = %v (ratio %v), want 99.95", s.Availability.Percent, s.Availability.Ratio())
	}
	if s.Latency.Threshold != 90*time.Second || s.Latency.Percent != 99 {
		t.Errorf("latency = %v under %v, want 99 under 1m30s", s.Latency.Percent, s.Latency.Threshold)
	}
	// Services must not share objectives with the defaults or each other:
	// a caller changing one service must not change another.
	d := c.Defaults.SLOs
	if s.Latency == d.Latency || s.Availability == d.Availability {
		t.Error("service SLOs alias the defaults")
	}
}

func TestTeams(t *testing.T) {
	c := mustParse(t, `
defaults: {team: platform}
teams:
  web: {receiver: web-oncall, slack: "#web", runbook_base: https://runbooks/web/}
  platform: {receiver: platform-oncall}
services:
  - http_service: own
    port: 1
    team: web
  - http_service: inherited
    port: 2`)
	if got := c.Lookup("own").Team; got != "web" {
		t.Errorf("own.Team = %q, want web", got)
	}
	if got := c.Lookup("inherited").Team; got != "platform" {
		t.Errorf("inherited.Team = %q, want the default platform", got)
	}
	web := c.Team("web")
	if web == nil || web.Receiver != "web-oncall" || web.Slack != "#web" || web.RunbookBase != "https://runbooks/web/" {
		t.Errorf("Team(web) = %+v", web)
	}
	if web != nil && (web.Pos.Line != 4 || web.Pos.Column != 3) {
		t.Errorf("Team(web).Pos = %v, want line 4 column 3", web.Pos)
	}
	if c.Team("nobody") != nil {
		t.Error("Team(nobody) found a team")
	}
	if names := []string{c.Teams[0].Name, c.Teams[1].Name}; !slices.Equal(names, []string{"web", "platform"}) {
		t.Errorf("Teams in order %v, want file order [web platform]", names)
	}
}

func TestNoTeamAnywhere(t *testing.T) {
	c := mustParse(t, "services: [{cluster: a, port: 1}]")
	if got := c.Lookup("a").Team; got != "" {
		t.Errorf("Team = %q, want none", got)
	}
}

func TestLookup(t *testing.T) {
	c := mustParse(t, `
services:
  - http_service: reviews
    port: 9080
    aliases: [reviews.default, reviews-v2.default]
    upstreams: [ratings.default]
  - cluster: ratings
    port: 9081
    aliases: [ratings.default]
  - tcp_service: redis
    port: 6379`)
	tests := []struct {
		name string
		want string
	}{
		{"reviews", "reviews"},
		{"reviews.default", "reviews"},
		{"reviews-v2.default", "reviews"},
		{"ratings.default", "ratings"},
		{"redis", "redis"},
		{"Reviews", ""},
		{"reviews.other", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got := ""
		if s := c.Lookup(tt.name); s != nil {
			got = s.Name
		}
		if got != tt.want {
			t.Errorf("Lookup(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	for port, want := range map[int]string{9080: "reviews", 9081: "ratings", 6379: "redis", 0: "", 80: ""} {
		got := ""
		if s := c.ByPort(port); s != nil {
			got = s.Name
		}
		if got != want {
			t.Errorf("ByPort(%d) = %q, want %q", port, got, want)
		}
	}
	// Upstreams named by alias are stored by service name.
	if got := c.Lookup("reviews").Upstreams; !slices.Equal(got, []string{"ratings"}) {
		t.Errorf("reviews upstreams = %v, want [ratings]", got)
	}
	if s := c.Lookup("reviews"); s.Pos.Line != 3 || s.Pos.Column != 5 || s.Pos.File != "test.yaml" {
		t.Errorf("reviews.Pos = %v, want test.yaml:3:5", s.Pos)
	}
	// Lookup returns the catalog's own entry, not a copy.
	if c.Lookup("reviews.default") != &c.Services[0] || c.ByPort(6379) != &c.Services[2] {
		t.Error("lookups do not point into Services")
	}
}

// A Catalog built by hand (as other packages' tests do) has no index;
// lookups must still work.
func TestLookupHandBuilt(t *testing.T) {
	c := &Catalog{
		Teams:    []Team{{Name: "web", Receiver: "r"}},
		Services: []Service{{Name: "a", Port: 8080, Aliases: []string{"a.ns"}, SLOs: builtinSLOs()}},
	}
	if c.Lookup("a.ns") != &c.Services[0] || c.Lookup("a") != &c.Services[0] || c.Lookup("b") != nil {
		t.Error("Lookup on a hand-built catalog")
	}
	if c.ByPort(8080) != &c.Services[0] || c.ByPort(1) != nil {
		t.Error("ByPort on a hand-built catalog")
	}
	if c.Team("web") != &c.Teams[0] || c.Team("x") != nil {
		t.Error("Team on a hand-built catalog")
	}
}

func TestSLOsFor(t *testing.T) {
	c := mustParse(t, `
defaults:
  slos: {availability: {objective: 99.5}}
services:
  - tcp_service: db
    port: 5432
    aliases: [db.data]`)
	if got := sloString(c.SLOsFor("db.data")); got != "a=99.5 l=off" {
		t.Errorf("SLOsFor(db.data) = %s, want the service's own", got)
	}
	if got := sloString(c.SLOsFor("unknown")); got != "a=99.5 l=99/500ms" {
		t.Errorf("SLOsFor(unknown) = %s, want the catalog defaults", got)
	}
}

func TestEmpty(t *testing.T) {
	for name, c := range map[string]*Catalog{"Empty()": Empty(), "nil": nil} {
		if got := sloString(c.SLOsFor("anything")); got != "a=99.9 l=99/500ms" {
			t.Errorf("%s: SLOsFor = %s, want the built-in defaults", name, got)
		}
		if c.Lookup("anything") != nil || c.ByPort(8080) != nil || c.Team("web") != nil {
			t.Errorf("%s: lookups found something in an empty catalog", name)
		}
	}
	s := Empty().SLOsFor("x")
	if s.Availability.Percent != 99.9 || s.Latency.Percent != 99 || s.Latency.Threshold != 500*time.Millisecond {
		t.Errorf("Empty defaults = %+v %+v", *s.Availability, *s.Latency)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "mesh.yaml")
	if err := os.WriteFile(good, []byte("services: [{cluster: a, port: 1}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(good)
	if err != nil || c.File != good || c.Lookup("a") == nil {
		t.Fatalf("Load(good) = %v, %v", c, err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("services: [{cluster: a, port: 0}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Pos.File != bad {
		t.Errorf("Load(bad) = %v, want one catalog mistake in %s", err, bad)
	}
	if !strings.HasPrefix(err.Error(), bad+":1:") {
		t.Errorf("Load(bad) error %q does not start with FILE:LINE:", err)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || errors.As(err, &errs) {
		t.Errorf("Load(missing) = %v, want an I/O error that is not Errors", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want it to wrap fs.ErrNotExist", err)
	}
}

func TestErrors(t *testing.T) {
	_, err := Parse("m.yaml", []byte(`
services:
  - cluster: b
    port: 70000
  - cluster: a
    port: 1
    upstreams: [nope]
`))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T is not Errors", err)
	}
	want := "m.yaml:4:11: port 70000 of service \"b\" is outside 1-65535\n" +
		"m.yaml:7:17: upstream \"nope\" of service \"a\" names no service in the catalog"
	if err.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", err, want)
	}
	var one *Error
	if !errors.As(err, &one) || one.Pos.Line != 4 {
		t.Errorf("errors.As(*Error) = %v, want the first mistake", one)
	}
}

// Every mistake in a file is reported, not just the first.
func TestAllMistakesAtOnce(t *testing.T) {
	var b strings.Builder
	b.WriteString("services:\n")
	for range 50 {
		b.WriteString("  - cluster: Bad\n    port: 0\n")
	}
	_, err := Parse("m.yaml", []byte(b.String()))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 100 {
		t.Errorf("got %d errors, want 100 (50 names, 50 ports)", len(errs))
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("services:\n")
	for range maxErrors {
		b.WriteString("  - cluster: Bad\n    port: 0\n")
	}
	_, err := Parse("m.yaml", []byte(b.String()))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != maxErrors+1 || !strings.Contains(errs[maxErrors].Msg, "too many errors") {
		t.Errorf("got %d errors, want %d and a final too-many note", len(errs), maxErrors+1)
	}
}

// A small file whose aliases expand exponentially must be refused quickly,
// not walked.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-0: &a0 {cluster: a, port: 1}\n")
	for i := 1; i <= 30; i++ {
		b.WriteString("x-" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " {<<: [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + strconv.Itoa(i-1))
		}
		b.WriteString("]}\n")
	}
	b.WriteString("services: [*a30, *a30]\n")
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "aliases expand too far") {
		t.Errorf("alias bomb: err = %v, want the expansion refused", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("alias bomb took %v", d)
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"port", "team", "healthcheck", "upstreams", "http_service", "tcp_service"}
	for word, want := range map[string]string{
		"prot":         "port",
		"Port":         "port",
		"health_check": "healthcheck",
		"upstream":     "upstreams",
		"http-service": "http_service",
		"tcp_servce":   "tcp_service",
		"owner":        "",
		"x":            "",
		"":             "",
	} {
		if got := suggest(word, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"port", "port", 0},
		{"prot", "port", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3}, {"héllo", "hello", 1},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d (symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestAlerting(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want map[string]int // service → MinBadEvents
	}{
		{
			name: "built-in default",
			src:  "services: [{cluster: a, port: 1}]",
			want: map[string]int{"a": DefaultMinBadEvents},
		},
		{
			name: "defaults replace the built-in, services replace defaults",
			src: `
defaults: {alerting: {min_bad_events: 25}}
services:
  - cluster: inherits
    port: 1
  - cluster: own
    port: 2
    alerting: {min_bad_events: 3}
  - cluster: off
    port: 3
    alerting: {min_bad_events: 0}
  - cluster: empty
    port: 4
    alerting: {}
  - cluster: null_mapping
    port: 5
    alerting:`,
			want: map[string]int{"inherits": 25, "own": 3, "off": 0, "empty": 25, "null_mapping": 25},
		},
		{
			name: "defaults turn the guard off, a service turns it on",
			src: `
defaults: {alerting: {min_bad_events: 0}}
services:
  - tcp_service: quiet
    port: 1
  - tcp_service: guarded
    port: 2
    alerting: {min_bad_events: 1_000}`,
			want: map[string]int{"quiet": 0, "guarded": 1000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.src)
			for name, want := range tt.want {
				if got := c.Lookup(name).Alerting.MinBadEvents; got != want {
					t.Errorf("%s: MinBadEvents = %d, want %d", name, got, want)
				}
			}
		})
	}
	if got := Empty().Defaults.Alerting.MinBadEvents; got != DefaultMinBadEvents {
		t.Errorf("Empty().Defaults.Alerting.MinBadEvents = %d, want %d", got, DefaultMinBadEvents)
	}
}

func TestPipelineTeam(t *testing.T) {
	teams := "teams: {platform: {receiver: p}, sre: {receiver: s}}\nservices: [{cluster: a, port: 1}]\n"
	for _, tc := range []struct{ name, src, want string }{
		{"defaults.team", "defaults: {team: platform}\n" + teams, "platform"},
		{"pipeline.team", "defaults: {team: platform}\npipeline: {team: sre}\n" + teams, "sre"},
		{"pipeline without a team", "defaults: {team: platform}\npipeline: {}\n" + teams, "platform"},
		{"no team anywhere", teams, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, tc.src).Pipeline.Team; got != tc.want {
				t.Errorf("Pipeline.Team = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestWindows: an SLO's window merges field by field like its objective:
// a service that sets only its objective keeps the defaults' window, one
// that sets only a window keeps the objective, and an SLO that names none
// anywhere gets DefaultWindow.
func TestWindows(t *testing.T) {
	c := mustParse(t, `
defaults:
  slos:
    availability: {window: month}
    latency: null
services:
  - http_service: inherit
    port: 8001
    slos: {availability: {objective: 99.95}}
  - http_service: own
    port: 8002
    slos:
      availability: {window: 7d}
      latency: {objective: 99, threshold: 1s}
  - http_service: both
    port: 8003
    slos:
      latency: {objective: 99, threshold: 1s, window: 28d}
`)
	got := map[string]string{}
	for _, s := range c.Services {
		w := "a=" + s.SLOs.Availability.Text + "/" + string(s.SLOs.Availability.Window)
		if l := s.SLOs.Latency; l != nil {
			w += " l=" + l.Text + "/" + string(l.Window)
		}
		got[s.Name] = w
	}
	want := map[string]string{
		"inherit": "a=99.95/month",
		"own":     "a=99.9/7d l=99/30d",
		"both":    "a=99.9/month l=99/28d",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %s, want %s", name, got[name], w)
		}
	}
	if w := Empty().Defaults.SLOs.Availability.Window; w != DefaultWindow {
		t.Errorf("built-in window %q, want %q", w, DefaultWindow)
	}
	if Window("").OrDefault() != Window30d || WindowMonth.OrDefault() != WindowMonth {
		t.Error("OrDefault")
	}
}
