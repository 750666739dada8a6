package cookies

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

// mixReport is the realistic mix of feedMix, labelled by the fixture DB.
func mixReport(t *testing.T) Report {
	inv := newTestInventory(t, Config{Catalog: mustCatalog(t), CookieDB: filepath.Join("testdata", "cookiedb.csv")})
	feedMix(inv)
	observe(inv, "shop", "shop.example.org", t0, "trk_id=1; weird|name=1", "")
	return inv.Snapshot()
}

func TestWriteReportGolden(t *testing.T) {
	r := mixReport(t)
	for _, f := range []string{FormatMarkdown, FormatCSV, FormatJSON} {
		var b bytes.Buffer
		if err := WriteReport(&b, r, f); err != nil {
			t.Fatal(err)
		}
		golden(t, "report.golden."+f, b.Bytes())
	}
	if err := WriteReport(&bytes.Buffer{}, r, "html"); err == nil || !strings.Contains(err.Error(), `"html"`) {
		t.Errorf("unknown format: %v", err)
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	r := mixReport(t)
	var b bytes.Buffer
	if err := WriteReport(&b, r, FormatJSON); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReport(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip\n got %+v\nwant %+v", back, r)
	}
	if _, err := ReadReport(strings.NewReader("{")); err == nil {
		t.Error("truncated JSON accepted")
	}
}

func TestCookieDBLabels(t *testing.T) {
	r := mixReport(t)
	for _, tc := range []struct{ service, name, category, vendor string }{
		{"my_website", "_ga_ABC123", "Analytics", "Google Analytics"}, // wildcard column
		{"my_website", "consent", "Functional", "Consent Manager"},
		{"my_website", "tracker", "Marketing", "Ad Network"}, // exact
		{"shop", "trk_id", "Marketing", "Ad Network"},        // trailing '*'
		{"my_website", "sid", "", ""},
	} {
		c := findCookie(t, r, tc.service, tc.name)
		if c.Category != tc.category || c.Vendor != tc.vendor {
			t.Errorf("%s: category %q vendor %q, want %q %q", tc.name, c.Category, c.Vendor, tc.category, tc.vendor)
		}
	}
}

func TestReadCookieDB(t *testing.T) {
	db, err := ReadCookieDB(strings.NewReader("\ufeffName,Category,Vendor,Wildcard\n_pk_,Analytics,Matomo,true\n_pk_id,Analytics,Matomo exact,false\n,ignored,,\n"))
	if err != nil {
		t.Fatal(err)
	}
	if db.Len() != 2 {
		t.Errorf("Len = %d", db.Len())
	}
	if k, ok := db.Lookup("_pk_id"); !ok || k.Vendor != "Matomo exact" {
		t.Errorf("exact: %+v %v", k, ok)
	}
	if k, ok := db.Lookup("_pk_ses.1.abc"); !ok || k.Vendor != "Matomo" {
		t.Errorf("prefix: %+v %v", k, ok)
	}
	if _, ok := db.Lookup("other"); ok {
		t.Error("unknown name found")
	}
	if _, ok := (*CookieDB)(nil).Lookup("x"); ok {
		t.Error("nil db found a name")
	}
	for name, in := range map[string]string{
		"no name column": "Category,Vendor\nx,y\n",
		"empty":          "",
		"bad quoting":    "name\n\"unterminated\n",
	} {
		if _, err := ReadCookieDB(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(Config{CookieDB: filepath.Join(t.TempDir(), "missing.csv")}); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing cookie DB: %v", err)
	}
}

func TestDiff(t *testing.T) {
	inv := newTestInventory(t, Config{Catalog: mustCatalog(t)})
	feedMix(inv)
	old := inv.Snapshot()

	week := t0.Add(7 * 24 * time.Hour)
	inv2 := newTestInventory(t, Config{Catalog: mustCatalog(t), Now: func() time.Time { return week }})
	feedMix(inv2)
	// consent gains HttpOnly, the tracker is gone, a new cookie appears
	// and the session cookie starts carrying e-mail addresses.
	observe(inv2, "my_website", "www.example.com", week, "sid=jane%40example.com", "consent=accepted; Path=/; Max-Age=15552000; Secure; HttpOnly; SameSite=Strict, fresh=1; Secure; HttpOnly")
	r := inv2.Snapshot()
	svc := &r.Services[0]
	for i, c := range svc.Cookies {
		if c.Name == "tracker" {
			svc.Cookies = append(svc.Cookies[:i], svc.Cookies[i+1:]...)
			break
		}
	}
	d := Diff(old, r)
	if len(d.Added) != 1 || d.Added[0].Name != "fresh" || len(d.Removed) != 1 || d.Removed[0].Name != "tracker" {
		t.Errorf("added %+v removed %+v", d.Added, d.Removed)
	}
	changed := map[string][]FieldChange{}
	for _, c := range d.Changed {
		changed[c.Name] = c.Changes
	}
	if want := []FieldChange{{"http_only", "false", "true"}, {"findings", "missing-httponly", ""}}; !reflect.DeepEqual(changed["consent"], want) {
		t.Errorf("consent changes %+v, want %+v", changed["consent"], want)
	}
	if want := []FieldChange{{"value_classes", "hex", "hex,email"}, {"findings", "", "pii-value"}}; !reflect.DeepEqual(changed["sid"], want) {
		t.Errorf("sid changes %+v, want %+v", changed["sid"], want)
	}
	if len(d.Changed) != 2 || d.Empty() || !Diff(old, old).Empty() {
		t.Errorf("changed: %+v", d.Changed)
	}
	for _, f := range []string{FormatMarkdown, FormatCSV, FormatJSON} {
		var b bytes.Buffer
		if err := WriteDiff(&b, d, f); err != nil {
			t.Fatal(err)
		}
		golden(t, "diff.golden."+f, b.Bytes())
	}
	if err := WriteDiff(&bytes.Buffer{}, d, "txt"); err == nil {
		t.Error("unknown diff format accepted")
	}
}

func TestMergeReports(t *testing.T) {
	all := newTestInventory(t, Config{Catalog: mustCatalog(t)})
	a := newTestInventory(t, Config{Catalog: mustCatalog(t)})
	b := newTestInventory(t, Config{Catalog: mustCatalog(t)})
	feedMix(all)
	feedMix(a)
	// b only sees u in a request: the merge must fold it into a's Set-Cookie.
	observe(b, "shop", "shop.example.org", t0.Add(time.Hour), "u=jane.doe%40example.com", "")
	observe(all, "shop", "shop.example.org", t0.Add(time.Hour), "u=jane.doe%40example.com", "")
	got := MergeReports(a.Snapshot(), b.Snapshot())
	want := all.Snapshot()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merged\n got %+v\nwant %+v", got, want)
	}
	if m := MergeReports(); m.Services == nil || len(m.Services) != 0 {
		t.Errorf("empty merge: %+v", m)
	}
}

func TestCSVDefusesFormulas(t *testing.T) {
	r := Report{Services: []ServiceReport{{Service: "s", Cookies: []CookieReport{{Name: "-x", Domain: "=HYPERLINK(1)", Path: "@a", Findings: []string{}}}}}}
	var b bytes.Buffer
	if err := WriteReport(&b, r, FormatCSV); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "s,'-x,'=HYPERLINK(1),'@a,") {
		t.Errorf("csv: %s", b.String())
	}
}

func TestLifetime(t *testing.T) {
	for _, tc := range []struct {
		s    int64
		want string
	}{{0, "deleted"}, {59, "59s"}, {60, "1m"}, {90, "90s"}, {3600, "1h"}, {5400, "90m"}, {86400, "1d"}, {90000, "25h"}, {63072000, "730d"}, {700000, "8d"}} {
		if got := lifetime(&tc.s); got != tc.want {
			t.Errorf("lifetime(%d) = %q, want %q", tc.s, got, tc.want)
		}
	}
	if lifetime(nil) != "session" {
		t.Error("nil lifetime")
	}
}
