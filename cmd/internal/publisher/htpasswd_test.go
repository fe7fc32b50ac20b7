package publisher

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// mustHash returns a bcrypt hash of password at the minimum cost, with the
// given version prefix ("$2a$", "$2b$" or "$2y$", as htpasswd -B writes).
func mustHash(t testing.TB, password, prefix string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + strings.TrimPrefix(string(h), "$2a$")
}

// mustWriteCredentials writes an htpasswd file of users (name → password).
func mustWriteCredentials(t testing.TB, path string, users map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# wptfeed uploaders\n\n")
	for u, p := range users {
		b.WriteString(u + ":" + mustHash(t, p, "$2y$") + "\n")
	}
	// Through a rename, as editors and config tools replace files.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestParseHtpasswd(t *testing.T) {
	a, b, y := mustHash(t, "pa", "$2a$"), mustHash(t, "pb", "$2b$"), mustHash(t, "py", "$2y$")
	tests := []struct {
		name  string
		in    string
		users []string
		err   string // substring of the error; "" = none
	}{
		{name: "Empty", in: ""},
		{name: "Versions", in: "# comment\n\nann:" + a + "\r\n  bob:" + b + "  \ncy:" + y + "\n", users: []string{"ann", "bob", "cy"}},
		{name: "ErrMD5", in: "ann:" + a + "\nbob:$apr1$salt$0123456789abcdefghijkl\n", err: "line 2: user \"bob\": not a bcrypt hash"},
		{name: "ErrSHA1", in: "ann:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", err: "line 1: user \"ann\": not a bcrypt hash"},
		{name: "ErrPlain", in: "ann:secret\n", err: "line 1: user \"ann\": not a bcrypt hash"},
		{name: "ErrNoColon", in: "\n\nann\n", err: "line 3: want user:hash"},
		{name: "ErrNoUser", in: ":" + a + "\n", err: "line 1: empty user name"},
		{name: "ErrTwice", in: "ann:" + a + "\nann:" + b + "\n", err: "line 2: user \"ann\" listed twice"},
		{name: "ErrBadBcrypt", in: "ann:$2y$05$short\n", err: "line 1: user \"ann\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users, err := parseHtpasswd("users.htpasswd", strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "users.htpasswd") {
					t.Fatalf("got error %v, want one naming the file and %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != len(tc.users) {
				t.Fatalf("got %d users, want %d", len(users), len(tc.users))
			}
			for _, u := range tc.users {
				if users[u] == nil {
					t.Errorf("user %s missing", u)
				}
			}
		})
	}
}

func TestCredentials_Check(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	mustWriteCredentials(t, path, map[string]string{"ann": "pa"})
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c, err := loadCredentials(path, slog.New(slog.DiscardHandler), clock)
	if err != nil {
		t.Fatal(err)
	}
	check := func(user, password string, want bool) {
		t.Helper()
		ok, err := c.check(user, password)
		if err != nil {
			t.Fatalf("check %s: %v", user, err)
		}
		if ok != want {
			t.Errorf("check %s/%s: got %v, want %v", user, password, ok, want)
		}
	}
	check("ann", "pa", true)
	check("ann", "wrong", false)
	check("bob", "pb", false)
	check("", "", false)

	// A new file is noticed at the first check a second after the last.
	mustWriteCredentials(t, path, map[string]string{"ann": "pa", "bob": "pb"})
	check("bob", "pb", false)
	advance(time.Second)
	check("bob", "pb", true)

	// An invalid file shuts everybody out until it is fixed.
	if err := os.WriteFile(path, []byte("ann:plain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	advance(time.Second)
	if _, err := c.check("ann", "pa"); !errors.Is(err, errCredentials) {
		t.Fatalf("check with an invalid file: got %v, want errCredentials", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	advance(time.Second)
	if _, err := c.check("ann", "pa"); !errors.Is(err, errCredentials) {
		t.Fatalf("check with no file: got %v, want errCredentials", err)
	}
	mustWriteCredentials(t, path, map[string]string{"bob": "pb"})
	advance(time.Second)
	check("bob", "pb", true)
	check("ann", "pa", false)

	// The dummy hash of unknown users has the file's cost.
	if got, _ := bcrypt.Cost(c.dummy); got != bcrypt.MinCost {
		t.Errorf("dummy hash cost: got %d, want %d", got, bcrypt.MinCost)
	}
}

func TestLoadCredentials_Errors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("ann:$apr1$x$y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		is   error // when set, an error the result must wrap
	}{
		{path: bad},
		{path: filepath.Join(dir, "missing"), is: fs.ErrNotExist},
	} {
		_, err := loadCredentials(tc.path, slog.New(slog.DiscardHandler), time.Now)
		if err == nil || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("load %s: got %v, want an error naming the file", tc.path, err)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("load %s: got %v, want it to wrap %v", tc.path, err, tc.is)
		}
	}
}
