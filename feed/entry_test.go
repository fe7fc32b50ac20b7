package feed_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wptfeed/wptfeed/feed"
)

// Entry.Validate applies Feed.Validate's rules to one entry, so that a
// document can leave out a bad entry instead of failing.
func TestEntry_Validate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*feed.Entry)
		want   string // in the error; "" = valid
	}{
		{"Good", func(*feed.Entry) {}, ""},
		{"NoID", func(e *feed.Entry) { e.ID = " " }, "id is empty"},
		{"NoTitle", func(e *feed.Entry) { e.Title = "" }, "title is empty"},
		{"NoUpdated", func(e *feed.Entry) { e.Updated = time.Time{} }, "updated"},
		{"PublishedYear0", func(e *feed.Entry) { e.Published = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) }, "published"},
		{"NoAlternate", func(e *feed.Entry) { e.Links = e.Enclosures() }, "alternate"},
		{"NegativeLength", func(e *feed.Entry) { e.Links[len(e.Links)-1].Length = -1 }, "negative length"},
		{"EmptyCategory", func(e *feed.Entry) { e.Categories = append(e.Categories, feed.Category{}) }, "term is empty"},
		{"RunTimeStartYear0", func(e *feed.Entry) { e.Run.TimeStart = time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC) }, "time-start"},
		{"RunTimeEndYear10000", func(e *feed.Entry) { e.Run.TimeEnd = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time-end"},
		{"ShardSHA256", func(e *feed.Entry) { e.Run.Shards[0].SHA256 = "XYZ" }, "sha256"},
		{"ShardNegativeSize", func(e *feed.Entry) { e.Run.Shards[0].Size = -2 }, "negative size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := fixtureEntries()[0]
			if e.Run == nil || len(e.Run.Shards) == 0 {
				t.Fatal("fixture entry without a run and shards")
			}
			tc.change(&e)
			err := e.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if !errors.Is(err, feed.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid about %q", err, tc.want)
			}
			// The document fails for the same reason.
			f := subscriptionFeed()
			f.Entries = []feed.Entry{e}
			if err := f.Validate(); !errors.Is(err, feed.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Feed.Validate: got %v, want ErrInvalid about %q", err, tc.want)
			}
		})
	}
}
