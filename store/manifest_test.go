package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/store"
)

func openDir(t *testing.T) *store.Bucket {
	t.Helper()
	b, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestManifest_Validate(t *testing.T) {
	const id = "20261127T100000Z-validate"
	sum := strings.Repeat("0123456789abcdef", 4)
	good := func() store.Manifest {
		t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		return store.Manifest{
			Version: 1, RunID: id, Uploaded: t0, Product: "chrome", BrowserVersion: "131.0 (Official Build)", OS: "linux",
			OSVersion: "24.04\u00a0LTS", Revision: "24278ab61781de72ed363b866ae6b50b86822b27", BrowserChannel: "stable",
			Labels: []string{"buildbot", "<&>", "a\tb", "stable", "stable"}, TimeStart: t0.Add(-time.Hour), TimeEnd: t0,
			Shards: []store.Shard{{Name: "shard-000.json.gz", Size: 10, SHA256: sum}, {Name: "b.json"}},
		}
	}
	year := func(y int) time.Time { return time.Date(y, 6, 1, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name   string
		change func(*store.Manifest)
		want   string // in the problem; "" = valid
	}{
		{"Good", func(*store.Manifest) {}, ""},
		{"Minimal", func(m *store.Manifest) { *m = store.Manifest{Shards: []store.Shard{{Name: "a.json"}}} }, ""},
		{"Year1And9999", func(m *store.Manifest) { m.TimeStart, m.TimeEnd = year(1), year(9999) }, ""},
		{"OtherRun", func(m *store.Manifest) { m.RunID = "20261127T100000Z-other" }, "names run"},
		{"NoShards", func(m *store.Manifest) { m.Shards = nil }, "lists no shards"},
		{"TooManyShards", func(m *store.Manifest) {
			m.Shards = nil
			for i := range store.MaxManifestShards + 1 {
				m.Shards = append(m.Shards, store.Shard{Name: store.ShardName(i)})
			}
		}, "more than 1000"},
		{"BadShardName", func(m *store.Manifest) { m.Shards[1].Name = "../x" }, "bad shard name"},
		{"ShardTwice", func(m *store.Manifest) { m.Shards[1].Name = m.Shards[0].Name }, "listed twice"},
		{"NegativeSize", func(m *store.Manifest) { m.Shards[1].Size = -1 }, "negative size"},
		{"SHA256NotHex", func(m *store.Manifest) { m.Shards[0].SHA256 = strings.Repeat("g", 64) }, "sha256"},
		{"SHA256UpperCase", func(m *store.Manifest) { m.Shards[0].SHA256 = strings.ToUpper(sum) }, "sha256"},
		{"SHA256Short", func(m *store.Manifest) { m.Shards[0].SHA256 = sum[:63] }, "sha256"},
		{"ProductNUL", func(m *store.Manifest) { m.Product = "chr\x00me" }, "product"},
		{"VersionEscape", func(m *store.Manifest) { m.BrowserVersion = "\x1b[31m" }, "browser_version"},
		{"OSNoncharacter", func(m *store.Manifest) { m.OS = "linux\ufffe" }, "os"},
		{"OSVersionNotUTF8", func(m *store.Manifest) { m.OSVersion = "\xff" }, "os_version"},
		{"RevisionTooLong", func(m *store.Manifest) { m.Revision = strings.Repeat("a", store.MaxManifestText+1) }, "revision"},
		{"ChannelControl", func(m *store.Manifest) { m.BrowserChannel = "\x7f\x01" }, "browser_channel"},
		{"LabelEmpty", func(m *store.Manifest) { m.Labels[1] = "" }, "label 2 is empty"},
		{"LabelBlank", func(m *store.Manifest) { m.Labels[1] = " \t" }, "label 2 is empty"},
		{"LabelControl", func(m *store.Manifest) { m.Labels[0] = "a\x00" }, "label 1"},
		{"TooManyLabels", func(m *store.Manifest) { m.Labels = make([]string, store.MaxManifestLabels+1); m.Labels[0] = "x" }, "labels, more than"},
		{"TimeStartYear0", func(m *store.Manifest) { m.TimeStart = year(0) }, "time_start"},
		{"TimeEndYear10000", func(m *store.Manifest) { m.TimeEnd = year(10000) }, "time_end"},
		{"UploadedYear0InUTC", func(m *store.Manifest) {
			m.Uploaded = time.Date(1, 1, 1, 0, 30, 0, 0, time.FixedZone("+01", 3600))
		}, "uploaded"},
		{"TimeEndYear10000InUTC", func(m *store.Manifest) {
			m.TimeEnd = time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("-05", -5*3600))
		}, "time_end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.change(&m)
			err := m.Validate(id)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			var me *store.ManifestError
			if !errors.As(err, &me) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("got %v, want a *ManifestError wrapping ErrInvalid", err)
			}
			if !strings.Contains(me.Reason(), tc.want) || strings.Contains(err.Error(), "\n") || len(err.Error()) > 600 {
				t.Errorf("got %q, want one short line with %q", err, tc.want)
			}
			// PutManifest refuses it: nothing is committed.
			b := openDir(t)
			if err := b.PutManifest(context.Background(), id, &m); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("PutManifest: got %v, want ErrInvalid", err)
			}
			if ids, _ := b.CommittedRuns(context.Background(), id[:8]); len(ids) > 0 {
				t.Errorf("invalid manifest committed")
			}
		})
	}
}

