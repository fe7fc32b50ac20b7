package poll

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSubscriptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		names   []string // want, or
		wantErr string   // a part of the error
	}{
		{"names given", `{"feeds":[{"name":"main","url":"https://a.example/feed.atom"},{"name":"mirror-2","url":"https://b.example/feed.atom","allow_origins":["https://cdn.example"],"labels":["mirror"],"copy_raw":true}]}`,
			[]string{"main", "mirror-2"}, ""},
		{"default names from hosts", `{"feeds":[{"url":"https://Feeds.Example.org:8443/feed.atom"},{"url":"http://feeds.example.org:8443/other.atom"},{"url":"http://127.0.0.1/feed.atom"}]}`,
			[]string{"feeds-example-org-8443", "feeds-example-org-8443-2", "127-0-0-1"}, ""},
		{"default does not take a given name", `{"feeds":[{"url":"https://a.example/x"},{"name":"a-example","url":"https://b.example/x"}]}`,
			[]string{"a-example-2", "a-example"}, ""},
		{"name taken", `{"feeds":[{"name":"x","url":"https://a.example/f"},{"name":"x","url":"https://b.example/f"}]}`, nil, "taken"},
		{"name upper case", `{"feeds":[{"name":"Main","url":"https://a.example/f"}]}`, nil, "name"},
		{"name with underscore", `{"feeds":[{"name":"a_b","url":"https://a.example/f"}]}`, nil, "name"},
		{"name ends in dash", `{"feeds":[{"name":"a-","url":"https://a.example/f"}]}`, nil, "name"},
		{"url listed twice", `{"feeds":[{"url":"https://a.example/f"},{"url":"https://a.example/f"}]}`, nil, "twice"},
		{"not http", `{"feeds":[{"url":"ftp://a.example/f"}]}`, nil, "http(s)"},
		{"bad origin", `{"feeds":[{"url":"https://a.example/f","allow_origins":["cdn.example"]}]}`, nil, "origin"},
		{"unknown field", `{"feeds":[{"url":"https://a.example/f","copy":true}]}`, nil, "unknown field"},
		{"no feeds", `{"feeds":[]}`, nil, "no feeds"},
		{"trailing data", `{"feeds":[{"url":"https://a.example/f"}]} {}`, nil, "after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := ParseSubscriptions(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSubscriptions: %v", err)
			}
			var names []string
			for _, f := range fs {
				names = append(names, f.Name)
			}
			if !slices.Equal(names, tc.names) {
				t.Errorf("names: got %v, want %v", names, tc.names)
			}
		})
	}
	fs, err := ParseSubscriptions(strings.NewReader(`{"feeds":[{"url":"https://a.example/f","allow_origins":["https://cdn.example"],"labels":["mirror","x"],"copy_raw":true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if f := fs[0]; !f.CopyRaw || !slices.Equal(f.Labels, []string{"mirror", "x"}) || !slices.Equal(f.AllowOrigins, []string{"https://cdn.example"}) {
		t.Errorf("entry: got %+v, want copy_raw, labels and origins kept", f)
	}
}
