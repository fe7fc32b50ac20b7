package reportgen

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/wptfeed/wptfeed/internal/testutil"
)

// wptreport is the subset of the wptreport format the tests check, decoded
// with encoding/json independently of the generator.
type wptreport struct {
	RunInfo   map[string]any `json:"run_info"`
	TimeStart int64          `json:"time_start"`
	TimeEnd   int64          `json:"time_end"`
	Results   []result       `json:"results"`
	Subsuites map[string]any `json:"subsuites"`
}

type result struct {
	Test              string    `json:"test"`
	Subsuite          *string   `json:"subsuite"`
	Status            string    `json:"status"`
	Message           *string   `json:"message"`
	Duration          *int64    `json:"duration"`
	Expected          string    `json:"expected"`
	KnownIntermittent []string  `json:"known_intermittent"`
	Subtests          []subtest `json:"subtests"`
}

type subtest struct {
	Name              string   `json:"name"`
	Status            string   `json:"status"`
	Message           *string  `json:"message"`
	Expected          string   `json:"expected"`
	KnownIntermittent []string `json:"known_intermittent"`
}

func mustWrite(tb testing.TB, cfg Config, shard int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, cfg, shard); err != nil {
		tb.Fatalf("Write(shard %d): %v", shard, err)
	}
	return buf.Bytes()
}

func mustDecode(tb testing.TB, data []byte) *wptreport {
	tb.Helper()
	if !json.Valid(data) {
		tb.Fatalf("output is not valid JSON")
	}
	var r wptreport
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		tb.Fatalf("decode: %v", err)
	}
	return &r
}

func TestWrite_Deterministic(t *testing.T) {
	cfg := Config{Seed: 7, Scale: 0.02, Shards: 3}
	for shard := range 3 {
		a, b := mustWrite(t, cfg, shard), mustWrite(t, cfg, shard)
		if !bytes.Equal(a, b) {
			t.Fatalf("shard %d: two writes of the same Config differ", shard)
		}
	}
	other := cfg
	other.Seed = 8
	if bytes.Equal(mustWrite(t, cfg, 0), mustWrite(t, other, 0)) {
		t.Errorf("seeds 7 and 8 give the same output")
	}
}

