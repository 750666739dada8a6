package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd   string // upper case: FROM, RUN, COPY, …
	args  string
	stage int // 0 for ARGs before the first FROM, then 1, 2, …
}

func dockerfile(t *testing.T) []instruction {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	stage := 0
	var cur string
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if rest, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur += rest + " "
			continue
		}
		cur += trimmed
		cmd, args, _ := strings.Cut(cur, " ")
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, instruction{cmd: cmd, args: strings.TrimSpace(args), stage: stage})
		cur = ""
	}
	return out
}

// dockerfileEnv returns the final stage's ENV settings.
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	ins := dockerfile(t)
	last := ins[len(ins)-1].stage
	env := map[string]string{}
	for _, in := range ins {
		if in.cmd != "ENV" || in.stage != last {
			continue
		}
		for _, kv := range strings.Fields(in.args) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("ENV %s: write NAME=value", in.args)
			}
			env[k] = v
		}
	}
	return env
}

var numericUser = regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`)

// The Dockerfile builds with scripts/build-static (what TestStaticBinaries
// checks), on the Go of go.mod, into a distroless or scratch image that
// runs alsd as a non-root user.
func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	mod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	last := ins[len(ins)-1].stage
	var goVersion, final, user, entrypoint string
	builds, copies := false, ""
	for _, in := range ins {
		switch {
		case in.cmd == "ARG" && in.stage == 0 && strings.HasPrefix(in.args, "GO_VERSION="):
			goVersion = strings.TrimPrefix(in.args, "GO_VERSION=")
		case in.cmd == "FROM" && in.stage == last:
			final = in.args
		case in.cmd == "RUN" && in.stage < last && strings.Contains(in.args, "scripts/build-static "):
			builds = true
		case in.cmd == "RUN" && in.stage == last:
			t.Errorf("RUN in the final stage (%s): distroless has no shell", in.args)
		case in.cmd == "COPY" && in.stage == last:
			copies += in.args + " "
		case in.cmd == "USER" && in.stage == last:
			user = in.args
		case in.cmd == "ENTRYPOINT" && in.stage == last:
			entrypoint = in.args
		}
	}
	if goLine == nil || goVersion != string(goLine[1]) {
		t.Errorf("ARG GO_VERSION=%s, go.mod says %q", goVersion, goLine)
	}
	if !builds {
		t.Error("no build stage runs scripts/build-static")
	}
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage FROM %s: want distroless static or scratch", final)
	}
	for _, bin := range []string{"/alsd", "/dashgen"} {
		if !strings.Contains(copies, bin+" ") {
			t.Errorf("the final stage does not copy %s", bin)
		}
	}
	if !numericUser.MatchString(user) {
		t.Errorf("USER %q: want a numeric non-root uid (Kubernetes' runAsNonRoot checks numbers)", user)
	}
	if entrypoint != `["/usr/local/bin/alsd"]` {
		t.Errorf("ENTRYPOINT %s, want alsd", entrypoint)
	}
}
