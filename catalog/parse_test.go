package catalog

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bad.golden from the current output")

// TestParseFiles runs every testdata catalog: *.good.yaml must parse
// cleanly, *.bad.yaml must fail with exactly the mistakes in its .golden
// file, each at a valid position inside the file.
func TestParseFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(file, data)
			if strings.HasSuffix(file, ".good.yaml") {
				if err != nil {
					t.Fatalf("want no errors, got:\n%v", err)
				}
				if c == nil {
					t.Fatal("nil catalog without error")
				}
				return
			}
			if err == nil {
				t.Fatal("want errors, got none")
			}
			if c != nil {
				t.Error("a catalog with mistakes was returned")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want catalog.Errors: %v", err, err)
			}
			checkPositions(t, file, data, errs)
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./catalog -run TestParseFiles -update, then review the file)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// checkPositions asserts that every error names the file, is sorted, and
// points at a line and column that exist (a syntax error may point just
// past the last line).
func checkPositions(t *testing.T, file string, data []byte, errs Errors) {
	t.Helper()
	lines := yamlLines(data)
	for i, e := range errs {
		if e.Pos.File != file {
			t.Errorf("error %q names file %q, want %q", e, e.Pos.File, file)
		}
		if e.Pos.Line < 1 || e.Pos.Line > len(lines)+1 || e.Pos.Column < 1 {
			t.Errorf("error %q: position outside the file", e)
		}
		if e.Pos.Line <= len(lines) && e.Pos.Column > utf8.RuneCountInString(lines[e.Pos.Line-1])+1 {
			t.Errorf("error %q: column past the end of line %d", e, e.Pos.Line)
		}
		if e.Msg == "" || strings.Contains(e.Msg, "\n") {
			t.Errorf("error %q: want a one-line message", e)
		}
		if i > 0 {
			prev := errs[i-1].Pos
			if prev.Line > e.Pos.Line || prev.Line == e.Pos.Line && prev.Column > e.Pos.Column {
				t.Errorf("errors not sorted: %q before %q", errs[i-1], e)
			}
		}
	}
}

// yamlLines splits data at YAML line breaks (CR, LF, CRLF, NEL, LS, PS).
func yamlLines(data []byte) []string {
	norm := strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u0085", "\n", "\u2028", "\n", "\u2029", "\n").Replace(string(data))
	return strings.Split(norm, "\n")
}
