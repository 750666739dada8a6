// Package cmdhelp writes the --help text of meshtel's commands (alsd,
// dashgen and their subcommands) in one layout — one usage line, what the
// command does, reads and prints, each flag once with its default once, and
// examples — and parses flags without printing, so that a usage error is
// reported once, by the command, and exits 2 while --help exits 0.
//
// It holds no flags and no command: each command defines its own flag.FlagSet
// and Help. It deliberately does not group, hide or reorder flags: they are
// listed in name order, as the flag package visits them.
package cmdhelp

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Help is what a command's --help prints around its flags.
type Help struct {
	// Usage is the one usage line, without "Usage: ":
	// "alsd report cookies|slo [flags]".
	Usage string
	// Text says what the command does, what it reads and what it prints,
	// in paragraphs as they are to be printed (already wrapped).
	Text string
	// FlagNote follows the flags, e.g. the environment variables that
	// also set them. It is wrapped to the help's width.
	FlagNote string
	// Examples are invocations, one per line.
	Examples []string
}

// width is the column help text is wrapped at.
const width = 80

// Func returns a flag.FlagSet Usage function writing h and fs's flags to
// fs.Output(); Parse calls it for -h, -help and --help only.
func Func(fs *flag.FlagSet, h Help) func() {
	return func() { _ = h.Write(fs.Output(), fs) }
}

// Parse parses args into fs and prints nothing on a usage error: the
// error is returned for the caller to report once. When args ask for help
// (-h, -help, --help) it calls fs.Usage, which Func makes write the help to
// fs.Output(), and returns flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string) error {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		if usage == nil {
			fs.PrintDefaults()
		} else {
			usage()
		}
	}
	return err
}

// Write writes the help: the usage line, the text, the flags of fs, the
// flag note and the examples, each block after a blank line.
func (h Help) Write(w io.Writer, fs *flag.FlagSet) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s\n", h.Usage)
	if t := strings.TrimSpace(h.Text); t != "" {
		fmt.Fprintf(&b, "\n%s\n", t)
	}
	var flags strings.Builder
	fs.VisitAll(func(f *flag.Flag) { writeFlag(&flags, f) })
	if flags.Len() > 0 {
		fmt.Fprintf(&b, "\nFlags:\n%s", flags.String())
	}
	if h.FlagNote != "" {
		b.WriteString("\n" + wrap(h.FlagNote, ""))
	}
	if len(h.Examples) > 0 {
		b.WriteString("\nExamples:\n")
		for _, e := range h.Examples {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeFlag writes "  --name ARG" and, indented below, the usage with the
// default appended once.
func writeFlag(b *strings.Builder, f *flag.Flag) {
	arg, usage := ArgName(f)
	b.WriteString("  --" + f.Name)
	if arg != "" {
		b.WriteString(" " + arg)
	}
	b.WriteByte('\n')
	if d := Default(f); d != "" {
		usage += " (default " + d + ")"
	}
	b.WriteString(wrap(usage, "      "))
}

// ArgName returns the name of f's argument, as the flag package's
// UnquoteUsage finds it (the first `quoted` word of the usage, else the
// value's type) but upper-cased, and the usage without the back quotes. A
// boolean flag takes no argument, whatever its usage quotes.
func ArgName(f *flag.Flag) (arg, usage string) {
	name, usage := flag.UnquoteUsage(f)
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "", usage
	}
	switch name {
	case "int", "uint", "float":
		name = "n"
	}
	return strings.ToUpper(name), usage
}

// Default returns f's default as help shows it, or "" when it is the zero
// value (false, 0, empty), which help leaves out. Durations drop zero
// trailing units: 10m, not 10m0s.
func Default(f *flag.Flag) string {
	d := f.DefValue
	if g, ok := f.Value.(flag.Getter); ok {
		if _, ok := g.Get().(time.Duration); ok {
			if strings.HasSuffix(d, "m0s") {
				d = strings.TrimSuffix(d, "0s")
			}
			if strings.HasSuffix(d, "h0m") {
				d = strings.TrimSuffix(d, "0m")
			}
		}
	}
	switch d {
	case "", "0", "0s", "false":
		return ""
	}
	return d
}

// wrap breaks text into lines of at most width columns (longer words stay
// whole), each starting with indent, each ending with a newline.
func wrap(text, indent string) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if line != indent && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
	return b.String()
}
