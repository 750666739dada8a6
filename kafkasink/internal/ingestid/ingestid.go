// Package ingestid gives every record an ingester accepts its identity
// (record.ID, the meshtel-id header of SPEC §2) and its link to the
// previous record of the same key (the meshtel-prev header).
//
// The ingester id is made once per state directory and kept there. The
// sequence counts records in acceptance order; numbers are reserved on disk
// a block at a time, as Kafka's controller hands out producer-id blocks, so
// a restart starts after the last reserved block and never reuses one: the
// sequence has gaps, never repeats. The key chain is not persisted: the
// first record of a key after a start has no predecessor.
//
// It does not lock the directory: two processes sharing a state directory
// would issue the same ids.
package ingestid

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/meshtel/meshtel/internal/atomicfile"
	"github.com/meshtel/meshtel/record"
)

// File names in Config.Dir.
const (
	IngesterFile = "ingester-id"
	SequenceFile = "sequence"
)

// Defaults of Config.
const (
	DefaultBlock   = 1 << 20
	DefaultMaxKeys = 1 << 16
)

// Config configures an Allocator.
type Config struct {
	// Dir holds IngesterFile and SequenceFile. Required; created if absent.
	Dir string
	// Block is how many sequence numbers one reservation covers: one
	// synced file write per Block records, and at most Block numbers
	// skipped by a restart. Default DefaultBlock.
	Block uint64
	// MaxKeys bounds the keys whose last sequence is remembered for the
	// chain; past it the chains start again (each key's next record has
	// no predecessor). Default DefaultMaxKeys.
	MaxKeys int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Allocator assigns record IDs. It is safe for concurrent use.
type Allocator struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	ingester string
	next     uint64 // the next sequence to assign
	limit    uint64 // first sequence not reserved on disk
	last     map[string]uint64
}

// Open reads or creates the ingester id and the reserved sequence in
// cfg.Dir and reserves the first block. A sequence file that is missing
// while the id exists, or that cannot be read, gets a new ingester id:
// starting its sequence again under the old one could reuse numbers.
func Open(cfg Config) (*Allocator, error) {
	if cfg.Dir == "" {
		return nil, errors.New("ingester id: no directory")
	}
	if cfg.Block == 0 {
		cfg.Block = DefaultBlock
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Allocator{cfg: cfg, log: cfg.Logger, last: map[string]uint64{}}
	id, next, err := a.load()
	if err != nil {
		return nil, err
	}
	a.ingester, a.next, a.limit = id, next, next
	if err := a.reserve(0); err != nil {
		return nil, fmt.Errorf("ingester id: %w", err)
	}
	return a, nil
}

// load returns the ingester id and its first unreserved sequence, making
// and saving a new id when there is none (or none that can be trusted).
func (a *Allocator) load() (string, uint64, error) {
	idPath := filepath.Join(a.cfg.Dir, IngesterFile)
	raw, err := os.ReadFile(idPath)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(raw))
		if err := record.CheckIngester(id); err != nil {
			return "", 0, fmt.Errorf("%s: %w (delete the file to make a new one)", idPath, err)
		}
		next, serr := readSequence(filepath.Join(a.cfg.Dir, SequenceFile))
		if serr == nil {
			return id, next, nil
		}
		a.log.Warn("the sequence of this ingester id cannot be trusted; making a new ingester id so that no sequence number is reused",
			"old_ingester", id, "err", serr)
	case errors.Is(err, os.ErrNotExist):
	default:
		return "", 0, fmt.Errorf("ingester id: %w", err)
	}
	id, err := newIngester()
	if err != nil {
		return "", 0, err
	}
	// The sequence goes first: an id on disk without its sequence would be
	// replaced at the next start.
	if err := a.writeSequence(1); err != nil {
		return "", 0, fmt.Errorf("ingester id: %w", err)
	}
	if err := atomicfile.Write(idPath, []byte(id+"\n"), 0o755); err != nil {
		return "", 0, fmt.Errorf("ingester id: write %s: %w", idPath, err)
	}
	a.log.Info("new ingester id", "ingester", id, "file", idPath)
	return id, 1, nil
}

func readSequence(path string) (uint64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%s: %q is not a sequence number", path, raw)
	}
	return n, nil
}

func (a *Allocator) writeSequence(limit uint64) error {
	path := filepath.Join(a.cfg.Dir, SequenceFile)
	if err := atomicfile.Write(path, []byte(strconv.FormatUint(limit, 10)+"\n"), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// newIngester returns a random ingester id: 16 hex digits, 64 bits, so
// that ids made apart from each other do not collide.
func newIngester() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("ingester id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// reserve makes room for n more numbers after next, a block at a time,
// and persists the new limit before any of them is handed out.
func (a *Allocator) reserve(n uint64) error {
	if a.next+n <= a.limit && n > 0 {
		return nil
	}
	limit := a.next + max(n, a.cfg.Block)
	if err := a.writeSequence(limit); err != nil {
		return err
	}
	a.limit = limit
	return nil
}

// Ingester returns the ingester id in use.
func (a *Allocator) Ingester() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ingester
}

// Assign gives each message of msgs without an ID the next sequence
// number, in order, and links it to the previous message of its key. When
// a block cannot be reserved (the disk failed), the allocator moves to a
// new ingester id kept in memory only: its numbers cannot collide with
// anything persisted, so uniqueness holds without the disk.
func (a *Allocator) Assign(msgs []record.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.reserve(uint64(len(msgs))); err != nil {
		a.rotate(err)
	}
	for i := range msgs {
		m := &msgs[i]
		if !m.ID.IsZero() {
			continue
		}
		m.ID = record.ID{Ingester: a.ingester, Seq: a.next}
		a.next++
		prev, ok := a.last[string(m.Key)]
		if !ok && len(a.last) >= a.cfg.MaxKeys {
			clear(a.last)
		}
		m.Prev = prev
		a.last[string(m.Key)] = m.ID.Seq
	}
}

func (a *Allocator) rotate(cause error) {
	id, err := newIngester()
	if err != nil {
		// No randomness either: keep numbering past the limit and say so.
		a.log.Error("cannot reserve record sequence numbers; a restart may reuse some", "err", errors.Join(cause, err))
		a.limit = math.MaxUint64
		return
	}
	a.log.Error("cannot reserve record sequence numbers on disk; using a new ingester id for the rest of this run",
		"old_ingester", a.ingester, "ingester", id, "err", cause)
	a.ingester, a.next, a.limit = id, 1, math.MaxUint64
	clear(a.last)
}
