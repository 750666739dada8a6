package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestHelp pins every command's --help (testdata/*.help.golden; go test
// -update rewrites them): printed on stdout, exit 0, however asked for.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   [][]string
	}{
		{"alsd", [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}, {"--kafka-topic", "t", "--help"}}},
		{"aggregate", [][]string{{"aggregate", "--help"}, {"aggregate", "-h"}}},
		{"report", [][]string{{"report", "--help"}, {"report", "cookies", "--help"}, {"report", "slo", "-h"}}},
		{"simulate", [][]string{{"simulate", "--help"}, {"simulate", "-help"}}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			path := filepath.Join("testdata", tc.golden+".help.golden")
			for _, args := range tc.args {
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), args, &stdout, &stderr, func(string) string { return "" })
				if code != exitOK || stderr.Len() > 0 {
					t.Errorf("%q: exit %d, stderr %q; want 0 and nothing on stderr", args, code, stderr.String())
				}
				if *update {
					if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (go test ./cmd/alsd -run TestHelp -update writes it)", err)
				}
				if stdout.String() != string(want) {
					t.Errorf("%q: help differs from %s:\n%s", args, path, stdout.String())
				}
				checkHelp(t, stdout.String())
			}
		})
	}
}

var flagLine = regexp.MustCompile(`(?m)^  --([a-z-]+)( [A-Z:,.]+)?$`)

// checkHelp checks what the issue reported broken: one usage line, each
// flag once with its default at most once, a real argument name (no
// "value" or phrase), and an example.
func checkHelp(t *testing.T, help string) {
	t.Helper()
	if strings.Count(help, "Usage:") != 1 || !strings.HasPrefix(help, "Usage: alsd") {
		t.Errorf("want exactly one usage line, first")
	}
	if !strings.Contains(help, "\nExamples:\n  alsd") {
		t.Errorf("no example invocation")
	}
	seen := map[string]bool{}
	blocks := flagLine.FindAllStringSubmatchIndex(help, -1)
	for i, m := range blocks {
		name := help[m[2]:m[3]]
		if seen[name] {
			t.Errorf("--%s listed twice", name)
		}
		seen[name] = true
		end := len(help)
		if i+1 < len(blocks) {
			end = blocks[i+1][0]
		}
		if n := strings.Count(help[m[0]:end], "(default"); n > 1 {
			t.Errorf("--%s states its default %d times", name, n)
		}
		if m[4] >= 0 && strings.Contains(help[m[4]:m[5]], "VALUE") {
			t.Errorf("--%s takes an unnamed VALUE", name)
		}
	}
	if len(blocks) == 0 {
		t.Errorf("no flags listed")
	}
	if regexp.MustCompile(`(?m)^  --\S+ .* .*$`).MatchString(help) {
		t.Errorf("a flag's argument name is a phrase:\n%s", help)
	}
}

// TestUsageErrors: a usage error prints one message and, when the command
// line is at fault, where the help is, on stderr, and exits 2.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "Run 'alsd --help' for usage."},
		{[]string{"aggregate", "--nope"}, "Run 'alsd aggregate --help' for usage."},
		{[]string{"aggregate"}, "--kafka-brokers is required"},
		{[]string{"report"}, "Run 'alsd report --help' for usage."},
		{[]string{"report", "pies"}, `unknown report "pies"`},
		{[]string{"report", "slo", "--format"}, "flag needs an argument: -format"},
		{[]string{"simulate", "--rate", "fast"}, "Run 'alsd simulate --help' for usage."},
		{[]string{"simulate", "extra"}, "Run 'alsd simulate --help' for usage."},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr, func(string) string { return "" })
		if code != exitUsage || stdout.Len() > 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, stdout.String(), stderr.String(), tc.want)
		}
		if strings.Contains(stderr.String(), "Flags:") {
			t.Errorf("%q: a usage error printed the whole help", tc.args)
		}
	}
	// A catalog mistake is not the command line's: no pointer to --help.
	bad := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(bad, []byte("privacy: {max_cookie_lifetime: 13 mo}\nservices: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--catalog", bad}, &stdout, &stderr, func(string) string { return "" })
	if want := bad + ":1:32: max_cookie_lifetime \"13 mo\""; code != exitUsage || !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "--help") {
		t.Errorf("bad catalog: exit %d, stderr %q; want 2 naming %s and no pointer to --help", code, stderr.String(), want)
	}
}
