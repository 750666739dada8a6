package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/meshtel/meshtel/record"
)

// produceTimeout bounds a live produce call: kafka-go's three attempts of
// up to WriteTimeout each. The delivery timeout does not end the call: it
// only spools a copy of its records.
const produceTimeout = 30 * time.Second

// maxStragglers is how many live produce calls may run past their delivery
// timeout at once before Kafka counts as failing: past it new records go
// to the spool without a call of their own.
const maxStragglers = 16

// maxLanded bounds the ids remembered as landed until the replay reaches
// them; past it, such records are replayed again (and counted once by
// their meshtel-id downstream).
const maxLanded = 1 << 20

// A produceCall is one live produce call, run apart from the worker so
// that the worker can stop waiting for it at the delivery deadline.
type produceCall struct {
	done    chan struct{} // closed when the call has returned
	err     error
	settled chan struct{} // closed when a straggler's records are accounted for
}

func (s *Sink) startProduce(msgs []record.Message) *produceCall {
	c := &produceCall{done: make(chan struct{}), settled: make(chan struct{})}
	go func() {
		defer close(c.done)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), produceTimeout)
		defer cancel()
		c.err = s.traceProduce(ctx, msgs, pathLive)
		s.pace.live(time.Since(start))
	}()
	return c
}

// inflight tracks the records of stragglers: live produce calls still
// running after their delivery timeout had their records spooled. Kafka
// usually takes them in the end; the replay then skips their spooled
// copies instead of sending every record twice, which at a busy broker's
// limit would double its load and so spool ever more.
type inflight struct {
	mu      sync.Mutex
	pending map[record.ID]*produceCall
	calls   int // stragglers not settled yet
	landed  map[record.ID]struct{}
}

func newInflight() *inflight {
	return &inflight{pending: map[record.ID]*produceCall{}, landed: map[record.ID]struct{}{}}
}

// add registers msgs as records of straggler c and returns how many
// stragglers there are now.
func (f *inflight) add(msgs []record.Message, c *produceCall) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range msgs {
		f.pending[msgs[i].ID] = c
	}
	f.calls++
	return f.calls
}

// forget unregisters msgs of c: they could not be spooled.
func (f *inflight) forget(msgs []record.Message, c *produceCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range msgs {
		if f.pending[msgs[i].ID] == c {
			delete(f.pending, msgs[i].ID)
		}
	}
}

// settle records the outcome of straggler c: the records Kafka took are
// landed, the others are left to the replay. It returns how many landed.
func (f *inflight) settle(msgs []record.Message, c *produceCall) int {
	defer close(c.settled)
	var werrs kafka.WriteErrors
	partial := errors.As(c.err, &werrs) && len(werrs) == len(msgs)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls--
	n := 0
	for i := range msgs {
		id := msgs[i].ID
		if f.pending[id] != c {
			continue
		}
		delete(f.pending, id)
		if (c.err == nil || partial && werrs[i] == nil) && len(f.landed) < maxLanded {
			f.landed[id] = struct{}{}
			n++
		}
	}
	return n
}

// filter returns the spooled msgs the replay must still send: it waits
// for the stragglers of any of them to settle, then drops those that
// landed. The result reuses msgs' array.
func (f *inflight) filter(ctx context.Context, msgs []record.Message) []record.Message {
	for {
		f.mu.Lock()
		var wait *produceCall
		for i := range msgs {
			if c := f.pending[msgs[i].ID]; c != nil {
				wait = c
				break
			}
		}
		if wait == nil {
			break
		}
		f.mu.Unlock()
		select {
		case <-wait.settled:
		case <-ctx.Done():
			return nil
		}
	}
	defer f.mu.Unlock()
	out := msgs[:0]
	for _, m := range msgs {
		if _, ok := f.landed[m.ID]; ok {
			delete(f.landed, m.ID)
			continue
		}
		out = append(out, m)
	}
	return out
}

// straggle takes over a live produce call still running at its records'
// delivery deadline: it spools the records (the durability promise) and
// lets the call finish; what it delivers is not replayed.
func (s *Sink) straggle(msgs []record.Message, c *produceCall) {
	n := s.inflight.add(msgs, c)
	if !s.toSpool(msgs, spoolTimeout) {
		s.inflight.forget(msgs, c)
	}
	if n > maxStragglers {
		s.unhealthy(fmt.Errorf("%d produce calls to %q unanswered past the delivery timeout", n, s.cfg.Topic))
	}
	go func() {
		<-c.done
		s.m.landed.Add(float64(s.inflight.settle(msgs, c)))
	}()
}
