package kafkasink

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/meshtel/meshtel/kafkasink/internal/spool"
	"github.com/meshtel/meshtel/record"
)

// Replay batch sizes: large while no live record is produced (a restart
// with a backlog, Kafka just back), small beside live traffic so that no
// partition's writer is busy with the replay for long.
const (
	replayMsgs      = 5000
	replayBytes     = 4 << 20
	replayLiveMsgs  = 1000
	replayLiveBytes = 1 << 20
)

// pacer keeps the replay below live traffic. Live records have the
// broker first: the replay waits while live produce calls are slow or live
// batches queue up, and beside live traffic it takes at most half of the
// time (it waits as long as its last batch took).
type pacer struct {
	lastLive atomic.Int64 // Unix nanoseconds when the last live produce call ended
	latency  atomic.Int64 // nanoseconds: moving average of live produce calls
}

// live records a live produce call that took d.
func (p *pacer) live(d time.Duration) {
	old := p.latency.Load()
	// One writer races another now and then: a lost update of an average
	// is harmless.
	p.latency.Store(old + (int64(d)-old)/8)
	p.lastLive.Store(time.Now().UnixNano())
}

// active reports whether live records were produced within the last second.
func (p *pacer) active() bool { return time.Now().UnixNano()-p.lastLive.Load() < int64(time.Second) }

// pressed reports whether live records need the broker's whole attention:
// their produce calls take more than a quarter of the delivery timeout, or
// more batches wait than the workers take at once.
func (s *Sink) pressed() bool {
	if !s.pace.active() {
		return false
	}
	return time.Duration(s.pace.latency.Load()) > s.cfg.DeliveryTimeout/4 || len(s.queue) > s.cfg.Workers
}

// replay delivers the spool in order, with its own writer, paced below
// live traffic, retrying with backoff while Kafka is unavailable.
func (s *Sink) replay(ctx context.Context) {
	const maxBackoff = 5 * time.Second
	backoff := 100 * time.Millisecond
	cur := s.spool.Cursor()
	var pending []record.Message
	var next spool.Cursor
	for ctx.Err() == nil {
		if pending == nil {
			pending, next = s.readSpool(ctx, &cur)
			if pending == nil {
				continue
			}
			if pending = s.inflight.filter(ctx, pending); ctx.Err() != nil {
				return
			}
			if len(pending) == 0 {
				// Their live produce calls delivered them all.
				s.commit(next)
				cur, pending = next, nil
				continue
			}
		}
		s.yield(ctx)
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.traceProduce(pctx, pending, pathReplay)
		cancel()
		if err != nil {
			sleep(ctx, backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = 100 * time.Millisecond
		s.m.replayed.Add(float64(len(pending)))
		s.commit(next)
		cur, pending = next, nil
		if s.pace.active() {
			sleep(ctx, time.Since(start))
		}
	}
}

// readSpool returns the next messages after *cur and the cursor past them,
// or nil after waiting for appends when there are none.
func (s *Sink) readSpool(ctx context.Context, cur *spool.Cursor) ([]record.Message, spool.Cursor) {
	maxMsgs, maxBytes := replayMsgs, replayBytes
	if s.pace.active() {
		maxMsgs, maxBytes = replayLiveMsgs, replayLiveBytes
	}
	msgs, n, err := s.spool.Read(*cur, maxMsgs, maxBytes)
	if err != nil {
		s.log.Error("reading spool", "err", err)
	}
	if len(msgs) > 0 {
		// Frames spooled before records had ids get theirs now.
		s.ids.Assign(msgs)
		return msgs, n
	}
	select {
	case <-s.spool.Appended():
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	if n != *cur {
		// Read skipped a corrupt tail: persist that.
		if err := s.spool.Commit(n); err != nil {
			s.log.Error("committing spool cursor", "err", err)
		}
		*cur = n
	}
	return nil, n
}

// commit records that the spool up to next is delivered.
func (s *Sink) commit(next spool.Cursor) {
	if err := s.spool.Commit(next); err != nil {
		s.log.Error("committing spool cursor", "err", err)
	}
	s.m.spoolBytes.Set(float64(s.spool.Bytes()))
}

// yield waits while live records need the broker.
func (s *Sink) yield(ctx context.Context) {
	for s.pressed() && ctx.Err() == nil {
		s.m.replayYields.Inc()
		sleep(ctx, 50*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
