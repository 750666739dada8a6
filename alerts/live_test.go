package alerts_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meshtel/meshtel/alerts"
	"github.com/meshtel/meshtel/catalog"
	"github.com/meshtel/meshtel/internal/poll"
	"github.com/meshtel/meshtel/sli"
)

// The live test's catalog: checkout will fail completely; reports takes a
// request every five seconds and fails once; sre answers for alsd.
const liveCatalog = `defaults:
  team: platform
teams:
  web: {receiver: web-oncall, runbook_base: https://runbooks.example.com/web/}
  payments: {receiver: payments-oncall, runbook_base: https://runbooks.example.com/payments/}
  platform: {receiver: platform-oncall}
  sre: {receiver: sre-oncall}
pipeline: {team: sre}
services:
  - http_service: checkout
    port: 8081
    team: web
    slos: {latency: null}
  - http_service: catalog
    port: 8082
    team: web
    slos: {latency: null}
  - http_service: payments
    port: 8083
    team: payments
    slos: {latency: null}
  - http_service: reports
    port: 8084
    team: payments
    slos: {latency: null}
`

// Deadlines of the live scenario: the 4 minutes to page; SPEC's 5
// minutes of silence before MeshTelemetryDown, plus the page route's 30s
// group_wait and a few scrapes and evaluations.
const (
	pageDeadline          = 4 * time.Minute
	pageFor               = 2 * time.Minute // the generated pages' `for`
	telemetryDownDeadline = 7 * time.Minute
	quietRate             = "0.2" // reports' requests per second
)

// TestLiveAlerts runs the generated rules for real: dashgen output loaded by
// Debian's Prometheus, scraping a built alsd that `alsd simulate` drives,
// alerting Debian's Alertmanager running the generated routes.yml with every
// team receiver pointed at a webhook served here. It checks that
//   - a total outage of checkout pages checkout's team within 4 minutes,
//     with service, slo, severity, team, runbook_url and dashboard, and no
//     other service pages; the matching ticket is inhibited;
//   - a low-traffic service with an isolated failed request does not page,
//     though without the guard its fast burn conditions hold long enough to;
//   - with alsd stopped, MeshTelemetryDown reaches the pipeline team, and
//     burn and silence alerts are inhibited meanwhile.
//
// It takes about ten minutes (the alerts' own `for`), so it runs only with
// MESHTEL_LIVE=1, as .ci/run does.
func TestLiveAlerts(t *testing.T) {
	if os.Getenv("MESHTEL_LIVE") == "" {
		t.Skip("set MESHTEL_LIVE=1 to run the generated alerts in a real Prometheus and Alertmanager (about 10 minutes)")
	}
	r := newLiveRig(t)
	r.start()

	// Healthy traffic for every service, then checkout fails completely.
	r.simulate("busy.yaml", "--rate", "150", "--bad-ratio", "checkout=0,catalog=0,payments=0", "--duration", "30s").wait(t, time.Minute)
	// alsd makes a route's series at its first request, and increase()
	// cannot see a counter's first value: reports' one failure must land
	// on a route already counted.
	poll.Until(t, 3*time.Minute, "reports' three routes counted", func() bool {
		return len(r.query(`mesh_sli_requests_total{service="reports",slo="availability"}`)) == 3
	})
	outage := time.Now()
	busy := r.simulate("busy.yaml", "--rate", "150", "--bad-ratio", "checkout=1,catalog=0,payments=0", "--duration", "20m")
	r.isolatedFailure()
	guard := r.watchGuard(outage)

	page := r.hook.await(t, outage.Add(pageDeadline), func(n notification, a hookAlert) bool {
		return a.Labels["alertname"] == alerts.AlertName && a.Labels["service"] == "checkout" && a.Labels["severity"] == "page"
	})
	t.Logf("time to page: %s after checkout began failing", page.at.Sub(outage).Round(time.Second))
	r.checkPage(page)
	r.checkTicketInhibited()

	// Without the guard, reports' page would fire once its burn conditions
	// held for the page's `for: 2m`: wait until they have (or stop).
	heldFor, quietAlerts := guard.stopAfter(pageFor+10*time.Second, outage.Add(6*time.Minute))
	busy.stop(t)
	r.quiet.stop(t)
	t.Logf("reports (one failed request at %s requests/s): the fast page's burn conditions held for %s with the guard holding the page back; alerts raised: %d",
		quietRate, heldFor.Round(time.Second), quietAlerts)
	if heldFor < 2*time.Minute+10*time.Second {
		t.Errorf("the guard held reports' page back for only %s: without it the page (for: 2m) would not have fired either, so the scenario proves nothing", heldFor)
	}
	if quietAlerts > 0 {
		t.Errorf("reports raised %d alert samples (pending or firing) despite the low-traffic guard", quietAlerts)
	}

	stopped := time.Now()
	r.alsd.stop(t)
	down := r.hook.await(t, stopped.Add(telemetryDownDeadline), func(n notification, a hookAlert) bool {
		return a.Labels["alertname"] == alerts.TelemetryDownAlert
	})
	t.Logf("time to MeshTelemetryDown: %s after alsd stopped", down.at.Sub(stopped).Round(time.Second))
	if down.Receiver != "sre-oncall" || down.alert.Labels["team"] != "sre" || down.alert.Labels["severity"] != "page" {
		t.Errorf("MeshTelemetryDown went to %q with labels %v, want the pipeline team's receiver sre-oncall", down.Receiver, down.alert.Labels)
	}
	r.checkInhibitedWhileDown()
	r.checkNoOtherPages()
}

