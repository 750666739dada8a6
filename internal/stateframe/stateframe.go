// Package stateframe is the checkpoint file format the SLI and the edge
// state share: a magic line with the version, a line with the CRC-32C and
// the length of the body, then the body, the state as JSON. The checksum
// and the length tell a torn or damaged file from an old one; writing it
// safely is package atomicfile's job (ReadFile and WriteFile use it).
package stateframe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"

	"github.com/meshtel/meshtel/internal/atomicfile"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Format names one kind of checkpoint.
type Format struct {
	// Name is the state's name in the magic line ("meshtel-<Name>-state
	// v<Version>") and in error messages ("sli").
	Name    string
	Version int
	// Corrupt is wrapped by every error about a damaged file, so callers
	// can tell damage (start empty, keep the file aside) from other errors.
	Corrupt error
}

func (f Format) magic() string { return "meshtel-" + f.Name + "-state v" }

// Marshal encodes v in the checkpoint format.
func (f Format) Marshal(v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s state: %w", f.Name, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s%d\ncrc32c=%08x bytes=%d\n", f.magic(), f.Version, crc32.Checksum(body, castagnoli), len(body))
	b.Write(body)
	return b.Bytes(), nil
}

// Unmarshal decodes data into v. Damage of any kind is an error wrapping
// f.Corrupt; another version is an error that does not.
func (f Format) Unmarshal(data []byte, v any) error {
	br := bufio.NewReader(bytes.NewReader(data))
	magic, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(magic, f.magic()) {
		return fmt.Errorf("%w: not an %s state file", f.Corrupt, f.Name)
	}
	var version int
	if _, err := fmt.Sscanf(magic[len(f.magic()):], "%d\n", &version); err != nil {
		return fmt.Errorf("%w: bad version line %q", f.Corrupt, strings.TrimSpace(magic))
	}
	if version != f.Version {
		return fmt.Errorf("%s state version %d is not supported (want %d)", f.Name, version, f.Version)
	}
	var sum uint32
	var n int
	head, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("%w: truncated header", f.Corrupt)
	}
	if _, err := fmt.Sscanf(head, "crc32c=%08x bytes=%d\n", &sum, &n); err != nil {
		return fmt.Errorf("%w: bad checksum line %q", f.Corrupt, strings.TrimSpace(head))
	}
	body, err := io.ReadAll(br)
	if err != nil || len(body) != n {
		return fmt.Errorf("%w: body is %d bytes, header says %d", f.Corrupt, len(body), n)
	}
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return fmt.Errorf("%w: checksum %08x, header says %08x", f.Corrupt, got, sum)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %w", f.Corrupt, err)
	}
	return nil
}

// ReadFile reads the checkpoint file at path into v. A missing file is an
// error wrapping fs.ErrNotExist; a damaged one wraps f.Corrupt.
func (f Format) ReadFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s state: %w", f.Name, err)
	}
	if err := f.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s state %q: %w", f.Name, path, err)
	}
	return nil
}

// WriteFile replaces path with v's checkpoint atomically (package
// atomicfile): a crash leaves the old or the new checkpoint, never a mix.
func (f Format) WriteFile(path string, v any) error {
	data, err := f.Marshal(v)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, data, 0o755); err != nil {
		return fmt.Errorf("%s checkpoint %q: %w", f.Name, path, err)
	}
	return nil
}