func TestWrite_ValidJSON(t *testing.T) {
	statuses := map[string]bool{}
	for _, s := range statusNames {
		statuses[s] = true
	}
	subStatuses := map[string]bool{}
	for _, s := range subtestStatusNames {
		subStatuses[s] = true
	}
	cfg := Config{Seed: 3, Scale: 0.05, Shards: 4}
	var runInfo map[string]any
	seen := map[string]bool{}
	var nonASCII, quotes, backslashes, controls, messages, expected int
	for shard := range cfg.Shards {
		data := mustWrite(t, cfg, shard)
		for _, c := range data {
			if c >= utf8.RuneSelf {
				t.Fatalf("shard %d: non-ASCII byte %#x in default (escaped) output", shard, c)
			}
		}
		r := mustDecode(t, data)
		if runInfo == nil {
			runInfo = r.RunInfo
		} else if !mapsEqualJSON(t, runInfo, r.RunInfo) {
			t.Errorf("shard %d: run_info differs from shard 0", shard)
		}
		if r.TimeStart <= 0 || r.TimeEnd < r.TimeStart {
			t.Errorf("shard %d: time_start %d, time_end %d", shard, r.TimeStart, r.TimeEnd)
		}
		if len(r.Results) == 0 {
			t.Fatalf("shard %d: no results", shard)
		}
		for _, res := range r.Results {
			if seen[res.Test] {
				t.Errorf("test %q appears twice", res.Test)
			}
			seen[res.Test] = true
			if res.Subsuite == nil || *res.Subsuite != "" || res.Duration == nil || res.KnownIntermittent == nil {
				t.Errorf("%s: missing subsuite, duration or known_intermittent", res.Test)
			}
			if !statuses[res.Status] {
				t.Errorf("%s: status %q", res.Test, res.Status)
			}
			if res.Expected != "" {
				expected++
			}
			names := map[string]bool{}
			for _, st := range res.Subtests {
				if !subStatuses[st.Status] || st.KnownIntermittent == nil {
					t.Errorf("%s: subtest %q: status %q, known_intermittent %v", res.Test, st.Name, st.Status, st.KnownIntermittent)
				}
				if (st.Status == "PASS") != (st.Expected == "") {
					t.Errorf("%s: subtest %q: status %s, expected %q", res.Test, st.Name, st.Status, st.Expected)
				}
				if names[st.Name] {
					t.Errorf("%s: duplicate subtest name %q", res.Test, st.Name)
				}
				names[st.Name] = true
				if st.Message != nil {
					messages++
				}
				if strings.ContainsFunc(st.Name, func(r rune) bool { return r >= utf8.RuneSelf }) {
					nonASCII++
				}
				if strings.Contains(st.Name, `"`) {
					quotes++
				}
				if strings.Contains(st.Name, `\`) {
					backslashes++
				}
				if strings.ContainsFunc(st.Name, func(r rune) bool { return r < 0x20 }) {
					controls++
				}
			}
		}
	}
	for _, k := range []string{"product", "browser_version", "os", "os_version", "revision", "browser_channel", "processor", "bits", "headless"} {
		if _, ok := runInfo[k]; !ok {
			t.Errorf("run_info has no %q", k)
		}
	}
	if rev, _ := runInfo["revision"].(string); len(rev) != 40 || strings.Trim(rev, "0123456789abcdef") != "" {
		t.Errorf("revision = %q, want 40 hex digits", rev)
	}
	t.Logf("subtest names: %d non-ASCII, %d with quotes, %d with backslashes, %d with control characters; %d messages, %d tests with expected",
		nonASCII, quotes, backslashes, controls, messages, expected)
	if nonASCII == 0 || quotes == 0 || backslashes == 0 || controls == 0 || messages == 0 || expected == 0 {
		t.Errorf("want some subtest names with non-ASCII, quotes, backslashes and control characters, some messages and some expected")
	}
}

func mapsEqualJSON(t *testing.T, a, b map[string]any) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return bytes.Equal(ja, jb)
}

// TestWrite_UTF8 checks that UTF8 output decodes to exactly the same report
// as the default escaped output.
func TestWrite_UTF8(t *testing.T) {
	cfg := Config{Seed: 5, Scale: 0.03, Shards: 2}
	u := cfg
	u.UTF8 = true
	for shard := range cfg.Shards {
		esc, raw := mustWrite(t, cfg, shard), mustWrite(t, u, shard)
		if bytes.Equal(esc, raw) {
			t.Errorf("shard %d: UTF8 output equals escaped output", shard)
		}
		if !utf8.Valid(raw) {
			t.Errorf("shard %d: UTF8 output is not valid UTF-8", shard)
		}
		if !mapsEqualJSON(t, map[string]any{"r": mustDecode(t, esc)}, map[string]any{"r": mustDecode(t, raw)}) {
			t.Errorf("shard %d: UTF8 and escaped outputs decode differently", shard)
		}
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct {
		name, in, ascii, utf8 string
	}{
		{"plain", "abc", `"abc"`, `"abc"`},
		{"empty", "", `""`, `""`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`, `"a\"b\\c"`},
		{"controls", "\x00\t\n\r\b\f\x1f", `"\u0000\t\n\r\b\f\u001f"`, `"\u0000\t\n\r\b\f\u001f"`},
		{"DEL", "\x7f", `"\u007f"`, "\"\x7f\""},
		{"latin", "é", `"\u00e9"`, `"é"`},
		{"cjk", "中文", `"\u4e2d\u6587"`, `"中文"`},
		{"emoji", "😀", `"\ud83d\ude00"`, `"😀"`},
		{"line separator", "a\u2028b", `"a\u2028b"`, "\"a\u2028b\""},
		{"invalid UTF-8", "a\xffb", `"a\ufffdb"`, "\"a\ufffdb\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []struct {
				ascii bool
				want  string
			}{{true, tt.ascii}, {false, tt.utf8}} {
				got := string(appendString(nil, tt.in, mode.ascii))
				if got != mode.want {
					t.Errorf("ascii=%v: got %s, want %s", mode.ascii, got, mode.want)
				}
				if gotb := string(appendString(nil, []byte(tt.in), mode.ascii)); gotb != got {
					t.Errorf("ascii=%v: []byte gives %s, string gives %s", mode.ascii, gotb, got)
				}
				var back string
				if err := json.Unmarshal([]byte(got), &back); err != nil {
					t.Fatalf("ascii=%v: %s: %v", mode.ascii, got, err)
				}
				if want := strings.ToValidUTF8(tt.in, "\ufffd"); back != want {
					t.Errorf("ascii=%v: round trip got %q, want %q", mode.ascii, back, want)
				}
			}
		})
	}
}

