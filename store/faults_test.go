package store_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wptfeed/wptfeed/store"
)

// faultLog is a fault function for WithFaults that a test switches on and
// off: it records every call and, while on, fails those on keys with the
// prefix "bad/" (and listings of it).
type faultLog struct {
	on  atomic.Bool
	mu  sync.Mutex
	ops []string
}

var errInjected = errors.New("injected: service unavailable")

func (f *faultLog) fault(op, key string) error {
	f.mu.Lock()
	f.ops = append(f.ops, op+" "+key)
	f.mu.Unlock()
	if f.on.Load() && strings.HasPrefix(key, "bad/") {
		return errInjected
	}
	return nil
}

// calls returns the calls recorded since the last one and forgets them.
func (f *faultLog) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ops := f.ops
	f.ops = nil
	return ops
}

func TestOpen_WithFaults(t *testing.T) {
	ctx := context.Background()
	var f faultLog
	b, err := store.Open(ctx, "mem://", store.WithFaults(f.fault))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// Off: every operation asks f once, and goes through.
	if err := b.WriteBytes(ctx, "bad/k", []byte("x"), store.WriteOptions{}); err != nil {
		t.Fatalf("faults off: %v", err)
	}
	if _, err := b.ReadAll(ctx, "bad/k"); err != nil {
		t.Fatalf("faults off: %v", err)
	}
	if got, want := f.calls(), []string{"write bad/k", "read bad/k"}; !slices.Equal(got, want) {
		t.Errorf("got calls %q, want %q", got, want)
	}

	// On: each operation fails with a temporary error wrapping f's, after
	// the store's retries (four attempts, each asking f).
	f.on.Store(true)
	ops := []struct {
		op  string
		run func() error
	}{
		{"stat", func() error { _, err := b.Attributes(ctx, "bad/k"); return err }},
		{"stat", func() error { _, err := b.Exists(ctx, "bad/k"); return err }},
		{"read", func() error { _, err := b.ReadAll(ctx, "bad/k"); return err }},
		{"read", func() error { _, err := b.NewReader(ctx, "bad/k"); return err }},
		{"read", func() error { _, err := b.NewRangeReader(ctx, "bad/k", 0, 1); return err }},
		{"write", func() error { return b.WriteBytes(ctx, "bad/k", []byte("y"), store.WriteOptions{}) }},
		{"delete", func() error { return b.Delete(ctx, "bad/k") }},
		{"list", func() error { return b.List(ctx, "bad/", "", func(store.Object) bool { return true }) }},
	}
	for _, o := range ops {
		err := o.run()
		if !errors.Is(err, errInjected) || !store.IsTemporary(err) {
			t.Errorf("%s: got %v, want a temporary error wrapping %v", o.op, err, errInjected)
		}
		calls := f.calls()
		if len(calls) != 4 || !strings.HasPrefix(calls[0], o.op+" bad/") || slices.ContainsFunc(calls, func(c string) bool { return c != calls[0] }) {
			t.Errorf("%s: got calls %q, want one %q call 4 times", o.op, calls, o.op)
		}
	}
	// Other keys are untouched while it is on.
	if err := b.WriteBytes(ctx, "good/k", []byte("z"), store.WriteOptions{}); err != nil {
		t.Errorf("good key with faults on: %v", err)
	}

	// Off again: the object is still the one written before.
	f.on.Store(false)
	if p, err := b.ReadAll(ctx, "bad/k"); err != nil || string(p) != "x" {
		t.Errorf("faults off again: got %q, %v; want \"x\"", p, err)
	}
}

func TestOpen_WithFaultsNil(t *testing.T) {
	ctx := context.Background()
	b, err := store.Open(ctx, "file://"+t.TempDir(), store.WithFaults(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteBytes(ctx, "k", []byte("x"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := b.NewReader(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if p, err := io.ReadAll(r); err != nil || string(p) != "x" {
		t.Errorf("got %q, %v; want \"x\"", p, err)
	}
}

func TestOpen_Invalid(t *testing.T) {
	for _, u := range []string{"", "file://", "s3://bucket/%zz"} {
		if _, err := store.Open(context.Background(), u, store.WithFaults(func(string, string) error { return nil })); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open(%q): got %v, want ErrInvalid", u, err)
		}
	}
}
