package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/meshtel/meshtel/internal/kafkatest"
)

// TestThroughput measures end-to-end records/s (acknowledged by Kafka)
// with `alsd simulate` against a built alsd, on kfake and — with
// MESHTEL_KAFKA=real — on a real Apache Kafka in the same run. It prints
// figures and asserts nothing about speed: run it with
// MESHTEL_THROUGHPUT=1 go test ./cmd/alsd -run TestThroughput -v.
func TestThroughput(t *testing.T) {
	if os.Getenv("MESHTEL_THROUGHPUT") == "" {
		t.Skip("set MESHTEL_THROUGHPUT=1 to measure")
	}
	total := "1000000"
	if n := os.Getenv("MESHTEL_THROUGHPUT_TOTAL"); n != "" {
		total = n
	}
	brokers := map[string]func(*testing.T) *kafkatest.Broker{
		"kfake": func(t *testing.T) *kafkatest.Broker { return kafkatest.Fake(t, "mesh.accesslog.v1") },
	}
	if os.Getenv(kafkatest.EnvVar) == "real" {
		brokers["apache-kafka"] = func(t *testing.T) *kafkatest.Broker {
			b := kafkatest.Real(t)
			b.CreateTopic(t, "mesh.accesslog.v1", 6, map[string]string{"min.insync.replicas": "1"})
			return b
		}
	}
	for _, name := range []string{"kfake", "apache-kafka"} {
		start, ok := brokers[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			broker := start(t)
			p := startAlsd(t, "--kafka-brokers", broker.Addr, "--state-dir", t.TempDir())
			out, err := exec.Command(alsdBinary(t), "simulate", "--target", p.als, "--admin", "http://"+p.admin,
				"--total", total, "--sidecars", "2", "--streams", "4", "--batch", "100").CombinedOutput()
			if err != nil {
				t.Fatalf("simulate: %v\n%s", err, out)
			}
			t.Logf("%s:\n%s", name, strings.TrimSpace(string(out)))
			p.stop(t, syscall.SIGTERM)
		})
	}
}
