package kafkasink

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"

	"github.com/segmentio/kafka-go"
)

// writeLanes produces kms over the live writers. kafka-go writes one batch
// at a time per partition and writer (max.in.flight=1), so one writer's
// throughput per partition is a batch per round trip; with Lanes writers a
// partition has as many batches in flight. A key always takes the same
// lane, so one service's records are written in the order they are
// produced, as with a single writer.
func (s *Sink) writeLanes(ctx context.Context, kms []kafka.Message) error {
	n := len(s.lanes)
	if n == 1 {
		return s.lanes[0].WriteMessages(ctx, kms...)
	}
	byLane := make([][]int, n) // indexes into kms
	for i := range kms {
		l := laneOf(kms[i].Key, n)
		byLane[l] = append(byLane[l], i)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for l, idx := range byLane {
		if len(idx) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := make([]kafka.Message, len(idx))
			for j, i := range idx {
				sub[j] = kms[i]
			}
			errs[l] = s.lanes[l].WriteMessages(ctx, sub...)
		}()
	}
	wg.Wait()
	return laneErrors(len(kms), byLane, errs)
}

func laneOf(key []byte, n int) int {
	h := fnv.New32a()
	_, _ = h.Write(key)
	return int(h.Sum32() % uint32(n))
}

// laneErrors is the error of a produce call made of lane calls: nil when
// all succeeded; the lanes' error when every lane failed alike (a timeout,
// the broker down), so callers see its cause; otherwise kafka-go's
// per-message WriteErrors over all n messages.
func laneErrors(n int, byLane [][]int, errs []error) error {
	var first error
	same := true
	for l, err := range errs {
		if len(byLane[l]) == 0 {
			continue
		}
		var werrs kafka.WriteErrors
		switch {
		case err == nil || errors.As(err, &werrs):
			same = false
		case first == nil:
			first = err
		case err.Error() != first.Error():
			same = false
		}
	}
	if first == nil && !anyErr(errs) {
		return nil
	}
	if same && first != nil {
		return first
	}
	out := make(kafka.WriteErrors, n)
	for l, err := range errs {
		var werrs kafka.WriteErrors
		perMessage := errors.As(err, &werrs) && len(werrs) == len(byLane[l])
		for j, i := range byLane[l] {
			if perMessage {
				out[i] = werrs[j]
			} else {
				out[i] = err
			}
		}
	}
	return out
}

func anyErr(errs []error) bool {
	for _, err := range errs {
		if err != nil {
			return true
		}
	}
	return false
}