// liveRig holds the processes and addresses of one live run.
type liveRig struct {
	t                     *testing.T
	dir, bin              string
	alsAddr, adminAddr    string
	promURL, amURL        string
	hook                  *webhook
	alsd, prom, am, quiet *proc
}

func newLiveRig(t *testing.T) *liveRig {
	prometheus := lookBin(t, "prometheus")
	alertmanager := lookBin(t, "prometheus-alertmanager", "alertmanager")
	r := &liveRig{t: t, dir: t.TempDir(), hook: newWebhook(t)}
	r.bin = filepath.Join(r.dir, "bin")
	root := moduleRoot(t)
	build := exec.Command("go", "build", "-o", r.bin+string(filepath.Separator), "./cmd/alsd", "./cmd/dashgen")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r.writeCatalogs()
	r.run(filepath.Join(r.bin, "dashgen"), "generate", "--catalog", r.path("live.yaml"), "--out", r.path("gen"), "--grafana-url", "http://grafana.test")
	r.alsAddr, r.adminAddr = freeAddr(t), freeAddr(t)
	promAddr, amAddr := freeAddr(t), freeAddr(t)
	r.promURL, r.amURL = "http://"+promAddr, "http://"+amAddr
	r.writeAlertmanagerConfig()
	r.writePrometheusConfig(amAddr)
	r.am = r.spawn("alertmanager", alertmanager, "--config.file", r.path("alertmanager.yml"),
		"--storage.path", r.path("am-data"), "--web.listen-address", amAddr, "--cluster.listen-address=")
	r.prom = r.spawn("prometheus", prometheus, "--config.file", r.path("prometheus.yml"),
		"--storage.tsdb.path", r.path("prom-data"), "--web.listen-address", promAddr)
	return r
}

// start brings up alsd and the quiet service's steady trickle, and waits
// until every program is ready and Prometheus scrapes alsd.
func (r *liveRig) start() {
	r.alsd = r.spawn("alsd", filepath.Join(r.bin, "alsd"), "--als-addr", r.alsAddr, "--admin-addr", r.adminAddr,
		"--catalog", r.path("live.yaml"), "--state-dir", r.path("alsd-data"))
	for name, u := range map[string]string{"alsd": "http://" + r.adminAddr + "/readyz", "prometheus": r.promURL + "/-/ready", "alertmanager": r.amURL + "/-/ready"} {
		poll.Until(r.t, time.Minute, name+" ready", func() bool { return httpStatus(u) == http.StatusOK })
	}
	poll.Until(r.t, time.Minute, "prometheus scraping alsd", func() bool {
		return len(r.query(`up{job="alsd"} == 1`)) == 1
	})
	r.quiet = r.simulate("quiet.yaml", "--rate", quietRate, "--batch", "1", "--sidecars", "1", "--streams", "1",
		"--bad-ratio", "reports=0", "--duration", "20m")
}

func (r *liveRig) path(name string) string { return filepath.Join(r.dir, name) }

func (r *liveRig) writeCatalogs() {
	cat, err := catalog.Parse("live.yaml", []byte(liveCatalog))
	if err != nil {
		r.t.Fatal(err)
	}
	writeFile(r.t, r.path("live.yaml"), []byte(liveCatalog))
	// The simulators take their services from a catalog: the busy three
	// in one, reports alone in the other, named and numbered as in live.yaml.
	var busy, quiet strings.Builder
	busy.WriteString("services:\n")
	quiet.WriteString("services:\n")
	for _, s := range cat.Services {
		b := &busy
		if s.Name == "reports" {
			b = &quiet
		}
		fmt.Fprintf(b, "  - http_service: %s\n    port: %d\n", s.Name, s.Port)
	}
	writeFile(r.t, r.path("busy.yaml"), []byte(busy.String()))
	writeFile(r.t, r.path("quiet.yaml"), []byte(quiet.String()))
}

