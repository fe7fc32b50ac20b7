package process

import (
	"context"
	"reflect"
	"testing"

	"github.com/wptfeed/wptfeed/store"
)

// TestIntermittent: a test's own known_intermittent list is recorded; a
// subtest's, an empty one and one not of strings are not; the last call
// for a path wins; no file when no test has one.
func TestIntermittent(t *testing.T) {
	ctx := context.Background()
	b, err := store.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var k intermittent
	if err := k.write(ctx, b, "20261127T000000Z-none"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Exists(ctx, store.IntermittentKey("20261127T000000Z-none")); ok {
		t.Error("a file written for a run without known_intermittent statuses")
	}
	calls := 0
	add := k.wrap(func(string, []byte) error { calls++; return nil })
	for _, c := range []struct{ path, raw string }{
		{"/a.html", `{"test":"/a.html","status":"PASS","subtests":[],"known_intermittent":["TIMEOUT","FAIL"]}`},
		{"/b.html", `{"test":"/b.html","status":"OK","subtests":[{"name":"x","status":"PASS","known_intermittent":["FAIL"]}],"known_intermittent":[]}`},
		{"/c.html", `{"test":"/c.html","status":"OK","known_intermittent":[1]}`},
		{"/d.html", `{"test":"/d.html","status":"","known_intermittent":["CRASH"]}`},
		{"/d.html", `{"test":"/d.html","status":"PASS","known_intermittent":[]}`}, // the winning copy
		{"/e.html", `{"test":"/e.html","status":"OK","subtests":[{"name":"x","status":"PASS","known_intermittent":["FAIL"]}],"known_intermittent":["ERROR"]}`},
	} {
		if err := add(c.path, []byte(c.raw)); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 6 {
		t.Errorf("the wrapped callback got %d calls, want 6", calls)
	}
	if err := k.write(ctx, b, "20261127T000000Z-ki"); err != nil {
		t.Fatal(err)
	}
	var got map[string][]string
	if _, err := b.ReadJSON(ctx, store.IntermittentKey("20261127T000000Z-ki"), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"/a.html": {"TIMEOUT", "FAIL"}, "/e.html": {"ERROR"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
