package main

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/internal/kafkatest"
)

type kafkaMessage = kafka.Message

func readTopic(t *testing.T, addr string, want int) []kafkaMessage {
	t.Helper()
	return kafkatest.ReadAll(t, addr, "mesh.accesslog.v1", want, 30*time.Second)
}
