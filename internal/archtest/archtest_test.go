package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/meshtel/meshtel/"

// Groups of import paths the rules below ban. A path ending in "/..." bans
// the package and everything under it; any other path, that package only
// (banning cookies leaves cookies/httpcookie allowed); a path starting with
// "!" is allowed even where a "/..." pattern bans it.
var (
	runtime = []string{
		"google.golang.org/grpc/...", "github.com/envoyproxy/go-control-plane/...", "github.com/segmentio/kafka-go/...",
		"github.com/twmb/franz-go/...", "github.com/prometheus/client_golang/...", "go.opentelemetry.io/otel/...",
	}
	ingest = []string{
		"google.golang.org/grpc/...", "github.com/envoyproxy/go-control-plane/envoy/service/...",
		"github.com/segmentio/kafka-go/...", "github.com/twmb/franz-go/...",
		mod + "accesslog/...", mod + "kafkasink/...", mod + "envoysim/...", mod + "aggregate/...",
	}
)

// rules: each package's transitive imports (go list -deps) must contain none
// of banned.
var rules = []struct {
	pkg    string
	why    string
	banned []string
}{
	{"record", "the record contract is a leaf every side imports", join(runtime, mod+"...", "!"+mod+"outcome", "!"+mod+"cookies/httpcookie")},
	{"outcome", "the outcome words are a leaf", join(runtime, mod+"...")},
	{"cookies/httpcookie", "receivers parse cookie headers without linking the inventory", join(runtime, mod+"...")},
	{"catalog", "the catalog is a leaf (it checks health checks with the masking rules, a leaf too)", join(runtime, mod+"...", "!"+mod+"pii")},
	{"pii", "the masking rules are a leaf", join(runtime, mod+"...")},
	{"internal/stateframe", "the checkpoint format is a leaf (writing it safely is atomicfile's)", join(runtime, mod+"...", "!"+mod+"internal/atomicfile")},
	{"sli", "the SLI engine takes plain observations, never Records", []string{mod + "record/...", mod + "accesslog/...", mod + "kafkasink/...", "google.golang.org/grpc/...", "github.com/segmentio/kafka-go/..."}},
	{"edges", "the edge tracker takes plain observations, never Records", []string{mod + "record/...", mod + "accesslog/...", mod + "kafkasink/...", "google.golang.org/grpc/...", "github.com/segmentio/kafka-go/..."}},
	{"cookies", "the inventory takes plain observations, never Records", []string{mod + "record/...", mod + "accesslog/...", mod + "kafkasink/...", "google.golang.org/grpc/...", "github.com/segmentio/kafka-go/..."}},
	{"aggregate", "aggregators need the record and a Kafka reader, not the receivers", []string{"google.golang.org/grpc/...", "github.com/envoyproxy/go-control-plane/...", mod + "accesslog/...", mod + "envoysim/...", mod + "kafkasink/..."}},
	{"accesslog", "receivers (ALS and OTLP logs) hand records on; they do not know the sink, the state or the simulator", []string{mod + "kafkasink/...", mod + "sli/...", mod + "cookies", mod + "edges/...", mod + "aggregate/...", mod + "envoysim/...", "github.com/segmentio/kafka-go/..."}},
	{"accesslog/envoytext", "the text-format parser is a leaf", join(runtime, mod+"...")},
	{"internal/selfmetric", "metrics shared by the receivers and the sink link Prometheus only", join(runtime, mod+"...", "!github.com/prometheus/client_golang/...")},
	{"kafkasink", "the sink takes encoded records; it knows no receiver", []string{mod + "accesslog/...", mod + "envoysim/...", "google.golang.org/grpc/...", "github.com/envoyproxy/go-control-plane/..."}},
	{"envoysim", "the simulator is an Envoy: it knows nothing of alsd", []string{mod + "accesslog/...", mod + "kafkasink/...", mod + "record/...", mod + "sli/...", mod + "cookies/..."}},
	{"cmd/dashgen", "generators never link the ingest runtime", ingest},
	{"alerts", "generators never link the ingest runtime", ingest},
	{"dashboards", "generators never link the ingest runtime", ingest},
	{"envoyconfig", "generators never link the ingest runtime", ingest},
	{"openslo", "generators never link the ingest runtime", ingest},
	{"artifacts", "generators never link the ingest runtime", ingest},
	{"istioconfig", "generators never link the ingest runtime", ingest},
	{"promoperator", "generators never link the ingest runtime", ingest},
	{"internal/protoyaml", "generators never link the ingest runtime", ingest},
}

func join(group []string, more ...string) []string { return append(slices.Clone(group), more...) }

// isBanned reports whether patterns (see runtime) ban the import path dep.
func isBanned(dep string, patterns []string) bool {
	hit := false
	for _, p := range patterns {
		if allow, ok := strings.CutPrefix(p, "!"); ok && matches(dep, allow) {
			return false
		}
		hit = hit || matches(dep, p)
	}
	return hit
}

// matches reports whether the import path dep matches pattern.
func matches(dep, pattern string) bool {
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return dep == tree || strings.HasPrefix(dep, tree+"/")
	}
	return dep == pattern
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goBin, append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

func TestImportRules(t *testing.T) {
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			t.Parallel()
			for _, dep := range goList(t, "-deps", mod+r.pkg) {
				if dep == mod+r.pkg || strings.HasPrefix(dep, mod+r.pkg+"/") {
					continue
				}
				if isBanned(dep, r.banned) {
					t.Errorf("%s imports %s (directly or not): %s", r.pkg, dep, r.why)
				}
			}
		})
	}
}

// TestNoGrabBags: packages are named for what they hold.
func TestNoGrabBags(t *testing.T) {
	for _, pkg := range goList(t, mod+"...") {
		name := pkg[strings.LastIndex(pkg, "/")+1:]
		switch name {
		case "util", "utils", "common", "helpers", "misc", "shared":
			t.Errorf("package %s is a grab-bag name; name it for what it holds", pkg)
		}
	}
}