// ReadCommit reads what a manifest says: a missing shard is no error (the
// manifest is the commit), an incomplete manifest is ErrIncomplete, and
// only what locating the files needs is checked.
func TestBucket_ReadCommit(t *testing.T) {
	ctx := context.Background()
	b := openDir(t)
	id := "20261127T100000Z-readcommit"
	if err := b.WriteBytes(ctx, store.ShardKey(id, "a.json"), []byte("12345"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	full := `{"product": "chrome", "shards": [{"name": "a.json"}, {"name": "b.json"}, {"name": "c.json", "size": 7}]}`
	tests := []struct {
		name, manifest string
		incomplete     bool
		invalid        bool
		missing        []string
	}{
		{name: "MissingShards", manifest: full, missing: []string{"b.json"}},
		{name: "Empty", manifest: "", incomplete: true, invalid: true},
		{name: "CutOff", manifest: full[:len(full)/2], incomplete: true, invalid: true},
		{name: "CutInCharacter", manifest: `{"product": "` + "\xc3", incomplete: true, invalid: true},
		{name: "NotUTF8", manifest: "{\"product\": \"\xff\", \"shards\": [{\"name\": \"a.json\"}]}", invalid: true},
		{name: "WrongType", manifest: `{"shards": "a.json"}`, invalid: true},
		{name: "TimeNotRFC3339", manifest: `{"time_end": "10000-01-01T00:00:00Z", "shards": [{"name": "a.json"}]}`, invalid: true},
		{name: "NoShards", manifest: `{"shards": []}`, invalid: true},
		// Not checked by ReadCommit: for Validate.
		{name: "ControlCharacter", manifest: `{"product": "\u0001", "shards": [{"name": "a.json"}]}`},
		{name: "NegativeSizeKept", manifest: `{"shards": [{"name": "a.json", "size": -3}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := b.WriteBytes(ctx, store.ManifestKey(id), []byte(tc.manifest), store.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			m, missing, err := b.ReadCommit(ctx, id)
			if got := errors.Is(err, store.ErrIncomplete); got != tc.incomplete {
				t.Errorf("ErrIncomplete: got %v (%v), want %v", got, err, tc.incomplete)
			}
			if got := errors.Is(err, store.ErrInvalid); got != tc.invalid {
				t.Errorf("ErrInvalid: got %v (%v), want %v", got, err, tc.invalid)
			}
			if err != nil {
				return
			}
			if !slices.Equal(missing, tc.missing) {
				t.Errorf("missing %v, want %v", missing, tc.missing)
			}
			if m.RunID != id || m.Uploaded.IsZero() {
				t.Errorf("run id %q, uploaded %v: want them filled in", m.RunID, m.Uploaded)
			}
			switch tc.name {
			case "MissingShards":
				if got := []int64{m.Shards[0].Size, m.Shards[1].Size, m.Shards[2].Size}; !slices.Equal(got, []int64{5, 0, 7}) {
					t.Errorf("sizes %v, want [5 0 7]: the object's, unknown, the manifest's", got)
				}
				// ReadManifest still refuses it.
				if _, err := b.ReadManifest(ctx, id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("ReadManifest: got %v, want ErrNotFound", err)
				}
			case "NegativeSizeKept":
				if m.Shards[0].Size != -3 || m.Validate(id) == nil {
					t.Errorf("size %d: want -3 kept, for Validate to refuse", m.Shards[0].Size)
				}
			}
		})
	}
}

// The marker commits a run's log entry, once: a second entry of the run
// is void, whoever asks and in whatever order.
func TestBucket_CommitLogEntry(t *testing.T) {
	ctx := context.Background()
	b := openDir(t)
	x := "20261127T100000Z-committed"
	for seq := int64(1); seq <= 3; seq++ {
		if err := b.AppendLog(ctx, store.LogEntry{Seq: seq, RunID: x}); err != nil {
			t.Fatal(err)
		}
	}
	// Entry 2 is committed first (say its appender lived); then the others
	// are read.
	for _, tc := range []struct {
		seq  int64
		want bool
	}{{2, true}, {1, false}, {3, false}, {2, true}} {
		ok, err := b.CommitLogEntry(ctx, store.LogEntry{Seq: tc.seq, RunID: x})
		if err != nil || ok != tc.want {
			t.Errorf("CommitLogEntry(%d) = %v, %v; want %v", tc.seq, ok, err, tc.want)
		}
	}
	if pub, err := b.PublishedRuns(ctx, x[:8]); err != nil || !pub[x] {
		t.Errorf("PublishedRuns = %v, %v; want the run", pub, err)
	}
	// An older marker counts as it is.
	y := "20261127T100001Z-older"
	if err := b.MarkPublished(ctx, y, 5); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.CommitLogEntry(ctx, store.LogEntry{Seq: 6, RunID: y}); ok || err != nil {
		t.Errorf("CommitLogEntry against an older marker = %v, %v; want false", ok, err)
	}
	// A marker that is not a number is an error, not a guess.
	z := "20261127T100002Z-garbled"
	if err := b.WriteBytes(ctx, "feed/published/20261127/"+z, []byte("x"), store.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CommitLogEntry(ctx, store.LogEntry{Seq: 1, RunID: z}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("garbled marker: got %v, want ErrInvalid", err)
	}
	if _, err := b.CommitLogEntry(ctx, store.LogEntry{Seq: 0, RunID: z}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("seq 0: got %v, want ErrInvalid", err)
	}
}
