package cookies

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/meshtel/meshtel/internal/poll"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const testCatalog = `
teams:
  web: {receiver: web-oncall}
services:
  - http_service: my_website
    port: 8080
    team: web
    cookies: [sid, consent, lang, "_ga_*"]
    domains: [example.com]
  - http_service: shop
    port: 8081
    team: web
`

func mustCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Parse("mesh.yaml", []byte(testCatalog))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0.Add(time.Hour) }

func newTestInventory(t testing.TB, cfg Config) *Inventory {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = fixedNow
	}
	inv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// observe parses and records one access-log entry, as accesslog does.
func observe(inv *Inventory, service, authority string, at time.Time, cookie, setCookie string) {
	obs, bad := httpcookie.ParseRequest(cookie, nil, nil)
	obs, bad = httpcookie.ParseResponse(setCookie, at, obs, bad)
	inv.Observe(service, authority, at, obs, bad)
}

func findCookie(t *testing.T, r Report, service, name string) CookieReport {
	t.Helper()
	for _, s := range r.Services {
		if s.Service != service {
			continue
		}
		for _, c := range s.Cookies {
			if c.Name == name {
				return c
			}
		}
	}
	t.Fatalf("no cookie %q in service %q: %+v", name, service, r)
	return CookieReport{}
}

// feedMix sends the realistic mix of issue 5 to my_website and shop.
func feedMix(inv *Inventory) {
	for i := range 20 {
		at := t0.Add(time.Duration(i) * time.Minute)
		sid := fmt.Sprintf("a%031x", i+1)
		observe(inv, "my_website", "www.example.com:443", at,
			"sid="+sid+"; _ga_ABC123=GS1.1.1732527600.1.0; consent=accepted; js_pref=dark",
			"sid="+sid+"; Path=/; Secure; HttpOnly; SameSite=Lax, "+
				"_ga_ABC123=GS1.1.1732527600.1.0; Domain=.example.com; Path=/; Max-Age=63072000, "+
				"consent=accepted; Path=/; Max-Age=15552000; Secure; SameSite=Strict, "+
				"tracker=abc; Domain=ads.tracker.net; Path=/; SameSite=None; HttpOnly")
	}
	observe(inv, "shop", "shop.example.org", t0, "", "u=jane.doe%40example.com; Path=/; Secure; HttpOnly")
	observe(inv, "shop", "shop.example.org", t0, "bad name=1; x", "")
}

func TestInventoryReport(t *testing.T) {
	inv := newTestInventory(t, Config{Catalog: mustCatalog(t)})
	feedMix(inv)
	r := inv.Snapshot()

	if !r.GeneratedAt.Equal(fixedNow()) {
		t.Errorf("generated_at = %v", r.GeneratedAt)
	}
	if len(r.Services) != 2 || r.Services[0].Service != "my_website" || r.Services[1].Service != "shop" {
		t.Fatalf("services: %+v", r.Services)
	}
	var names []string
	for _, c := range r.Services[0].Cookies {
		names = append(names, c.Name)
	}
	if want := []string{"_ga_ABC123", "consent", "js_pref", "sid", "tracker"}; !reflect.DeepEqual(names, want) {
		t.Errorf("my_website cookies = %q, want %q", names, want)
	}

	sid := findCookie(t, r, "my_website", "sid")
	maxAge := func(p *int64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	if !reflect.DeepEqual(sid.Sources, []string{"request", "response"}) || sid.Path != "/" || !sid.Secure || !sid.HTTPOnly ||
		sid.SameSite != "Lax" || sid.MaxAgeS != nil || sid.Requests != 20 || sid.Responses != 20 || !sid.Declared ||
		sid.DistinctValues < 19 || sid.DistinctValues > 21 || sid.ValueClasses["hex"] != 40 || len(sid.Findings) != 0 ||
		!sid.FirstSeen.Equal(t0) || !sid.LastSeen.Equal(t0.Add(19*time.Minute)) {
		t.Errorf("sid = %+v (max_age %v)", sid, maxAge(sid.MaxAgeS))
	}

	ga := findCookie(t, r, "my_website", "_ga_ABC123")
	if ga.Domain != "example.com" || maxAge(ga.MaxAgeS) != int64(63072000) || ga.DistinctValues != 1 || !ga.Declared ||
		!reflect.DeepEqual(ga.Findings, []string{FindingMissingSecure, FindingMissingHTTPOnly, FindingLongLifetime}) {
		t.Errorf("_ga = %+v", ga)
	}
	consent := findCookie(t, r, "my_website", "consent")
	if !reflect.DeepEqual(consent.Findings, []string{FindingMissingHTTPOnly}) || consent.SameSite != "Strict" {
		t.Errorf("consent = %+v", consent)
	}
	js := findCookie(t, r, "my_website", "js_pref")
	if !reflect.DeepEqual(js.Sources, []string{"request"}) || !reflect.DeepEqual(js.Findings, []string{FindingUndeclared}) ||
		js.Secure || js.MaxAgeS != nil || js.Responses != 0 || js.Requests != 20 {
		t.Errorf("js_pref = %+v", js)
	}
	tracker := findCookie(t, r, "my_website", "tracker")
	if !reflect.DeepEqual(tracker.Findings, []string{FindingMissingSecure, FindingSameSiteNoneInsecure, FindingUndeclared, FindingThirdPartyDomain}) {
		t.Errorf("tracker findings = %q", tracker.Findings)
	}

	u := findCookie(t, r, "shop", "u")
	if !reflect.DeepEqual(u.Findings, []string{FindingPIIValue}) || u.ValueClasses["email"] != 1 || u.Declared {
		t.Errorf("shop u = %+v (no cookies: list, so nothing is undeclared)", u)
	}
	if want := map[string]uint64{"bad_name": 1, "no_equals": 1}; !reflect.DeepEqual(r.Services[1].Malformed, want) {
		t.Errorf("shop malformed = %v, want %v", r.Services[1].Malformed, want)
	}
}

func TestThirdPartyDomain(t *testing.T) {
	tests := []struct {
		name, service, authority, domain string
		third                            bool
	}{
		{"authority is the domain", "shop", "shop.example.org", "shop.example.org", false},
		{"authority is a subdomain", "shop", "www.shop.example.org:8443", "example.org", false},
		{"authority case and port", "shop", "WWW.Example.ORG:443", "example.org", false},
		{"unrelated domain", "shop", "shop.example.org", "tracker.net", true},
		{"suffix is not a subdomain", "shop", "badexample.org", "example.org", true},
		{"catalog domain", "my_website", "10.0.0.1:8080", "example.com", false},
		{"subdomain of catalog domain", "my_website", "10.0.0.1:8080", "login.example.com", false},
		{"IPv6 authority", "shop", "[2001:db8::1]:443", "2001:db8::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := newTestInventory(t, Config{Catalog: mustCatalog(t)})
			observe(inv, tt.service, tt.authority, t0, "", "c=1; Secure; HttpOnly; Domain="+tt.domain)
			c := findCookie(t, inv.Snapshot(), tt.service, "c")
			if got := slices.Contains(c.Findings, FindingThirdPartyDomain); got != tt.third {
				t.Errorf("findings %q, want third-party-domain %v", c.Findings, tt.third)
			}
		})
	}
}

func TestRequestBeforeResponseFolds(t *testing.T) {
	inv := newTestInventory(t, Config{})
	observe(inv, "s", "", t0, "sid=1", "")
	observe(inv, "s", "", t0.Add(time.Minute), "sid=2", "")
	observe(inv, "s", "", t0.Add(2*time.Minute), "", "sid=3; Path=/app; Secure; HttpOnly")
	observe(inv, "s", "", t0.Add(3*time.Minute), "sid=3", "")
	r := inv.Snapshot()
	if len(r.Services[0].Cookies) != 1 {
		t.Fatalf("cookies = %+v", r.Services[0].Cookies)
	}
	c := r.Services[0].Cookies[0]
	if c.Path != "/app" || c.Requests != 3 || c.Responses != 1 || c.DistinctValues != 3 || !c.FirstSeen.Equal(t0) ||
		!reflect.DeepEqual(c.Sources, []string{"request", "response"}) {
		t.Errorf("cookie = %+v", c)
	}
}

func TestDeletionKeepsAttributes(t *testing.T) {
	inv := newTestInventory(t, Config{})
	observe(inv, "s", "", t0, "", "sid=abc; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=3600")
	observe(inv, "s", "", t0.Add(time.Minute), "", "sid=; Path=/; Max-Age=0")
	c := inv.Snapshot().Services[0].Cookies[0]
	if !c.Secure || !c.HTTPOnly || c.SameSite != "Strict" || c.MaxAgeS == nil || *c.MaxAgeS != 3600 || c.Responses != 2 || len(c.Findings) != 0 {
		t.Errorf("a logout's deletion overwrote the cookie's attributes: %+v", c)
	}
	// A later real Set-Cookie does replace them, and its findings apply.
	observe(inv, "s", "", t0.Add(2*time.Minute), "", "sid=abc; Path=/")
	c = inv.Snapshot().Services[0].Cookies[0]
	if c.Secure || !reflect.DeepEqual(c.Findings, []string{FindingMissingSecure, FindingMissingHTTPOnly}) {
		t.Errorf("cookie = %+v", c)
	}
	// An entry logged late (older time) does not override newer attributes.
	observe(inv, "s", "", t0.Add(90*time.Second), "", "sid=abc; Path=/; Secure; HttpOnly")
	if c = inv.Snapshot().Services[0].Cookies[0]; c.Secure {
		t.Errorf("older Set-Cookie won: %+v", c)
	}
}

func TestNamesCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	inv := newTestInventory(t, Config{Registerer: reg, MaxNamesPerService: 3})
	var hdr []string
	for i := range 10 {
		hdr = append(hdr, fmt.Sprintf("n%d=1", i))
	}
	observe(inv, "s", "", t0, strings.Join(hdr, "; "), "")
	observe(inv, "s", "", t0, "n0=2", "")
	r := inv.Snapshot()
	if len(r.Services[0].Cookies) != 3 || r.Services[0].Overflow != 7 {
		t.Errorf("cookies %d, overflow %d", len(r.Services[0].Cookies), r.Services[0].Overflow)
	}
	if got := testutil.ToFloat64(inv.metrics.overflow.WithLabelValues("s")); got != 7 {
		t.Errorf("%s = %v", metricOverflow, got)
	}
	if c := findCookie(t, r, "s", "n0"); c.Requests != 2 {
		t.Errorf("known name not counted at the cap: %+v", c)
	}
}

func TestServicesCap(t *testing.T) {
	inv := newTestInventory(t, Config{MaxServices: 2})
	for _, s := range []string{"a", "b", "c", "d"} {
		observe(inv, s, "", t0, "x=1", "")
	}
	if r := inv.Snapshot(); len(r.Services) != 2 {
		t.Errorf("services = %d", len(r.Services))
	}
	if got := testutil.ToFloat64(inv.metrics.servicesOverflow); got != 2 {
		t.Errorf("%s = %v", metricServicesOverflow, got)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	inv := newTestInventory(t, Config{Registerer: reg, Catalog: mustCatalog(t)})
	feedMix(inv)
	inv.refresh()
	for _, tc := range []struct {
		finding string
		want    float64
	}{
		{FindingNone, 1}, // sid
		{FindingMissingSecure, 2},
		{FindingMissingHTTPOnly, 2},
		{FindingSameSiteNoneInsecure, 1},
		{FindingLongLifetime, 1},
		{FindingUndeclared, 2},
		{FindingThirdPartyDomain, 1},
		{FindingPIIValue, 0},
	} {
		if got := testutil.ToFloat64(inv.metrics.cookies.WithLabelValues("my_website", tc.finding)); got != tc.want {
			t.Errorf("mesh_cookies{service=my_website,finding=%q} = %v, want %v", tc.finding, got, tc.want)
		}
	}
	if got := testutil.ToFloat64(inv.metrics.cookies.WithLabelValues("shop", FindingPIIValue)); got != 1 {
		t.Errorf("shop pii-value = %v", got)
	}
	if got := testutil.ToFloat64(inv.metrics.malformed.WithLabelValues("shop", "bad_name")); got != 1 {
		t.Errorf("malformed bad_name = %v", got)
	}
	if got := testutil.ToFloat64(inv.metrics.tracked); got != 6 {
		t.Errorf("tracked = %v", got)
	}
	if _, err := New(Config{Registerer: reg}); err == nil {
		t.Error("registering twice succeeded")
	}
}

func TestHandler(t *testing.T) {
	inv := newTestInventory(t, Config{Catalog: mustCatalog(t)})
	feedMix(inv)
	srv := httptest.NewServer(inv.Handler())
	defer srv.Close()

	res, err := http.Get(srv.URL + "/api/cookies")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	err = json.NewDecoder(res.Body).Decode(&doc)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, %v", res.StatusCode, err)
	}
	svc := doc["services"].([]any)[0].(map[string]any)
	cookie := svc["cookies"].([]any)[0].(map[string]any)
	for _, f := range []string{"name", "sources", "domain", "path", "secure", "http_only", "same_site", "max_age_s",
		"value_classes", "first_seen", "last_seen", "requests", "responses", "declared", "findings"} {
		if _, ok := cookie[f]; !ok {
			t.Errorf("SPEC §6 field %q missing from %v", f, cookie)
		}
	}
	if _, err := time.Parse(time.RFC3339, doc["generated_at"].(string)); err != nil {
		t.Errorf("generated_at: %v", err)
	}

	res, err = http.Get(srv.URL + "/api/cookies?service=shop")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ReadReport(res.Body)
	res.Body.Close()
	if err != nil || len(rep.Services) != 1 || rep.Services[0].Service != "shop" {
		t.Errorf("filtered: %+v, %v", rep, err)
	}

	res, err = http.Post(srv.URL+"/api/cookies", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") == "" {
		t.Errorf("POST: %d", res.StatusCode)
	}
}

// comparable drops what legitimately differs between equivalent inventories.
func comparable(r Report) Report {
	r.GeneratedAt = time.Time{}
	return r
}

func TestCheckpointRestore(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	inv := newTestInventory(t, Config{Catalog: mustCatalog(t), StateDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	feedMix(inv)
	if err := inv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := inv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	before := inv.Snapshot()

	back := newTestInventory(t, Config{Catalog: mustCatalog(t), StateDir: dir})
	if got := back.Snapshot(); !reflect.DeepEqual(comparable(got), comparable(before)) {
		t.Errorf("restored report differs\n got %+v\nwant %+v", got, before)
	}
	// Counting goes on from the restored state.
	observe(back, "shop", "", t0.Add(time.Hour), "u=x", "")
	if c := findCookie(t, back.Snapshot(), "shop", "u"); c.Requests != 1 || c.Responses != 1 || !c.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Errorf("after restore: %+v", c)
	}
	if logs.Len() != 0 {
		t.Errorf("unexpected logs: %s", logs.String())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != StateFile {
		t.Errorf("state dir holds %v, want only %s (temporary files cleaned up)", entries, StateFile)
	}
}

func TestCorruptCheckpoint(t *testing.T) {
	good := newTestInventory(t, Config{})
	feedMix(good)
	valid, err := good.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(valid)
	flipped[len(flipped)-3] ^= 0x20
	version := bytes.Clone(valid)
	version[9] = 99
	for name, data := range map[string][]byte{
		"garbage":   []byte("not a checkpoint at all"),
		"empty":     {},
		"truncated": valid[:len(valid)/2],
		"bit flip":  flipped,
		"version":   version,
		"trailing":  append(bytes.Clone(valid), '\n'),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, StateFile)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			inv := newTestInventory(t, Config{StateDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if r := inv.Snapshot(); len(r.Services) != 0 {
				t.Errorf("restored from a corrupt checkpoint: %+v", r)
			}
			if !strings.Contains(logs.String(), "corrupt") {
				t.Errorf("log does not say corrupt: %q", logs.String())
			}
			if _, err := os.Stat(path + ".corrupt"); err != nil {
				t.Errorf("corrupt checkpoint not kept aside: %v", err)
			}
			if got := testutil.ToFloat64(inv.metrics.corrupt); got != 1 {
				t.Errorf("%s = %v", metricCorrupt, got)
			}
			if err := inv.MergeState(data); err == nil {
				t.Error("MergeState accepted it")
			} else if name != "version" && !errors.Is(err, ErrCorruptState) {
				t.Errorf("MergeState: %v, want ErrCorruptState", err)
			}
		})
	}
}

func TestMergeState(t *testing.T) {
	// One inventory sees everything; two others see the halves.
	all := newTestInventory(t, Config{Catalog: mustCatalog(t)})
	a := newTestInventory(t, Config{Catalog: mustCatalog(t)})
	b := newTestInventory(t, Config{Catalog: mustCatalog(t)})
	for i := range 60 {
		at := t0.Add(time.Duration(i) * time.Second)
		cookie := fmt.Sprintf("sid=%032x; consent=yes", i%25)
		set := ""
		if i%3 == 0 {
			set = fmt.Sprintf("sid=%032x; Path=/; Secure; HttpOnly; Max-Age=%d", i%25, 60+i)
		}
		if i == 7 {
			set = "late=1; Domain=other.net"
		}
		observe(all, "my_website", "www.example.com", at, cookie+"; bad", set)
		half := a
		if i%2 == 1 {
			half = b
		}
		observe(half, "my_website", "www.example.com", at, cookie+"; bad", set)
	}
	stA, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	stB, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	merged := newTestInventory(t, Config{Catalog: mustCatalog(t)})
	for _, st := range [][]byte{stB, stA} {
		if err := merged.MergeState(st); err != nil {
			t.Fatal(err)
		}
	}
	got, want := comparable(merged.Snapshot()), comparable(all.Snapshot())
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged state differs from one inventory seeing everything\n got %+v\nwant %+v", got, want)
	}
	if c := findCookie(t, got, "my_website", "sid"); c.DistinctValues != 25 || *c.MaxAgeS != 60+57 {
		t.Errorf("sid = %+v", c)
	}
	// Merging is also how a restarted process resumes: into a live inventory.
	if err := a.MergeState(stB); err != nil {
		t.Fatal(err)
	}
	if got := comparable(a.Snapshot()); !reflect.DeepEqual(got, want) {
		t.Errorf("merged into a live inventory\n got %+v\nwant %+v", got, want)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	inv := newTestInventory(t, Config{StateDir: dir, Registerer: reg, CheckpointInterval: 10 * time.Millisecond, RefreshInterval: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inv.Run(ctx) }()
	observe(inv, "s", "", t0, "", "a=1")
	poll.Until(t, 5*time.Second, "the gauges refreshed", func() bool {
		return testutil.ToFloat64(inv.metrics.cookies.WithLabelValues("s", FindingMissingSecure)) == 1
	})
	observe(inv, "s", "", t0, "", "b=1")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := inv.Run(context.Background()); err == nil {
		t.Error("second Run started")
	}
	back := newTestInventory(t, Config{StateDir: dir})
	if r := back.Snapshot(); len(r.Services) != 1 || len(r.Services[0].Cookies) != 2 {
		t.Errorf("final checkpoint missed the last observation: %+v", r)
	}
	if testutil.ToFloat64(inv.metrics.checkpoints.WithLabelValues("ok")) < 1 {
		t.Error("no checkpoint counted")
	}
}

func TestCloseStopsRun(t *testing.T) {
	dir := t.TempDir()
	inv := newTestInventory(t, Config{StateDir: dir})
	done := make(chan error, 1)
	go func() { done <- inv.Run(context.Background()) }()
	poll.Until(t, 5*time.Second, "Run to start", func() bool {
		inv.runMu.Lock()
		defer inv.runMu.Unlock()
		return inv.runDone != nil
	})
	observe(inv, "s", "", t0, "", "a=1")
	if err := inv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); err != nil {
		t.Errorf("no checkpoint after Close: %v", err)
	}
}

func TestCheckpointError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	inv := newTestInventory(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	inv.cfg.StateDir = file
	if err := inv.Checkpoint(); err == nil || !strings.Contains(logs.String(), "cookie checkpoint failed") {
		t.Errorf("err %v, logs %q", err, logs.String())
	}
	if testutil.ToFloat64(inv.metrics.checkpoints.WithLabelValues("error")) != 1 {
		t.Error("failure not counted")
	}
}

func TestConcurrentObserve(t *testing.T) {
	inv := newTestInventory(t, Config{StateDir: t.TempDir()})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				observe(inv, fmt.Sprintf("svc%d", i%3), "h", t0, fmt.Sprintf("a=%d; b=%d", i, g), "c=1; Secure")
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			inv.Snapshot()
			_ = inv.Checkpoint()
		}
	}()
	wg.Wait()
	var total uint64
	for _, s := range inv.Snapshot().Services {
		for _, c := range s.Cookies {
			total += c.Requests + c.Responses
		}
	}
	if total != 4*300*3 {
		t.Errorf("counted %d observations, want %d", total, 4*300*3)
	}
}

func TestObservationsWithoutHash(t *testing.T) {
	inv := newTestInventory(t, Config{})
	obs := []httpcookie.Observation{{Name: "sid", Source: httpcookie.Response, Secure: true, HTTPOnly: true, ValueClass: httpcookie.Opaque}}
	inv.Observe("s", "", t0, obs, nil)
	inv.Observe("s", "", t0, obs, nil)
	c := inv.Snapshot().Services[0].Cookies[0]
	if c.Responses != 2 || c.DistinctValues != 0 || c.ValueClasses["opaque"] != 2 {
		t.Errorf("cookie = %+v", c)
	}
}

func TestNewUnreadableStateDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Config{StateDir: file, Registerer: reg}); err == nil || !strings.Contains(err.Error(), "cookie checkpoint") {
		t.Errorf("New with a state dir that is a file: %v", err)
	}
	if _, err := New(Config{Registerer: reg}); err != nil {
		t.Errorf("metrics of the failed New were left registered: %v", err)
	}
}
