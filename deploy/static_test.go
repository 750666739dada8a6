package deploy

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nonroot is the uid and gid the image runs as (distroless's nonroot).
const nonroot = 65532

// TestStaticBinaries builds alsd and dashgen with scripts/build-static,
// as the Dockerfile does, checks that they are static executables (no
// program interpreter, no shared libraries), and runs them as the image's
// non-root user in an empty root directory: no libc, no /etc, nothing but
// the binary. Building takes a minute or two on 2 cores, so it runs with
// MESHTEL_STATIC=1 (.ci/run sets it).
func TestStaticBinaries(t *testing.T) {
	if os.Getenv("MESHTEL_STATIC") == "" {
		t.Skip("set MESHTEL_STATIC=1 to build the static binaries (.ci/run does)")
	}
	out := t.TempDir()
	if b, err := exec.Command(filepath.Join("..", "scripts", "build-static"), out).CombinedOutput(); err != nil {
		t.Fatalf("scripts/build-static: %v\n%s", err, b)
	}
	for _, c := range []struct {
		bin  string
		args []string
		want string // in the output of a clean exit
	}{
		{"alsd", []string{"--help"}, "-als-addr"},
		{"alsd", []string{"aggregate", "--help"}, "-group"},
		{"dashgen", []string{"--help"}, "dashgen generate"},
	} {
		path := filepath.Join(out, c.bin)
		checkStatic(t, path)
		if ldd, err := exec.LookPath("ldd"); err == nil {
			// glibc's ldd says so and exits 1 for a static executable.
			b, _ := exec.Command(ldd, path).CombinedOutput()
			if !strings.Contains(string(b), "not a dynamic executable") {
				t.Errorf("ldd %s: %s", c.bin, b)
			}
		}
		got := runChrooted(t, path, c.args...)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s %v printed no %q:\n%s", c.bin, c.args, c.want, got)
		}
	}
}

// checkStatic fails unless path is an ELF executable with no PT_INTERP
// (dynamic loader) and no DT_NEEDED (shared library) entries.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		t.Errorf("%s: ELF type %v, want a non-PIE executable", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: has a program interpreter (dynamically linked)", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", path, libs)
	}
}

// runChrooted runs the binary as uid/gid 65532 with a root directory that
// holds only the binary, and returns its output; it fails the test unless
// the binary exits 0.
func runChrooted(t *testing.T, path string, args ...string) string {
	t.Helper()
	root := t.TempDir()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin", args...)
	cmd.Dir = "/"
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: nonroot, Gid: nonroot}}
	b, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) {
		t.Skipf("cannot chroot here (%v); the ELF checks above still ran", err)
	}
	if err != nil {
		t.Fatalf("%s %v in an empty root as uid %d: %v\n%s", filepath.Base(path), args, nonroot, err, b)
	}
	return string(b)
}
