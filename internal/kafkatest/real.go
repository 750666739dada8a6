package kafkatest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ScriptEnvVar overrides where the broker script is; by default it is
// scripts/kafka/kafka in the module that contains the working directory.
const ScriptEnvVar = "MESHTEL_KAFKA_SCRIPT"

// scriptTimeout bounds one script run: a cold fetch downloads about 65 MB
// from Maven Central, and a broker start on a busy 2-core machine has taken
// up to a minute (the script gives up on a start after 3).
const scriptTimeout = 5 * time.Minute

// Real starts a single-node Apache Kafka (KRaft broker+controller) in a
// temporary directory through scripts/kafka/kafka, fetching its jars first
// when they are not cached. It skips the test unless MESHTEL_KAFKA=real, and
// fails it when the broker cannot be fetched or started.
func Real(t testing.TB) *Broker {
	t.Helper()
	if os.Getenv(EnvVar) != "real" {
		t.Skipf("set %s=real to run against a real Apache Kafka broker (scripts/kafka/kafka)", EnvVar)
	}
	script, err := findScript()
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	r := &realBroker{script: script, dir: t.TempDir()}
	t.Cleanup(func() {
		if t.Failed() {
			r.logTail(t, 40)
		}
		r.stop(t)
	})
	runScript(t, script, "fetch")
	r.start(t)
	return &Broker{Addr: r.addr, impl: r}
}

type realBroker struct {
	script string
	dir    string
	addr   string
}

func (r *realBroker) isReal() bool { return true }

func (r *realBroker) start(t testing.TB) {
	t.Helper()
	addr := runScript(t, r.script, "start", r.dir)
	if r.addr != "" && addr != r.addr {
		t.Fatalf("kafkatest: broker in %s restarted on %s, was %s", r.dir, addr, r.addr)
	}
	r.addr = addr
}

func (r *realBroker) stop(t testing.TB) {
	t.Helper()
	runScript(t, r.script, "stop", r.dir)
}

func (r *realBroker) kill9(t testing.TB) {
	t.Helper()
	runScript(t, r.script, "kill", r.dir)
}

// logTail logs the end of the broker's log, for a failed test's report.
func (r *realBroker) logTail(t testing.TB, n int) {
	raw, err := os.ReadFile(filepath.Join(r.dir, "server.log"))
	if err != nil {
		t.Logf("kafkatest: broker log: %v", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	t.Logf("kafkatest: last %d lines of %s:\n%s", len(lines), filepath.Join(r.dir, "server.log"), strings.Join(lines, "\n"))
}

// runScript runs the broker script and returns its standard output, trimmed.
func runScript(t testing.TB, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, args...)
	// The watchdog stops the broker if this test binary dies without running
	// its cleanups (a -timeout panic, a SIGKILL).
	cmd.Env = append(os.Environ(), "MESHTEL_KAFKA_WATCH_PID="+strconv.Itoa(os.Getpid()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafkatest: %s %s: %v\n%s", script, strings.Join(args, " "), err, stderr.String())
	}
	t.Logf("kafkatest: %s %s: %s", filepath.Base(script), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return strings.TrimSpace(stdout.String())
}

func findScript() (string, error) {
	if s := os.Getenv(ScriptEnvVar); s != "" {
		return s, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find scripts/kafka/kafka: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			s := filepath.Join(dir, "scripts", "kafka", "kafka")
			if _, err := os.Stat(s); err != nil {
				return "", fmt.Errorf("find broker script (or set %s): %w", ScriptEnvVar, err)
			}
			return s, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find scripts/kafka/kafka: no go.mod above the working directory; set %s", ScriptEnvVar)
		}
		dir = parent
	}
}
