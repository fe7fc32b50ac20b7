package diff

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestFlaky_Stream runs a series of 30 runs through a History and diffs
// each run with the one before, as the ingester will: a test regresses at
// run 15 and is fixed at run 22, a test flaps from the first run, the
// others never change. After the first 10 runs, the changes not marked
// flaky are exactly the regression and the fix, and the flapping test is
// only ever listed as flaky; before it has changed K times in the window,
// its changes are reported normally.
func TestFlaky_Stream(t *testing.T) {
	const regress, flap = "/dom/regress.html", "/html/flap.html"
	run := func(i int) []entry {
		r := entry{regress, "O", 5, 5}
		if i >= 15 && i < 22 {
			r.pass = 3
		}
		f := entry{flap, "P", 0, 0}
		if i%2 == 1 {
			f.status = "F"
		}
		return []entry{
			{"/css/stable.html", "O", 2, 3},
			r, f,
			{"/css/ref.html", "P", 0, 0},
		}
	}
	type event struct {
		run         int
		test, event string
	}
	var normal, early []event
	h := NewHistory(DefaultWindow)
	prev := mustSummary(t, run(0)...)
	h.Add("run-00", prev)
	for i := 1; i < 30; i++ {
		cur := mustSummary(t, run(i)...)
		h.Add(fmt.Sprintf("run-%02d", i), cur)
		d := Summaries(prev, cur, Options{Flaky: h.Flaky(DefaultFlakyChanges)})
		prev = cur
		for _, c := range d.Tests {
			ev := event{i, c.Test, "changed"}
			switch {
			case c.Regression():
				ev.event = "regression"
			case c.Improvement():
				ev.event = "improvement"
			}
			if c.Flaky {
				if c.Test != flap || i < 3 {
					t.Errorf("run %d: %s marked flaky", i, c.Test)
				}
				if slicesContain(d.Regressions, c.Test) || slicesContain(d.Improvements, c.Test) {
					t.Errorf("run %d: flaky %s listed as a regression or improvement", i, c.Test)
				}
				if !slicesContain(d.Flaky, c.Test) {
					t.Errorf("run %d: flaky %s not in the flaky list %v", i, c.Test, d.Flaky)
				}
				continue
			}
			if i < 10 {
				early = append(early, ev)
			} else {
				normal = append(normal, ev)
			}
		}
		if i >= 10 && join(d.Flaky) != flap {
			t.Errorf("run %d: got flaky %v, want [%s]", i, d.Flaky, flap)
		}
	}
	want := []event{{15, regress, "regression"}, {22, regress, "improvement"}}
	if !reflect.DeepEqual(normal, want) {
		t.Errorf("after 10 runs, got non-flaky changes %v, want %v", normal, want)
	}
	wantEarly := []event{{1, flap, "regression"}, {2, flap, "improvement"}}
	if !reflect.DeepEqual(early, wantEarly) {
		t.Errorf("in the first 10 runs, got non-flaky changes %v, want %v", early, wantEarly)
	}
	if got := h.Changes(flap); got != DefaultWindow-1 {
		t.Errorf("got %d changes of the flapping test in the window, want %d", got, DefaultWindow-1)
	}
	if got := h.Changes(regress); got != 1 {
		t.Errorf("got %d changes of the fixed test in the last window (runs 20-29), want 1 (the fix)", got)
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestHistory_Add(t *testing.T) {
	h := NewHistory(3)
	h.Add("r1", mustSummary(t, entry{"/a.html", "P", 0, 0}, entry{"/gone.html", "O", 1, 1}))
	h.Add("r2", mustSummary(t, entry{"/a.html", "F", 0, 0}, entry{"/new.html", "O", 1, 2}))
	h.Add("r3", mustSummary(t, entry{"/a.html", "P", 0, 0}, entry{"/new.html", "O", 2, 2}))
	if got := h.States("/new.html"); !reflect.DeepEqual(got, []State{{}, {"O", 1, 2}, {"O", 2, 2}}) {
		t.Errorf("got states %v of a test added in the second run", got)
	}
	if got := h.Changes("/a.html"); got != 2 {
		t.Errorf("got %d changes, want 2", got)
	}
	if got := h.Changes("/new.html"); got != 1 {
		t.Errorf("got %d changes (absent to present is none), want 1", got)
	}
	h.Add("r4", mustSummary(t, entry{"/a.html", "P", 0, 0}))
	if got := join(h.Runs()); got != "r2,r3,r4" {
		t.Errorf("got runs %q, want r2,r3,r4", got)
	}
	if h.States("/gone.html") != nil {
		t.Errorf("a test in no kept run is still in the history: %v", h.States("/gone.html"))
	}
	if got := h.Changes("/a.html"); got != 1 {
		t.Errorf("after the window slid: got %d changes, want 1", got)
	}
	if got := h.Flaky(1); !reflect.DeepEqual(got, map[string]bool{"/a.html": true, "/new.html": true}) {
		t.Errorf("got flaky %v with k=1", got)
	}
	if got := h.Flaky(0); len(got) != 0 {
		t.Errorf("got flaky %v with the default k, want none", got)
	}
}

func TestHistory_RoundTrip(t *testing.T) {
	h := NewHistory(4)
	for i, s := range []string{"P", "F", "F", "P", "T"} {
		h.Add(fmt.Sprintf("r%d", i), mustSummary(t,
			entry{"/a.html", s, 0, 0},
			entry{"/b/\u00e9\"<x>.html", "O", i, 5},
			entry{"/c.html", "O", 1, 1}))
	}
	h.Add("r5", mustSummary(t, entry{"/a.html", "P", 0, 0}))
	var b bytes.Buffer
	if err := h.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	want := `{"window":4,"runs":["r2","r3","r4","r5"]}
{"test":"/a.html","states":[{"s":"F","c":[0,0],"n":1},{"s":"P","c":[0,0],"n":1},{"s":"T","c":[0,0],"n":1},{"s":"P","c":[0,0],"n":1}]}
{"test":"/b/é\"<x>.html","states":[{"s":"O","c":[2,5],"n":1},{"s":"O","c":[3,5],"n":1},{"s":"O","c":[4,5],"n":1},{"n":1}]}
{"test":"/c.html","states":[{"s":"O","c":[1,1],"n":3},{"n":1}]}
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	got, err := ReadHistory(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("got %+v, want %+v", got, h)
	}
	empty := NewHistory(0)
	b.Reset()
	if err := empty.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != `{"window":10,"runs":[]}`+"\n" {
		t.Errorf("got empty history %q", b.String())
	}
	if got, err := ReadHistory(&b); err != nil || got.Window() != 10 || len(got.Runs()) != 0 {
		t.Errorf("got %+v, %v, want an empty history of window 10", got, err)
	}
}

func TestReadHistory_Errors(t *testing.T) {
	const hdr = `{"window":3,"runs":["a","b"]}` + "\n"
	tests := []struct{ name, doc string }{
		{"empty", ""},
		{"not JSON", "{\n"},
		{"window 0", `{"window":0,"runs":[]}`},
		{"window too large", `{"window":1001,"runs":[]}`},
		{"more runs than window", `{"window":1,"runs":["a","b"]}`},
		{"unknown field", `{"window":1,"runs":[],"x":1}`},
		{"too few states", hdr + `{"test":"/a","states":[{"s":"P","c":[0,0],"n":1}]}`},
		{"too many states", hdr + `{"test":"/a","states":[{"s":"P","c":[0,0],"n":3}]}`},
		{"zero repeat", hdr + `{"test":"/a","states":[{"s":"P","c":[0,0],"n":0},{"s":"P","c":[0,0],"n":2}]}`},
		{"status without counts", hdr + `{"test":"/a","states":[{"s":"P","n":2}]}`},
		{"counts without status", hdr + `{"test":"/a","states":[{"c":[0,0],"n":2}]}`},
		{"negative counts", hdr + `{"test":"/a","states":[{"s":"P","c":[-1,0],"n":2}]}`},
		{"in no run", hdr + `{"test":"/a","states":[{"n":2}]}`},
		{"out of order", hdr + `{"test":"/b","states":[{"s":"P","c":[0,0],"n":2}]}` + "\n" + `{"test":"/a","states":[{"s":"P","c":[0,0],"n":2}]}`},
		{"repeated", hdr + `{"test":"/a","states":[{"s":"P","c":[0,0],"n":2}]}` + "\n" + `{"test":"/a","states":[{"s":"P","c":[0,0],"n":2}]}`},
		{"trailing data", hdr + `{"test":"/a","states":[{"s":"P","c":[0,0],"n":2}]} 1`},
		{"line too long", hdr + `{"test":"/` + strings.Repeat("x", 1<<20) + `","states":[{"s":"P","c":[0,0],"n":2}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadHistory(strings.NewReader(tt.doc))
			if !errors.Is(err, ErrHistory) {
				t.Errorf("got %v, want ErrHistory", err)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestReadHistory_ReadError(t *testing.T) {
	_, err := ReadHistory(failingReader{})
	if err == nil || errors.Is(err, ErrHistory) || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("got %v, want the read error, not ErrHistory", err)
	}
}
