package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshtel/meshtel/envoysim"
	"github.com/meshtel/meshtel/internal/kafkatest"
	"github.com/meshtel/meshtel/internal/poll"
)

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("services:\n  - http_service: web\n    prot: 80\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		msg  string
	}{
		{"unknown flag", []string{"--no-such-flag"}, nil, exitUsage, "no-such-flag"},
		{"unknown command", []string{"serve"}, nil, exitUsage, `unknown command "serve"`},
		{"bad encoding", []string{"--kafka-encoding", "xml"}, nil, exitUsage, "--kafka-encoding"},
		{"bad size", []string{"--spool-max-bytes", "lots"}, nil, exitUsage, "spool-max-bytes"},
		{"bad env", nil, map[string]string{"ALSD_MAX_STREAMS": "many"}, exitUsage, "ALSD_MAX_STREAMS"},
		{"catalog mistake", []string{"--catalog", bad}, nil, exitUsage, bad + ":3:5:"},
		{"missing catalog", []string{"--catalog", filepath.Join(dir, "none.yaml")}, nil, exitUsage, "none.yaml"},
		{"report without subject", []string{"report"}, nil, exitUsage, "cookies|slo"},
		{"unknown report", []string{"report", "deps"}, nil, exitUsage, "dependencies"},
		{"diff needs two files", []string{"report", "cookies", "--diff", "a.json"}, nil, exitUsage, "--diff"},
		{"allowed-sans without client CA", []string{"--allowed-sans", "a.example.com"}, nil, exitUsage, "--allowed-sans needs --tls-client-ca"},
		{"cert without key", []string{"--tls-cert", filepath.Join(dir, "tls.crt")}, nil, exitUsage, "--tls-key"},
		{"unreadable cert", []string{"--tls-cert", filepath.Join(dir, "none.crt"), "--tls-key", bad}, nil, exitUsage, "none.crt"},
		{"bad header cap", []string{"--max-header-bytes", "8 kilobytes"}, nil, exitUsage, "max-header-bytes"},
		{"simulate bad ratio syntax", []string{"simulate", "--bad-ratio", "checkout"}, nil, exitUsage, "SERVICE=RATIO"},
		{"simulate bad ratio range", []string{"simulate", "--bad-ratio", "frontend=2"}, nil, exitUsage, "outside 0 to 1"},
		{"simulate bad ratio service", []string{"simulate", "--bad-ratio", "frontend=1,nope=0"}, nil, exitUsage, `no simulated service "nope"`},
		{"negative stream age", []string{"--max-stream-age", "-1m"}, nil, exitUsage, "--max-stream-age -1m0s: want 0 (never)"},
		{"bad otlp address", []string{"--otlp-addr", "nowhere:port"}, nil, exitUsage, "--otlp-addr"},
		{"bad simulate protocol", []string{"simulate", "--protocol", "zipkin"}, nil, exitUsage, `--protocol: protocol "zipkin": want als or otlp`},
		{"bad vocabulary", []string{"simulate", "--protocol", "otlp", "--vocabulary", "ecs"}, nil, exitUsage, `--vocabulary: vocabulary "ecs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr, func(k string) string { return tt.env[k] })
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.msg) {
				t.Errorf("stderr does not mention %q:\n%s", tt.msg, stderr.String())
			}
		})
	}
}

func TestEnvFlags(t *testing.T) {
	fs, cfg := serveFlags(io.Discard)
	env := map[string]string{"ALSD_KAFKA_BROKERS": "a:1,b:2", "ALSD_SPOOL_MAX_BYTES": "2MiB", "ALSD_KAFKA_TOPIC": "from-env"}
	if err := parseFlags(fs, []string{"--kafka-topic", "from-flag"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if got := cfg.brokers.String(); got != "a:1,b:2" {
		t.Errorf("brokers = %q", got)
	}
	if cfg.spoolMaxBytes != 2<<20 {
		t.Errorf("spool-max-bytes = %d", cfg.spoolMaxBytes)
	}
	if cfg.topic != "from-flag" {
		t.Errorf("topic = %q: the command line must win over the environment", cfg.topic)
	}
}

// alsdProcess is a built alsd binary running in a child process.
type alsdProcess struct {
	cmd    *exec.Cmd
	als    string
	admin  string
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan struct{}
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

func alsdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "alsd-test")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "alsd")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

var startedRE = regexp.MustCompile(`msg="alsd started" als=(\S+) admin=http://(\S+)`)

func startAlsd(t *testing.T, args ...string) *alsdProcess {
	t.Helper()
	p := &alsdProcess{exited: make(chan struct{})}
	p.cmd = exec.Command(alsdBinary(t), append([]string{"--als-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, args...)...)
	pr, pw := io.Pipe()
	p.cmd.Stderr = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if m := startedRE.FindStringSubmatch(line); m != nil {
				started <- [2]string{m[1], m[2]}
			}
		}
	}()
	go func() {
		_ = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case a := <-started:
		p.als, p.admin = a[0], a[1]
	case <-p.exited:
		t.Fatalf("alsd exited at start:\n%s", p.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("alsd did not start:\n%s", p.log())
	}
	return p
}

func (p *alsdProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// stop sends sig and waits for the exit, which must be 0 within 10s.
func (p *alsdProcess) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("alsd did not exit within 10s of %v:\n%s", sig, p.log())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("alsd exited %d after %v, want 0:\n%s", code, sig, p.log())
	}
	t.Logf("alsd exited 0 %s after %v", time.Since(start).Round(time.Millisecond), sig)
}

var acceptedRE = regexp.MustCompile(`alsd stopped cleanly" records_accepted=(\d+)`)

func (p *alsdProcess) accepted(t *testing.T) int {
	t.Helper()
	m := acceptedRE.FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("no records_accepted in the log:\n%s", p.log())
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func (p *alsdProcess) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// sendUntil streams numbered entries on several streams until stop closes;
// it returns how many it sent (not all of which alsd needs to have
// accepted: the last ones may be cut off by the shutdown).
func sendUntil(t *testing.T, addr string, streams int, stop <-chan struct{}) {
	t.Helper()
	var wg sync.WaitGroup
	for s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := envoysim.Dial(addr, envoysim.EnvoyConfig{NodeID: "sidecar~1", Cluster: "web"})
			if err != nil {
				t.Error(err)
				return
			}
			defer e.Close()
			for n := 0; ; n += 10 {
				select {
				case <-stop:
					return
				default:
				}
				if err := e.SendHTTP(context.Background(), numbered(fmt.Sprintf("s%d", s), n, 10)...); err != nil {
					return // alsd ended the stream: it is shutting down
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

func numbered(stream string, from, n int) []*datav3.HTTPAccessLogEntry {
	entries := make([]*datav3.HTTPAccessLogEntry, n)
	for i := range entries {
		entries[i] = &datav3.HTTPAccessLogEntry{
			CommonProperties: &datav3.AccessLogCommon{StartTime: timestamppb.Now()},
			Request:          &datav3.HTTPRequestProperties{RequestMethod: corev3.RequestMethod_GET, Path: "/x", RequestId: fmt.Sprintf("%s-%d", stream, from+i)},
			Response:         &datav3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(200)},
		}
	}
	return entries
}

// checkPrefixes asserts what is on Kafka is, per stream, every entry from
// 0 up to some n without a gap (the tail cut off by the shutdown was never
// accepted), and that the distinct total equals what alsd accepted. It
// returns the duplicates.
func checkPrefixes(t *testing.T, msgs [][]byte, accepted int) (dups int) {
	t.Helper()
	seen := map[string]int{}
	for _, v := range msgs {
		var rec struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			t.Fatalf("bad record %s: %v", v, err)
		}
		seen[rec.RequestID]++
	}
	maxN := map[string]int{}
	for id, c := range seen {
		stream, num, _ := strings.Cut(id, "-")
		n, _ := strconv.Atoi(num)
		maxN[stream] = max(maxN[stream], n)
		dups += c - 1
	}
	for stream, m := range maxN {
		for i := 0; i <= m; i++ {
			if seen[fmt.Sprintf("%s-%d", stream, i)] == 0 {
				t.Errorf("%s-%d lost (stream reached %d)", stream, i, m)
			}
		}
	}
	if len(seen) != accepted {
		t.Errorf("%d distinct records on Kafka, alsd accepted %d", len(seen), accepted)
	}
	return dups
}

func values(msgs []kafkaMessage) [][]byte {
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.Value
	}
	return out
}

// TestShutdownAndRestart stops alsd with SIGTERM mid-stream, once with Kafka
// up and once with Kafka down, and restarts it on the same state dir: every
// accepted record must reach Kafka.
func TestShutdownAndRestart(t *testing.T) {
	for _, kafkaDown := range []bool{false, true} {
		t.Run(fmt.Sprintf("kafka_down=%v", kafkaDown), func(t *testing.T) {
			broker := kafkatest.FromEnv(t, "mesh.accesslog.v1")
			state := t.TempDir()
			// A long delivery timeout: the test asserts exactly once with
			// Kafka up, which a loaded test machine could break by acking
			// later than the default 500ms.
			p := startAlsd(t, "--kafka-brokers", broker.Addr, "--state-dir", state, "--kafka-delivery-timeout", "10s")
			p.waitReady(t, "kafka")
			stop := make(chan struct{})
			sent := make(chan struct{})
			go func() { sendUntil(t, p.als, 3, stop); close(sent) }()
			// Records in flight when the broker stops or alsd is told to.
			poll.Until(t, 30*time.Second, "alsd to accept 1000 records", func() bool { return p.metric(t, "alsd_records_total") >= 1000 })
			if kafkaDown {
				broker.Stop(t)
				// Ready all the same: alsd spools while Kafka is away.
				p.waitReady(t, "unavailable")
			}
			p.stop(t, syscall.SIGTERM)
			close(stop)
			<-sent
			accepted := p.accepted(t)
			if accepted == 0 {
				t.Fatal("alsd accepted nothing")
			}
			if kafkaDown {
				if !strings.Contains(p.log(), "spool_bytes=") || strings.Contains(p.log(), "spool_bytes=0") {
					t.Fatalf("expected records in the spool at exit:\n%s", p.log())
				}
				broker.Restart(t)
				q := startAlsd(t, "--kafka-brokers", broker.Addr, "--state-dir", state)
				waitMetric(t, q, "alsd_spool_bytes", 0)
				q.stop(t, syscall.SIGINT)
			}
			msgs := readTopic(t, broker.Addr, accepted)
			dups := checkPrefixes(t, values(msgs), accepted)
			t.Logf("accepted %d, %d on Kafka, %d duplicates", accepted, len(msgs), dups)
			if !kafkaDown && dups != 0 {
				t.Errorf("%d duplicates with Kafka up, want 0", dups)
			}
		})
	}
}

func waitMetric(t *testing.T, p *alsdProcess, name string, want float64) {
	t.Helper()
	poll.UntilState(t, 30*time.Second, fmt.Sprintf("%s to reach %v", name, want), func() (bool, string) {
		got := p.metric(t, name)
		return got == want, fmt.Sprint(got)
	})
}

// metric sums the series of /metrics named name, or is the one series
// name when it has labels; NaN, which equals nothing, when there is none.
func (p *alsdProcess) metric(t *testing.T, name string) float64 {
	t.Helper()
	_, body := p.get(t, "/metrics")
	sum, found := 0.0, false
	for _, line := range strings.Split(body, "\n") {
		series, v, ok := strings.Cut(line, " ")
		if ok && (series == name || strings.HasPrefix(series, name+"{") && !strings.Contains(name, "{")) {
			f, _ := strconv.ParseFloat(v, 64)
			sum, found = sum+f, true
		}
	}
	if !found {
		return math.NaN()
	}
	return sum
}

// waitReady waits until /readyz answers 200 with a body mentioning want.
func (p *alsdProcess) waitReady(t *testing.T, want string) {
	t.Helper()
	poll.UntilState(t, 30*time.Second, fmt.Sprintf("/readyz to answer 200 mentioning %q", want), func() (bool, string) {
		code, body := p.get(t, "/readyz")
		return code == 200 && strings.Contains(body, want), fmt.Sprintf("%d %q", code, body)
	})
}
