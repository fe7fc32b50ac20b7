package diff

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzReadHistory feeds ReadHistory arbitrary documents: it must return a
// history or an error (ErrHistory for a malformed one), and a history it
// returns must write back to a document that reads as the same history.
func FuzzReadHistory(f *testing.F) {
	h := NewHistory(4)
	for i, s := range []string{"P", "F", "P", "T", "P"} {
		h.Add(string(rune('a'+i)), mustSummary(f, entry{"/a.html", s, 0, 0}, entry{"/b.html", "O", i % 2, 2}))
	}
	var b bytes.Buffer
	if err := h.WriteJSON(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(`{"window":10,"runs":[]}` + "\n"))
	f.Add([]byte(`{"window":2,"runs":["x","y"]}` + "\n" + `{"test":"/a","states":[{"n":1},{"s":"PF","c":[0,3],"n":1}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		h, err := ReadHistory(bytes.NewReader(doc))
		if err != nil {
			if !errors.Is(err, ErrHistory) {
				t.Fatalf("got %v, want ErrHistory (the reader cannot fail)", err)
			}
			return
		}
		var out bytes.Buffer
		if err := h.WriteJSON(&out); err != nil {
			t.Fatal(err)
		}
		again, err := ReadHistory(&out)
		if err != nil {
			t.Fatalf("reading back %q: %v", out.String(), err)
		}
		if !reflect.DeepEqual(again, h) {
			t.Errorf("round trip: got %+v, want %+v", again, h)
		}
		for test := range h.tests {
			if c := h.Changes(test); c < 0 || c >= max(len(h.runs), 1) {
				t.Errorf("test %q: %d changes in %d runs", test, c, len(h.runs))
			}
		}
	})
}

// FuzzCompute diffs arbitrary summaries: Compute must not panic, a
// summary diffed with itself has no change, and the directories' totals
// add up to the overall totals.
func FuzzCompute(f *testing.F) {
	before, after, _, _ := goldenPair()
	f.Add(before, after, "ADCU")
	f.Add([]byte(`{}`), after, "A")
	f.Add(before, []byte(`{"a": {"s": "P", "c": [0, 0]}}`), "")
	f.Fuzz(func(t *testing.T, before, after []byte, filter string) {
		fl, err := ParseFilter(filter)
		if err != nil {
			return
		}
		d, err := Compute(bytes.NewReader(before), bytes.NewReader(after), Options{Filter: fl})
		if err != nil {
			return
		}
		var sum Totals
		for _, dt := range d.Dirs {
			sum.Added += dt.Added
			sum.Deleted += dt.Deleted
			sum.Changed += dt.Changed
			sum.Unchanged += dt.Unchanged
			sum.NewlyPassing += dt.NewlyPassing
			sum.NewlyFailing += dt.NewlyFailing
			sum.TotalDelta += dt.TotalDelta
			sum.Regressions += dt.Regressions
			sum.Improvements += dt.Improvements
		}
		if sum != d.Totals {
			t.Errorf("directories sum to %+v, totals are %+v", sum, d.Totals)
		}
		same, err := Compute(bytes.NewReader(after), bytes.NewReader(after), Options{})
		if err != nil {
			t.Fatalf("after read once, not twice: %v", err)
		}
		if len(same.Tests) != 0 {
			t.Errorf("a summary diffed with itself: %v", same.Tests)
		}
	})
}