func TestWrite_Errors(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		shard int
	}{
		{"negative shard", Config{Scale: 0.01}, -1},
		{"shard out of range", Config{Scale: 0.01, Shards: 2}, 2},
		{"default shards", Config{Scale: 0.01}, 4},
		{"negative scale", Config{Scale: -1}, 0},
		{"NaN scale", Config{Scale: math.NaN()}, 0},
		{"infinite scale", Config{Scale: math.Inf(1)}, 0},
		{"negative shards", Config{Scale: 0.01, Shards: -1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Write(io.Discard, tt.cfg, tt.shard); err == nil {
				t.Errorf("got nil error, want one")
			}
		})
	}
}

func TestSelectTests(t *testing.T) {
	es, err := corpus()
	if err != nil {
		t.Fatal(err)
	}
	subtests := func(items []item) int {
		n := 0
		for _, it := range items {
			n += it.e.total
		}
		return n
	}
	full := selectTests(es, 1)
	if len(full) != 32720 || subtests(full) != 1586904 {
		t.Fatalf("scale 1: got %d tests, %d subtests, want 32720, 1586904", len(full), subtests(full))
	}
	double := selectTests(es, 2)
	if len(double) != 2*len(full) || subtests(double) != 2*subtests(full) {
		t.Errorf("scale 2: got %d tests, %d subtests, want %d, %d", len(double), subtests(double), 2*len(full), 2*subtests(full))
	}
	paths := map[string]bool{}
	for _, it := range double {
		if paths[it.path] {
			t.Fatalf("scale 2: duplicate path %q", it.path)
		}
		paths[it.path] = true
	}
	if !paths["/xhr/xmlhttprequest-timeout-abortedonmain.html?abort() from a 0ms timeout&gen=2"] || !paths["/dom/ranges/Range-set.html?gen=2"] {
		t.Errorf("scale 2: missing expected variant paths")
	}
	for _, scale := range []float64{0.01, 0.1, 0.5, 1.5} {
		got, want := float64(len(selectTests(es, scale))), scale*float64(len(full))
		if math.Abs(got-want) > 4*math.Sqrt(want)+1 {
			t.Errorf("scale %v: got %v tests, want about %v", scale, got, want)
		}
	}
	// Smaller scales take subsets of larger ones.
	small, large := selectTests(es, 0.01), selectTests(es, 0.1)
	in := map[string]bool{}
	for _, it := range large {
		in[it.path] = true
	}
	for _, it := range small {
		if !in[it.path] {
			t.Errorf("%s is at scale 0.01 but not at 0.1", it.path)
		}
	}
}

func TestEmbeddedSummary(t *testing.T) {
	orig, err := os.ReadFile("../../testdata/wptfyi/wptfyi-chrome-stable-summary_v2.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(orig, pathsGz) {
		t.Errorf("paths.json.gz differs from testdata/wptfyi/wptfyi-chrome-stable-summary_v2.json.gz")
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Seed: 2, Scale: 0.01, Shards: 3}
	paths, err := WriteFiles(dir, "run", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Fatalf("got %d paths, want 3", len(paths))
	}
	for i, p := range paths {
		if want := filepath.Join(dir, "run-"+string(rune('0'+i))+".json.gz"); p != want {
			t.Errorf("path %d = %s, want %s", i, p, want)
		}
		z, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := testutil.Gunzip(t, z); !bytes.Equal(got, mustWrite(t, cfg, i)) {
			t.Errorf("%s: decompressed content differs from Write", p)
		}
	}
	if _, err := WriteFiles(filepath.Join(dir, "missing"), "run", cfg); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFiles to a missing directory: got %v, want fs.ErrNotExist", err)
	}
}

