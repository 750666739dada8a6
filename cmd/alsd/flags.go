package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/units"

	"github.com/meshtel/meshtel/internal/cmdhelp"
)

// byteSize is a flag value in bytes: a whole number of bytes ("65536") or
// a size as github.com/alecthomas/units reads it, "8KiB", "4MiB", "1.5GiB"
// (powers of 1024) or "512KB", "1GB" (powers of 1000).
type byteSize int64

// maxByteSize bounds sizes well inside int64, where the units package's
// float arithmetic is exact enough.
const maxByteSize = 1 << 62

// Set parses s. Negative sizes are refused; so are NaN, Inf and unknown
// units, which the units package rejects (it takes only digits and units).
func (b *byteSize) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		n, err = units.ParseStrictBytes(s)
	}
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a size (examples: 1GiB, 4MiB, 8KiB, 512KB, 65536)", s)
	case strings.HasPrefix(s, "-") && n != 0:
		return fmt.Errorf("%q is negative; a size is 0 or more bytes", s)
	case n < 0 || n > maxByteSize: // n < 0: 8EiB wrapped around
		return fmt.Errorf("%q is too large (at most 4EiB)", s)
	}
	*b = byteSize(n)
	return nil
}

// String prints the size in the largest binary unit that divides it.
func (b *byteSize) String() string {
	v := int64(*b)
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.m && v%u.m == 0 {
			return strconv.FormatInt(v/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(v, 10)
}

// listFlag collects a comma-separated list; the flag may also repeat.
type listFlag []string

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// parseFlags parses args, then fills every flag not given on the command
// line from its ALSD_<NAME> environment variable (--kafka-brokers from
// ALSD_KAFKA_BROKERS). Errors name the flag or variable and exit 2; for
// -h, -help and --help it writes fs's help (withHelp) to fs.Output() and
// returns flag.ErrHelp (exit 0).
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := cmdhelp.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{commandLineError{err}}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "ALSD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = usageError{commandLineError{fmt.Errorf("invalid value %q for %s: %w", v, env, serr)}}
			}
		}
	})
	return err
}

// noArgs refuses positional arguments where a command takes none.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return usageError{commandLineError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}}
	}
	return nil
}
