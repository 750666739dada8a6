package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var (
	alsdOnce sync.Once
	alsdPath string
	alsdErr  error
)

// builtAlsd builds cmd/alsd once per test binary, with the ordinary build
// flags (the build cache makes this cheap after `go test ./...` built its
// packages).
func builtAlsd(t *testing.T) string {
	t.Helper()
	alsdOnce.Do(func() {
		dir, err := os.MkdirTemp("", "meshtel-deploy-")
		if err != nil {
			alsdErr = err
			return
		}
		alsdPath = filepath.Join(dir, "alsd")
		out, err := exec.Command("go", "build", "-o", alsdPath, "../cmd/alsd").CombinedOutput()
		if err != nil {
			alsdErr = &buildError{err, out}
		}
	})
	if alsdErr != nil {
		t.Fatal(alsdErr)
	}
	return alsdPath
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string {
	return "go build ./cmd/alsd: " + e.err.Error() + "\n" + string(e.out)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if alsdPath != "" {
		os.RemoveAll(filepath.Dir(alsdPath))
	}
	os.Exit(code)
}

// helpLine starts one flag in alsd's help (internal/cmdhelp): "  --name",
// then its value's name, if any.
var helpLine = regexp.MustCompile(`(?m)^  --([a-z0-9-]+)(?: |$)`)

// flagSet returns the flags `alsd [command] --help` lists.
func flagSet(t *testing.T, command ...string) map[string]bool {
	t.Helper()
	cmd := exec.Command(builtAlsd(t), append(slices.Clone(command), "--help")...)
	var stderr bytes.Buffer // help goes to stdout, errors to stderr: both are read
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("alsd %v --help: %v\n%s", command, err, stderr.Bytes())
	}
	flags := map[string]bool{}
	for _, m := range helpLine.FindAllStringSubmatch(stderr.String(), -1) {
		flags[m[1]] = true
	}
	if len(flags) < 5 {
		t.Fatalf("alsd %v --help lists %d flags:\n%s", command, len(flags), stderr.Bytes())
	}
	return flags
}

// envFlag is the flag an ALSD_<NAME> variable sets (SPEC §1).
func envFlag(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "ALSD_")
	return strings.ReplaceAll(strings.ToLower(rest), "_", "-"), ok
}

// configLiterals are the kustomization's generated ConfigMaps' literals,
// by ConfigMap name and key.
func configLiterals(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, g := range loadKustomization(t).ConfigMapGenerator {
		out[g.Name] = map[string]string{}
		for _, l := range g.Literals {
			k, v, _ := strings.Cut(l, "=")
			out[g.Name][k] = v
		}
	}
	return out
}

// use is how one place runs alsd: its command, flags and ALSD_* values.
type use struct {
	where   string
	command []string // nil: run the sink; "aggregate", …
	args    []string
	env     map[string]string
}

// useOf is how container c runs alsd; configMap resolves the ConfigMap
// keys its ALSD_* variables read.
func useOf(where string, c corev1.Container, configMap func(name, key string) string) use {
	u := use{where: where + "/" + c.Name, args: c.Args, env: map[string]string{}}
	if len(c.Args) > 0 && !strings.HasPrefix(c.Args[0], "-") {
		u.command, u.args = slices.Clone(c.Args[:1]), c.Args[1:]
	}
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, "ALSD_") {
			continue
		}
		v := e.Value
		if ref := e.ValueFrom; ref != nil && ref.ConfigMapKeyRef != nil {
			v = configMap(ref.ConfigMapKeyRef.Name, ref.ConfigMapKeyRef.Key)
		}
		u.env[e.Name] = v
	}
	return u
}

// uses are the manifests' and the image's ways of running alsd.
func uses(t *testing.T) []use {
	t.Helper()
	objs := manifests(t)
	literals := configLiterals(t)
	configMap := func(name, key string) string { return literals[name][key] }
	return []use{
		useOf("StatefulSet/alsd", statefulSet(t, objs).Spec.Template.Spec.Containers[0], configMap),
		useOf("Deployment/alsd-aggregate", aggregator(t, objs).Spec.Template.Spec.Containers[0], configMap),
		{where: "Dockerfile ENV", env: dockerfileEnv(t)},
	}
}

// Every flag and ALSD_* variable the manifests and the image set is one
// of the real alsd's flags for that command, written --name=value (so a
// boolean never swallows the next argument), and alsd accepts every
// value: it parses them all before it reaches the final --help.
func TestFlagsExistInAlsd(t *testing.T) {
	checkUses(t, uses(t))
}

func checkUses(t *testing.T, uses []use) {
	t.Helper()
	sets := map[string]map[string]bool{}
	for _, u := range uses {
		key := strings.Join(u.command, " ")
		if sets[key] == nil {
			sets[key] = flagSet(t, u.command...)
		}
		known := sets[key]
		cmdName := strings.TrimSpace("alsd " + key)
		var asFlags []string
		for _, a := range u.args {
			name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !strings.HasPrefix(a, "--") || !hasValue {
				t.Errorf("%s: argument %q: write flags as --name=value", u.where, a)
				continue
			}
			if !known[name] {
				t.Errorf("%s: %s has no flag --%s", u.where, cmdName, name)
				continue
			}
			asFlags = append(asFlags, "--"+name+"="+value)
		}
		for env, value := range u.env {
			name, _ := envFlag(env)
			if !known[name] {
				t.Errorf("%s: %s sets no flag: %s has no --%s", u.where, env, cmdName, name)
				continue
			}
			asFlags = append(asFlags, "--"+name+"="+value)
		}
		cmd := exec.Command(builtAlsd(t), append(append(u.command, asFlags...), "--help")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %s rejects %v: %v\n%s", u.where, cmdName, asFlags, err, lastLine(out))
		}
	}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// The cross-check must catch a flag alsd does not have.
func TestFlagCheckCatchesUnknown(t *testing.T) {
	known := flagSet(t)
	for _, f := range []string{"als-addr", "compute", "kafka-brokers", "state-dir"} {
		if !known[f] {
			t.Errorf("alsd --help does not list --%s: %v", f, known)
		}
	}
	if known["no-such-flag"] || known["group"] {
		t.Error("alsd --help lists a flag it does not have")
	}
	if agg := flagSet(t, "aggregate"); !agg["group"] || agg["als-addr"] {
		t.Errorf("alsd aggregate --help: %v", agg)
	}
	// alsd itself refuses what the check would flag.
	if err := exec.Command(builtAlsd(t), "--no-such-flag=1", "--help").Run(); err == nil {
		t.Error("alsd accepted --no-such-flag")
	}
}