// TestWrite_ReproducesSummary generates the full-size report and checks,
// by streaming each shard through encoding/json, that it reproduces the
// real summary at testdata/wptfyi test for test.
func TestWrite_ReproducesSummary(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and decodes the full-size report")
	}
	want := readSummary(t, "../../testdata/wptfyi/wptfyi-chrome-stable-summary_v2.json.gz")
	abbrev := map[string]string{}
	for k, v := range statusNames {
		abbrev[v] = k
	}
	cfg := Config{Seed: 1, Shards: 4}
	type count struct {
		status      string
		pass, total int
	}
	got := make([]map[string]count, cfg.Shards)
	errs := make([]error, cfg.Shards)
	var wg sync.WaitGroup
	for shard := range cfg.Shards {
		wg.Go(func() {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(Write(pw, cfg, shard)) }()
			defer pr.Close()
			m := map[string]count{}
			got[shard] = m
			errs[shard] = streamResults(pr, func(r *result) {
				c := count{status: abbrev[r.Status], total: len(r.Subtests)}
				names := make(map[string]bool, len(r.Subtests))
				for _, st := range r.Subtests {
					if st.Status == "PASS" {
						c.pass++
					}
					if names[st.Name] {
						c.status = "duplicate subtest " + st.Name
					}
					names[st.Name] = true
				}
				if _, dup := m[r.Test]; dup {
					c.status = "duplicate"
				}
				m[r.Test] = c
			})
		})
	}
	wg.Wait()
	all := map[string]count{}
	for shard, m := range got {
		if errs[shard] != nil {
			t.Fatalf("shard %d: %v", shard, errs[shard])
		}
		for k, v := range m {
			if _, dup := all[k]; dup {
				t.Errorf("%s: in more than one shard", k)
			}
			all[k] = v
		}
	}
	if len(all) != len(want) {
		t.Errorf("got %d tests, want %d", len(all), len(want))
	}
	var subtests int
	bad := 0
	for path, w := range want {
		subtests += w.C[1]
		g, ok := all[path]
		if !ok || g.status != w.S || g.pass != w.C[0] || g.total != w.C[1] {
			if bad++; bad <= 10 {
				t.Errorf("%s: got %+v, want %s %v", path, g, w.S, w.C)
			}
		}
	}
	if subtests != 1586904 {
		t.Errorf("summary has %d subtests, want 1586904", subtests)
	}
}

type summaryEntry struct {
	S string `json:"s"`
	C [2]int `json:"c"`
}

func readSummary(t *testing.T, path string) map[string]summaryEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]summaryEntry
	if err := json.NewDecoder(zr).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// streamResults decodes a wptreport from r, calling fn for each result
// without holding the whole results array in memory.
func streamResults(r io.Reader, fn func(*result)) error {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok != "results" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
			continue
		}
		if _, err := dec.Token(); err != nil { // [
			return err
		}
		for dec.More() {
			var res result
			if err := dec.Decode(&res); err != nil {
				return err
			}
			fn(&res)
		}
		if _, err := dec.Token(); err != nil { // ]
			return err
		}
	}
	_, err := dec.Token() // }
	return err
}

func BenchmarkWrite(b *testing.B) {
	cfg := Config{Seed: 1, Scale: 0.1, Shards: 1}
	var n countWriter
	for b.Loop() {
		n = 0
		if err := Write(&n, cfg, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(n))
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

func TestTitleOf(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/2dcontext/compositing/2d.composite.canvas.xor.html", "2d.composite.canvas.xor"},
		{"/cookie-store/cookieStore_delete_basic.tentative.https.window.html", "CookieStore delete basic"},
		{"/fetch/api/basic/request-head.any.worker.html?x=1", "Request head?x=1"},
		{"/css/CSS2/ui/outline-width-026.xht", "Outline width 026"},
	}
	for _, tt := range tests {
		if got := titleOf(tt.path); got != tt.want {
			t.Errorf("titleOf(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
