package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.help.golden from the current output")

// TestHelp pins each command's --help (testdata/*.help.golden; go test
// -update rewrites them): on stdout, exit 0, however asked for.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   [][]string
	}{
		{"dashgen", [][]string{{"--help"}, {"-h"}, {"help"}}},
		{"check", [][]string{{"check", "--help"}, {"check", "-h"}}},
		{"generate", [][]string{{"generate", "--help"}, {"generate", "--catalog", "x.yaml", "-help"}}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			path := filepath.Join("testdata", tc.golden+".help.golden")
			for _, args := range tc.args {
				code, stdout, stderr := runCLI(args...)
				if code != exitOK || stderr != "" {
					t.Errorf("%q: exit %d, stderr %q; want 0 and nothing on stderr", args, code, stderr)
				}
				if *update {
					if err := os.WriteFile(path, []byte(stdout), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (go test ./cmd/dashgen -run TestHelp -update writes it)", err)
				}
				if stdout != string(want) {
					t.Errorf("%q: help differs from %s:\n%s", args, path, stdout)
				}
				if strings.Count(stdout, "Usage:") != 1 || !strings.Contains(stdout, "\nExamples:\n  dashgen ") {
					t.Errorf("%q: want one usage line and an example", args)
				}
			}
		})
	}
}

var flagBlock = regexp.MustCompile(`(?m)^  --([a-z-]+)(?: ([A-Z:]+))?\n((?:      .*\n)+)`)

// TestGenerateHelpFlags: every flag of generate is listed once, names its
// argument and states its default at most once.
func TestGenerateHelpFlags(t *testing.T) {
	_, help, _ := runCLI("generate", "--help")
	seen := map[string]int{}
	for _, m := range flagBlock.FindAllStringSubmatch(help, -1) {
		seen[m[1]]++
		if m[2] == "" || m[2] == "VALUE" || m[2] == "STRING" {
			t.Errorf("--%s: argument name %q", m[1], m[2])
		}
		if n := strings.Count(m[3], "(default"); n > 1 {
			t.Errorf("--%s states its default %d times", m[1], n)
		}
	}
	for _, f := range []string{"catalog", "out", "grafana-url", "prometheus-url", "dashboards-path", "als-address", "als-cluster", "alsd-job", "aggregator-lag-threshold"} {
		if seen[f] != 1 {
			t.Errorf("--%s listed %d times", f, seen[f])
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Run 'dashgen --help' for usage."},
		{[]string{"lint"}, "Run 'dashgen --help' for usage."},
		{[]string{"check"}, "Run 'dashgen check --help' for usage."},
		{[]string{"check", "--strict", "mesh.yaml"}, "flag provided but not defined: -strict"},
		{[]string{"generate", "--nope"}, "Run 'dashgen generate --help' for usage."},
		{[]string{"generate", "--out", "x"}, "--catalog and --out are required"},
	} {
		code, stdout, stderr := runCLI(tc.args...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "Flags:") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and only %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}
