package testutil

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records what a helper reports. Fatalf ends the goroutine, as
// testing.T's does, so run calls the helper on a goroutine of its own.
type fakeTB struct {
	testing.TB // only for the methods the helpers do not call
	errors     []string
	fatals     []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// run calls fn with a fakeTB and returns it once fn has returned or
// called Fatalf. The caller checks the record on the test goroutine.
func run(t *testing.T, fn func(testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

// setUpdate runs the rest of the test as if go test had been given
// -update=v, whatever it was given.
func setUpdate(t *testing.T, v bool) {
	old := *update
	*update = v
	t.Cleanup(func() { *update = old })
}

func TestGolden(t *testing.T) {
	setUpdate(t, false)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.golden")
	if err := os.WriteFile(path, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		path       string
		got        string
		wantErrors []string // substrings, one per reported error
		wantFatal  string   // substring of the one fatal message, if any
	}{
		{name: "Equal", path: path, got: "one\ntwo\n"},
		{name: "Differs", path: path, got: "one\nthree\n", wantErrors: []string{path + " differs", "line 2", `"three\n"`, `"two\n"`, "-update"}},
		{name: "Missing", path: filepath.Join(dir, "missing.golden"), got: "x", wantFatal: "-update to create it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := run(t, func(tb testing.TB) { Golden(tb, tt.path, []byte(tt.got)) })
			if tt.wantFatal != "" {
				if len(f.fatals) != 1 || !strings.Contains(f.fatals[0], tt.wantFatal) {
					t.Errorf("got fatal %q, want one containing %q", f.fatals, tt.wantFatal)
				}
				return
			}
			if len(f.fatals) > 0 {
				t.Fatalf("got fatal %q, want none", f.fatals)
			}
			if len(tt.wantErrors) == 0 {
				if len(f.errors) > 0 {
					t.Errorf("got errors %q, want none", f.errors)
				}
				return
			}
			if len(f.errors) != 1 {
				t.Fatalf("got errors %q, want one", f.errors)
			}
			for _, s := range tt.wantErrors {
				if !strings.Contains(f.errors[0], s) {
					t.Errorf("got error %q, want it to contain %q", f.errors[0], s)
				}
			}
		})
	}
}

func TestGolden_Update(t *testing.T) {
	setUpdate(t, true)
	path := filepath.Join(t.TempDir(), "new", "dir", "b.golden")
	for _, content := range []string{"first\n", "second\n", "second\n"} {
		f := run(t, func(tb testing.TB) { Golden(tb, path, []byte(content)) })
		if len(f.errors)+len(f.fatals) > 0 {
			t.Fatalf("got %q %q, want no report with -update", f.errors, f.fatals)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("got file %q, want %q", got, content)
		}
	}
}

func TestDiff(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name      string
		got, want string
		diff      string
	}{
		{"Equal", "a\nb\n", "a\nb\n", ""},
		{"SecondLine", "a\nbc\n", "a\nbd\n",
			"first difference at line 2, byte 3 (got 5 bytes, want 5):\ngot:  \"bc\\n\"\nwant: \"bd\\n\""},
		{"GotLonger", "a\nb\n", "a\n",
			"first difference at line 2, byte 2 (got 4 bytes, want 2):\ngot:  \"b\\n\"\nwant: (end of file)"},
		{"GotShorter", "a", "a\n",
			"first difference at line 1, byte 1 (got 1 bytes, want 2):\ngot:  \"a\"\nwant: \"a\\n\""},
		{"Invisible", "a\tb", "a b",
			"first difference at line 1, byte 1 (got 3 bytes, want 3):\ngot:  \"a\\tb\"\nwant: \"a b\""},
		{"LongLine", long + "1", long + "2",
			fmt.Sprintf("first difference at line 1, byte 300 (got 301 bytes, want 301):\ngot:  %q…\nwant: %q…", long[:maxQuote], long[:maxQuote])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := diff([]byte(tt.got), []byte(tt.want)); got != tt.diff {
				t.Errorf("got\n%s\nwant\n%s", got, tt.diff)
			}
		})
	}
}

func TestGzip(t *testing.T) {
	for _, p := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte("wpt "), 10000)} {
		z := Gzip(t, p)
		if len(z) < 2 || z[0] != 0x1f || z[1] != 0x8b {
			t.Fatalf("Gzip(%d bytes) = %x…, want the gzip magic", len(p), z[:min(len(z), 4)])
		}
		if got := Gunzip(t, z); !bytes.Equal(got, p) {
			t.Errorf("Gunzip(Gzip(%d bytes)) = %d bytes, want the input", len(p), len(got))
		}
	}
	// Every member of a multi-member stream.
	if got := Gunzip(t, append(Gzip(t, []byte("a")), Gzip(t, []byte("b"))...)); string(got) != "ab" {
		t.Errorf("got %q from two members, want \"ab\"", got)
	}
}

func TestGunzip_Invalid(t *testing.T) {
	z := Gzip(t, []byte("hello, world"))
	for name, p := range map[string][]byte{
		"NotGzip":   []byte("hello"),
		"Truncated": z[:len(z)-4],
	} {
		t.Run(name, func(t *testing.T) {
			f := run(t, func(tb testing.TB) { Gunzip(tb, p) })
			if len(f.fatals) != 1 || !strings.HasPrefix(f.fatals[0], "testutil: gunzip: ") {
				t.Errorf("got fatal %q, want one testutil: gunzip error", f.fatals)
			}
		})
	}
}
