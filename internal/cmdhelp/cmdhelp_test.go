package cmdhelp

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

// size is a flag.Value whose zero String differs from its default, like
// alsd's byte sizes: the flag package would print its default.
type size int64

func (s *size) String() string   { return map[bool]string{true: "8KiB", false: "0"}[*s == 8192] }
func (s *size) Set(string) error { return nil }

func testFlags(out *bytes.Buffer) *flag.FlagSet {
	fs := flag.NewFlagSet("tool sub", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.String("addr", "127.0.0.1:9102", "listen `address`")
	fs.Bool("compute", true, "compute here; false: leave it to `tool aggregate`")
	fs.Bool("verbose", false, "say more")
	fs.Duration("idle", 10*time.Minute, "close after this long")
	fs.Duration("grace", time.Hour, "wait this long")
	fs.Int("n", 0, "how many; 0: no limit")
	hb := size(8192)
	fs.Var(&hb, "max-bytes", "bytes kept, a `size` such as 8KiB")
	fs.String("catalog", "", "catalog `file` to read, read in full before anything starts, every key checked, every mistake reported with its position")
	h := Help{Usage: "tool sub [flags]", Text: "Does things.\n", FlagNote: "Each flag is also TOOL_<NAME>.", Examples: []string{"tool sub --addr :1"}}
	fs.Usage = Func(fs, h)
	return fs
}

const wantHelp = `Usage: tool sub [flags]

Does things.

Flags:
  --addr ADDRESS
      listen address (default 127.0.0.1:9102)
  --catalog FILE
      catalog file to read, read in full before anything starts, every key
      checked, every mistake reported with its position
  --compute
      compute here; false: leave it to tool aggregate (default true)
  --grace DURATION
      wait this long (default 1h)
  --idle DURATION
      close after this long (default 10m)
  --max-bytes SIZE
      bytes kept, a size such as 8KiB (default 8KiB)
  --n N
      how many; 0: no limit
  --verbose
      say more

Each flag is also TOOL_<NAME>.

Examples:
  tool sub --addr :1
`

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var out bytes.Buffer
		err := Parse(testFlags(&out), []string{"--addr", ":1", arg})
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: err = %v, want flag.ErrHelp", arg, err)
		}
		if got := out.String(); got != wantHelp {
			t.Errorf("%s: help:\n%s\nwant:\n%s", arg, got, wantHelp)
		}
	}
}

func TestParseErrorsPrintNothing(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"--idle", "soon"}, {"--n"}} {
		var out bytes.Buffer
		fs := testFlags(&out)
		err := Parse(fs, args)
		if err == nil || errors.Is(err, flag.ErrHelp) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
		if out.Len() > 0 {
			t.Errorf("%q: printed %q; the caller reports the error", args, out.String())
		}
		if fs.Output() != &out {
			t.Errorf("%q: output not restored", args)
		}
	}
}

func TestWrapLongWord(t *testing.T) {
	long := strings.Repeat("x", 100)
	if got := wrap("a "+long+" b", "  "); got != "  a\n  "+long+"\n  b\n" {
		t.Errorf("wrap = %q", got)
	}
}
