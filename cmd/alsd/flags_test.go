package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestByteSize(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"65536", 65536}, {"100B", 100}, {"8KiB", 8 << 10}, {"4MiB", 4 << 20}, {"1GiB", 1 << 30},
		{"1.5GiB", 3 << 29}, {"2TiB", 2 << 40}, {"512KB", 512000}, {"512kB", 512000}, {"1GB", 1e9},
		{"+1KiB", 1024}, {"1GiB512MiB", 3 << 29}, {"4EiB", 4 << 60}, {"-0", 0},
	}
	for _, tc := range good {
		var b byteSize
		if err := b.Set(tc.in); err != nil || int64(b) != tc.want {
			t.Errorf("Set(%q) = %d, %v; want %d", tc.in, b, err, tc.want)
		}
	}
	bad := []struct{ in, msg string }{
		{"NaN", "not a size"}, {"nan", "not a size"}, {"Inf", "not a size"}, {"+Inf", "not a size"},
		{"-Inf", "not a size"}, {"infinity", "not a size"}, {"-1", "negative"}, {"-1KiB", "negative"},
		{"8 KiB", "not a size"}, {"8kib", "not a size"}, {"8XB", "not a size"}, {"lots", "not a size"},
		{"", "not a size"}, {"1e3", "not a size"}, {"0x10", "not a size"}, {"KiB", "not a size"},
		{"1KiB1", "not a size"}, {"9EiB", "not a size"}, {"8EiB", "too large"}, {"5EiB", "too large"}, {"99999999999999999999", "not a size"},
	}
	for _, tc := range bad {
		b := byteSize(42)
		err := b.Set(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Set(%q) = %v, want an error saying %q", tc.in, err, tc.msg)
		}
		if b != 42 {
			t.Errorf("Set(%q) changed the value to %d", tc.in, b)
		}
	}
	for in, want := range map[int64]string{0: "0", 1000: "1000", 8 << 10: "8KiB", 3 << 29: "1536MiB", 1 << 40: "1TiB"} {
		if got := (*byteSize)(&in).String(); got != want {
			t.Errorf("String(%d) = %q, want %q", in, got, want)
		}
	}
}

// TestSizeFlagErrors: every size flag, on the command line or from the
// environment, refuses a bad value with exit 2 and a message naming it.
func TestSizeFlagErrors(t *testing.T) {
	for _, flagName := range []string{"spool-max-bytes", "max-message-bytes", "max-header-bytes"} {
		env := "ALSD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
		for _, v := range []string{"NaN", "Inf", "-1MiB", "12parsecs"} {
			for _, tc := range []struct {
				args   []string
				env    map[string]string
				naming string
			}{
				{[]string{"--" + flagName, v}, nil, "-" + flagName},
				{nil, map[string]string{env: v}, env},
			} {
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), tc.args, &stdout, &stderr, func(k string) string { return tc.env[k] })
				if code != exitUsage || !strings.Contains(stderr.String(), tc.naming) || !strings.Contains(stderr.String(), v) {
					t.Errorf("%s=%s (%s): exit %d, stderr %q; want 2 naming %s and the value", flagName, v, tc.naming, code, stderr.String(), tc.naming)
				}
			}
		}
	}
}

// FuzzByteSize: Set never panics, accepts only sizes from 0 to 4EiB, leaves
// the value alone when it refuses, and what String prints reads back.
func FuzzByteSize(f *testing.F) {
	for _, s := range []string{"8KiB", "1.5GiB", "512KB", "65536", "NaN", "-1", "1KiB1", "4EiB", "0.5B", "+Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := byteSize(42)
		if err := b.Set(s); err != nil {
			if b != 42 {
				t.Fatalf("refused %q but set %d", s, b)
			}
			return
		}
		if b < 0 || b > maxByteSize {
			t.Fatalf("accepted %q as %d", s, b)
		}
		var back byteSize
		if err := back.Set(b.String()); err != nil || back != b {
			t.Fatalf("%q: %d prints as %q, which reads back as %d, %v", s, b, b.String(), back, err)
		}
	})
}