// writeAlertmanagerConfig is the generated routes.yml with each receiver
// given a webhook to this test: the integrations are the operator's.
func (r *liveRig) writeAlertmanagerConfig() {
	var cfg map[string]any
	if err := yaml.Unmarshal(readFile(r.t, r.path("gen/alertmanager/routes.yml")), &cfg); err != nil {
		r.t.Fatal(err)
	}
	receivers, _ := cfg["receivers"].([]any)
	for _, rc := range receivers {
		m := rc.(map[string]any)
		m["webhook_configs"] = []any{map[string]any{"url": r.hook.url + "/" + m["name"].(string), "send_resolved": false}}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	writeFile(r.t, r.path("alertmanager.yml"), out)
}

func (r *liveRig) writePrometheusConfig(amAddr string) {
	cfg := fmt.Sprintf(`global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
scrape_configs:
  - job_name: %s
    static_configs: [{targets: [%q]}]
`, r.path("gen/prometheus/rules/*.rules.yml"), amAddr, alerts.DefaultALSDJob, r.adminAddr)
	writeFile(r.t, r.path("prometheus.yml"), []byte(cfg))
}

func (r *liveRig) simulate(catalogFile string, args ...string) *proc {
	base := []string{"simulate", "--target", r.alsAddr, "--catalog", r.path(catalogFile)}
	return r.spawn("simulate "+catalogFile, filepath.Join(r.bin, "alsd"), append(base, args...)...)
}

// isolatedFailure sends reports one failed request, and again should the
// simulator make that one an entry the SLI excludes (an intermediate one,
// say), until reports has exactly one bad request.
func (r *liveRig) isolatedFailure() {
	errors := func() float64 {
		v := r.query(`sum(mesh_sli_errors_total{service="reports",slo="availability"})`)
		if len(v) == 0 {
			return 0
		}
		return v[0]
	}
	for try := 0; errors() == 0; try++ {
		if try == 5 {
			r.t.Fatal("five single failed requests to reports, none counted")
		}
		r.simulate("quiet.yaml", "--total", "1", "--batch", "1", "--sidecars", "1", "--streams", "1", "--bad-ratio", "reports=1").wait(r.t, 30*time.Second)
		// Counted within a few scrapes, or excluded: then send another.
		poll.Wait(10*time.Second, func() bool { return errors() > 0 })
	}
	if n := errors(); n != 1 {
		r.t.Fatalf("reports has %v bad requests, want exactly 1", n)
	}
	poll.Until(r.t, 20*time.Second, "the rules counting reports' failed request", func() bool {
		return len(r.query(alerts.BadEventsName("1h")+`{service="reports",slo="availability"} > 0`)) == 1
	})
}

func (r *liveRig) checkPage(page hookMatch) {
	want := map[string]string{"service": "checkout", "slo": "availability", "severity": "page", "team": "web"}
	for k, v := range want {
		if page.alert.Labels[k] != v {
			r.t.Errorf("page label %s = %q, want %q (labels %v)", k, page.alert.Labels[k], v, page.alert.Labels)
		}
	}
	if page.Receiver != "web-oncall" {
		r.t.Errorf("checkout's page went to %q, want its team's receiver web-oncall", page.Receiver)
	}
	for k, v := range map[string]string{"runbook_url": "https://runbooks.example.com/web/checkout", "dashboard": "http://grafana.test/d/meshtel-svc-checkout"} {
		if page.alert.Annotations[k] != v {
			r.t.Errorf("page annotation %s = %q, want %q", k, page.alert.Annotations[k], v)
		}
	}
}

// checkTicketInhibited: Prometheus holds checkout's ticket pending for its
// `for: 15m`, longer than this test waits, so the test sends Alertmanager
// that ticket as Prometheus will, and Alertmanager must mute it under the
// firing page.
func (r *liveRig) checkTicketInhibited() {
	var ticket map[string]string
	poll.Until(r.t, 3*time.Minute, "checkout's ticket pending in Prometheus", func() bool {
		for _, a := range r.promAlerts() {
			if a.Labels["service"] == "checkout" && a.Labels["severity"] == "ticket" && a.State == "pending" {
				ticket = a.Labels
				return true
			}
		}
		return false
	})
	r.amPost(ticket)
	r.awaitAMState(ticket, "suppressed")
}

func (r *liveRig) checkInhibitedWhileDown() {
	burn := map[string]string{"alertname": alerts.AlertName, "service": "checkout", "slo": "availability", "severity": "page", "team": "web", "generator": alerts.Generator}
	silent := map[string]string{"alertname": alerts.ServiceSilentAlert, "service": "payments", "severity": "ticket", "team": "payments", "generator": alerts.Generator}
	control := map[string]string{"alertname": alerts.RecordsDroppedAlert, "severity": "page", "team": "sre", "generator": alerts.Generator, "reason": "live_test"}
	injected := time.Now()
	r.amPost(burn, silent, control)
	r.awaitAMState(burn, "suppressed")
	r.awaitAMState(silent, "suppressed")
	r.awaitAMState(control, "active")
	// The control shares the burn page's group_wait: once it arrives, the
	// burn page would have too, were it not inhibited.
	r.hook.await(r.t, time.Now().Add(time.Minute), func(n notification, a hookAlert) bool {
		return a.Labels["reason"] == "live_test"
	})
	for _, n := range r.hook.all() {
		for _, a := range n.Alerts {
			if a.StartsAt.After(injected.Add(-time.Second)) && (a.Labels["alertname"] == alerts.AlertName || a.Labels["alertname"] == alerts.ServiceSilentAlert) {
				r.t.Errorf("%s for %s reached %s while MeshTelemetryDown fired", a.Labels["alertname"], a.Labels["service"], n.Receiver)
			}
		}
	}
}

// checkNoOtherPages: the only pages are checkout's burn, MeshTelemetryDown
// and the injected control.
func (r *liveRig) checkNoOtherPages() {
	for _, n := range r.hook.all() {
		for _, a := range n.Alerts {
			l := a.Labels
			ok := l["severity"] != "page" || l["alertname"] == alerts.TelemetryDownAlert || l["reason"] == "live_test" ||
				l["alertname"] == alerts.AlertName && l["service"] == "checkout"
			if !ok {
				r.t.Errorf("unexpected page to %s: %v", n.Receiver, l)
			}
		}
	}
}

// guardWatch samples, every evaluation, whether the low-traffic guard holds
// one of reports' page pairs back, and whether reports has any alert.
type guardWatch struct {
	stopc   chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	longest time.Duration
	ended   bool // a held-back run began and ended
	alerts  int
}

func (r *liveRig) watchGuard(from time.Time) *guardWatch {
	cat, err := catalog.Parse("live.yaml", []byte(liveCatalog))
	if err != nil {
		r.t.Fatal(err)
	}
	svc := *cat.Lookup("reports")
	slos, err := alerts.SLOs(svc)
	if err != nil {
		r.t.Fatal(err)
	}
	guards, err := alerts.Guards(svc, slos[0], sli.Page)
	if err != nil || len(guards) == 0 {
		r.t.Fatalf("reports has no page guards: %v", err)
	}
	var held []string
	for _, g := range guards {
		held = append(held, alerts.HeldBackExpr(svc.Name, slos[0], g))
	}
	expr := strings.Join(held, " or ")
	w := &guardWatch{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var since time.Time
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			now := time.Now()
			heldNow := len(r.query(expr)) > 0
			alerting := len(r.query(`ALERTS{service="reports"}`))
			w.mu.Lock()
			switch {
			case heldNow && since.IsZero():
				since = now
			case !heldNow && !since.IsZero():
				since, w.ended = time.Time{}, true
			}
			if heldNow {
				w.longest = max(w.longest, now.Sub(since))
			}
			w.alerts += alerting
			w.mu.Unlock()
			select {
			case <-w.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stopAfter stops watching once the guard has held a pair back for
// enough, or a held-back run has ended, or at deadline.
func (w *guardWatch) stopAfter(enough time.Duration, deadline time.Time) (longest time.Duration, alerts int) {
	poll.Wait(time.Until(deadline), func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.longest >= enough || w.ended
	})
	close(w.stopc)
	<-w.done
	return w.longest, w.alerts
}

// Prometheus and Alertmanager HTTP APIs.

func (r *liveRig) query(expr string) []float64 {
	var resp struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(r.promURL+"/api/v1/query?query="+url.QueryEscape(expr), &resp); err != nil {
		r.t.Logf("query %s: %v", expr, err)
		return nil
	}
	var out []float64
	for _, s := range resp.Data.Result {
		text, _ := s.Value[1].(string)
		v, _ := strconv.ParseFloat(text, 64)
		out = append(out, v)
	}
	return out
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (r *liveRig) promAlerts() []promAlert {
	var resp struct {
		Data struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := getJSON(r.promURL+"/api/v1/alerts", &resp); err != nil {
		r.t.Logf("alerts: %v", err)
	}
	return resp.Data.Alerts
}

func (r *liveRig) amPost(labelSets ...map[string]string) {
	type postable struct {
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
		EndsAt   time.Time         `json:"endsAt"`
	}
	var body []postable
	for _, ls := range labelSets {
		body = append(body, postable{Labels: ls, StartsAt: time.Now(), EndsAt: time.Now().Add(15 * time.Minute)})
	}
	data, err := json.Marshal(body)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := http.Post(r.amURL+"/api/v2/alerts", "application/json", bytes.NewReader(data))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		r.t.Fatalf("POST /api/v2/alerts: %s %s", resp.Status, b)
	}
}

// awaitAMState polls Alertmanager until the alert with exactly these
// labels has state ("active", "suppressed"); suppressed must be by an
// inhibition, not a silence.
func (r *liveRig) awaitAMState(labels map[string]string, state string) {
	var filters []string
	for k, v := range labels {
		filters = append(filters, "filter="+url.QueryEscape(fmt.Sprintf("%s=%q", k, v)))
	}
	u := r.amURL + "/api/v2/alerts?" + strings.Join(filters, "&")
	poll.Until(r.t, 30*time.Second, fmt.Sprintf("alertmanager: %v %s", labels, state), func() bool {
		var got []struct {
			Status struct {
				State       string   `json:"state"`
				InhibitedBy []string `json:"inhibitedBy"`
			} `json:"status"`
		}
		if err := getJSON(u, &got); err != nil || len(got) != 1 {
			return false
		}
		st := got[0].Status
		return st.State == state && (state != "suppressed" || len(st.InhibitedBy) > 0)
	})
}

// webhook is every team's receiver: it records what Alertmanager sends.
type webhook struct {
	url  string
	mu   sync.Mutex
	seen []notification
}

type notification struct {
	Receiver string      `json:"receiver"`
	Alerts   []hookAlert `json:"alerts"`
	at       time.Time
}

type hookAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
}

type hookMatch struct {
	notification
	alert hookAlert
}

func newWebhook(t *testing.T) *webhook {
	h := &webhook{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var n notification
		if err := json.NewDecoder(req.Body).Decode(&n); err != nil {
			t.Errorf("webhook %s: %v", req.URL.Path, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if "/"+n.Receiver != req.URL.Path {
			t.Errorf("receiver %q posted to %s", n.Receiver, req.URL.Path)
		}
		n.at = time.Now()
		h.mu.Lock()
		h.seen = append(h.seen, n)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *webhook) all() []notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]notification(nil), h.seen...)
}

// await returns the first notification with an alert match accepts,
// polling until deadline.
func (h *webhook) await(t *testing.T, deadline time.Time, match func(notification, hookAlert) bool) hookMatch {
	t.Helper()
	var found hookMatch
	ok := poll.Wait(time.Until(deadline), func() bool {
		for _, n := range h.all() {
			for _, a := range n.Alerts {
				if match(n, a) {
					found = hookMatch{n, a}
					return true
				}
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no matching notification by the deadline; received: %+v", h.all())
	}
	return found
}

// proc is a program the test started; its output goes to a log file that
// is printed when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan error
}

func (r *liveRig) spawn(name, bin string, args ...string) *proc {
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	p.log = r.path(strings.NewReplacer(" ", "-", "/", "-").Replace(name) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ".log")
	f, err := os.Create(p.log)
	if err != nil {
		r.t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		r.t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait(); f.Close() }()
	r.t.Cleanup(func() {
		select {
		case err := <-p.done:
			p.done <- err
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if r.t.Failed() {
			out, _ := os.ReadFile(p.log)
			if len(out) > 4000 {
				out = out[len(out)-4000:]
			}
			r.t.Logf("--- %s (%s):\n%s", name, strings.Join(args, " "), out)
		}
	})
	return p
}

// run runs a program to completion.
func (r *liveRig) run(bin string, args ...string) {
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		r.t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}

// wait waits for the program to exit by itself, successfully.
func (p *proc) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s", p.name, timeout)
	}
}

// stop ends the program with SIGTERM and waits for it to exit cleanly.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop %s: %v", p.name, err)
	}
	p.wait(t, 15*time.Second)
}

func lookBin(t *testing.T, names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Fatalf("none of %v installed: install Debian's prometheus and prometheus-alertmanager", names)
	return ""
}

func moduleRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(string(bytes.TrimSpace(out)))
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpStatus(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func writeFile(t *testing.T, path string, data []byte) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
