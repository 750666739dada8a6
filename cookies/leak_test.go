package cookies

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshtel/meshtel/cookies/httpcookie"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// planted are cookie values that must appear in no output: an opaque
// secret, an e-mail address, a session id and a value in a malformed cookie.
var planted = []string{
	"PLANTEDs3cr3tV4LUEzq9",
	"planted.person%40leak-test.example",
	"planted.person@leak-test.example",
	"b7e1c0ffee5eed5ca1ab1e0ddba115e7",
	"PLANTEDinBADcookie",
}

func TestValuesNeverLeak(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	inv := newTestInventory(t, Config{
		Catalog: mustCatalog(t), StateDir: dir, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inv.Run(ctx) }()

	cookie := "secret=" + planted[0] + "; mail=" + planted[1] + "; sid=" + planted[3] + "; bad name=" + planted[4] + "; q=\"" + planted[0] + "\""
	setCookie := "secret=" + planted[0] + "; Path=/; Max-Age=99999999, mail=" + planted[2] + "; Secure, sid=" + planted[3] +
		"; HttpOnly; SameSite=None, oops=\"x\"" + planted[4] + "\"; Path=/"
	obs, bad := httpcookie.ParseRequest(cookie, nil, nil)
	obs, bad = httpcookie.ParseResponse(setCookie, t0, obs, bad)
	if len(obs) != 7 || len(bad) != 2 {
		t.Fatalf("parsed %d cookies and %v", len(obs), bad)
	}
	inv.Observe("my_website", "www.example.com", t0, obs, bad)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	outputs := map[string][]byte{"observations": fmt.Appendf(nil, "%+v %#v %v", obs, obs, bad), "logs": logs.Bytes()}
	rep := inv.Snapshot()
	if len(rep.Services) == 0 || len(rep.Services[0].Cookies) != 4 {
		t.Fatalf("report: %+v", rep)
	}
	for _, f := range []string{FormatJSON, FormatCSV, FormatMarkdown} {
		var b bytes.Buffer
		if err := WriteReport(&b, rep, f); err != nil {
			t.Fatal(err)
		}
		outputs["report."+f] = b.Bytes()
		b.Reset()
		if err := WriteDiff(&b, Diff(Report{}, rep), f); err != nil {
			t.Fatal(err)
		}
		outputs["diff."+f] = b.Bytes()
	}
	rec := httptest.NewRecorder()
	inv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/cookies", nil))
	outputs["/api/cookies"] = rec.Body.Bytes()
	rec = httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	outputs["/metrics"] = rec.Body.Bytes()
	state, err := inv.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	outputs["state"] = state
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		outputs["file "+f.Name()] = b
	}
	if _, ok := outputs["file "+StateFile]; !ok {
		t.Fatal("no checkpoint written")
	}

	for name, out := range outputs {
		for _, v := range planted {
			if bytes.Contains(bytes.ToLower(out), bytes.ToLower([]byte(v))) {
				t.Errorf("%s contains the cookie value %q", name, v)
			}
		}
	}
	// The outputs did carry the cookies, so the test could have failed.
	for _, name := range []string{"report.json", "report.csv", "report.md", "diff.md", "file " + StateFile} {
		if !bytes.Contains(outputs[name], []byte("secret")) {
			t.Errorf("%s does not even name the cookie: the test proves nothing", name)
		}
	}
	if !bytes.Contains(outputs["/metrics"], []byte(`mesh_cookies{finding="pii-value",service="my_website"} 1`)) {
		t.Errorf("/metrics lacks the pii-value gauge:\n%s", outputs["/metrics"])
	}
}

// A value is also never reachable through the Observation's fields.
func TestObservationHasNoValueField(t *testing.T) {
	obs, _ := httpcookie.ParseResponse("n="+planted[0]+"; Domain=example.com; Path=/", t0, nil, nil)
	s := fmt.Sprintf("%#v", obs[0])
	if strings.Contains(s, planted[0]) {
		t.Errorf("observation prints the value: %s", s)
	}
}
