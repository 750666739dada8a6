package ingestid

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/meshtel/meshtel/record"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func open(t *testing.T, dir string, block uint64) *Allocator {
	t.Helper()
	a, err := Open(Config{Dir: dir, Block: block, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func batch(keys ...string) []record.Message {
	msgs := make([]record.Message, len(keys))
	for i, k := range keys {
		msgs[i].Key = []byte(k)
	}
	return msgs
}

func persisted(t *testing.T, dir string) uint64 {
	t.Helper()
	n, err := readSequence(filepath.Join(dir, SequenceFile))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Ids are unique and increasing within a run and across restarts on the
// same directory, the ingester id stays, and the reserved limit on disk is
// always past every number handed out.
func TestUniqueAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	seen := map[record.ID]bool{}
	var ingester string
	var last uint64
	for run := range 4 {
		a := open(t, dir, 7)
		if run == 0 {
			ingester = a.Ingester()
			if err := record.CheckIngester(ingester); err != nil {
				t.Fatal(err)
			}
		} else if a.Ingester() != ingester {
			t.Fatalf("run %d: ingester %q, was %q", run, a.Ingester(), ingester)
		}
		for range 5 {
			msgs := batch("web", "api", "web")
			a.Assign(msgs)
			for _, m := range msgs {
				if seen[m.ID] || m.ID.Ingester != ingester || m.ID.Seq <= last {
					t.Fatalf("run %d: id %v repeats or goes back (last %d)", run, m.ID, last)
				}
				seen[m.ID] = true
				last = m.ID.Seq
				if p := persisted(t, dir); p <= last {
					t.Fatalf("run %d: handed out %d with only %d reserved on disk", run, last, p)
				}
			}
		}
		// No Close: a SIGKILL leaves the directory as it is now.
	}
	raw, err := os.ReadFile(filepath.Join(dir, IngesterFile))
	if err != nil || strings.TrimSpace(string(raw)) != ingester {
		t.Errorf("%s = %q, %v", IngesterFile, raw, err)
	}
}

// Prev links each message to the previous one of its key, in the order
// they were assigned, starting again (0) after a restart; messages that
// have an ID keep it.
func TestChain(t *testing.T) {
	dir := t.TempDir()
	a := open(t, dir, 0)
	msgs := batch("web", "api", "web", "web", "api")
	a.Assign(msgs)
	want := []uint64{0, 0, msgs[0].ID.Seq, msgs[2].ID.Seq, msgs[1].ID.Seq}
	for i, m := range msgs {
		if m.Prev != want[i] {
			t.Errorf("msg %d (%s, %d): prev %d, want %d", i, m.Key, m.ID.Seq, m.Prev, want[i])
		}
	}
	kept := batch("web", "web")
	kept[0].ID, kept[0].Prev = record.ID{Ingester: "other", Seq: 9}, 3
	a.Assign(kept)
	if kept[0].ID.Ingester != "other" || kept[0].ID.Seq != 9 || kept[0].Prev != 3 {
		t.Errorf("an assigned message was renumbered: %+v", kept[0])
	}
	if kept[1].Prev != msgs[3].ID.Seq {
		t.Errorf("prev %d, want %d (the last web message assigned here)", kept[1].Prev, msgs[3].ID.Seq)
	}
	b := open(t, dir, 0)
	again := batch("web")
	b.Assign(again)
	if again[0].Prev != 0 {
		t.Errorf("first message after a restart has prev %d, want 0", again[0].Prev)
	}
}

// Past MaxKeys the chains start again rather than grow without bound.
func TestMaxKeys(t *testing.T) {
	a, err := Open(Config{Dir: t.TempDir(), MaxKeys: 3, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a.Assign(batch("a", "b", "c"))
	msgs := batch("d", "a")
	a.Assign(msgs)
	if msgs[1].Prev != 0 {
		t.Errorf("prev of a after the chains were reset = %d, want 0", msgs[1].Prev)
	}
	if len(a.last) > 3 {
		t.Errorf("%d keys remembered, want at most 3", len(a.last))
	}
}

// A sequence that cannot be trusted gets a new ingester id; an ingester
// id file that is not one is an error naming it.
func TestUntrustedFiles(t *testing.T) {
	t.Run("sequence missing", func(t *testing.T) {
		dir := t.TempDir()
		old := open(t, dir, 0).Ingester()
		if err := os.Remove(filepath.Join(dir, SequenceFile)); err != nil {
			t.Fatal(err)
		}
		if got := open(t, dir, 0).Ingester(); got == old {
			t.Errorf("kept ingester %q without its sequence", got)
		}
	})
	t.Run("sequence corrupt", func(t *testing.T) {
		dir := t.TempDir()
		old := open(t, dir, 0).Ingester()
		if err := os.WriteFile(filepath.Join(dir, SequenceFile), []byte("12x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := open(t, dir, 0).Ingester(); got == old {
			t.Errorf("kept ingester %q with a corrupt sequence", got)
		}
	})
	t.Run("ingester id invalid", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, IngesterFile), []byte("not:valid\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(Config{Dir: dir, Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), IngesterFile) {
			t.Errorf("Open: %v, want an error naming %s", err, IngesterFile)
		}
	})
}

// When a block cannot be reserved, ids stay unique: the allocator moves
// to a new ingester id rather than hand out unreserved numbers.
func TestReserveFails(t *testing.T) {
	dir := t.TempDir()
	a := open(t, dir, 2)
	first := batch("web", "web")
	a.Assign(first)
	// A directory in the sequence file's place: the rename fails.
	seq := filepath.Join(dir, SequenceFile)
	if err := os.Remove(seq); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(seq, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	more := batch("web", "web", "web")
	a.Assign(more)
	for _, m := range more {
		if m.ID.Ingester == first[0].ID.Ingester {
			t.Fatalf("id %v handed out under the old ingester without a reservation", m.ID)
		}
	}
	if more[0].Prev != 0 || more[1].Prev != more[0].ID.Seq {
		t.Errorf("chain of the new ingester: %d, %d", more[0].Prev, more[1].Prev)
	}
	if strconv.FormatUint(more[2].ID.Seq, 10) != "3" {
		t.Errorf("new ingester numbers from 1: got %d for the third", more[2].ID.Seq)
	}
}
