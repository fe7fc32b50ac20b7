package publisher

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// parseHtpasswd reads an htpasswd file as `htpasswd -B` writes it: one
// `user:hash` line per user, where hash is a bcrypt hash ($2a$, $2b$ or
// $2y$). Blank lines and lines starting with "#" are skipped. Any other
// hash (MD5 $apr1$, SHA-1 {SHA}, crypt, plain text) and a user listed twice
// are errors naming the file (name) and the line.
func parseHtpasswd(name string, r io.Reader) (map[string][]byte, error) {
	users := map[string][]byte{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("credentials %s: line %d: want user:hash", name, n)
		case user == "":
			return nil, fmt.Errorf("credentials %s: line %d: empty user name", name, n)
		case !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$"):
			return nil, fmt.Errorf("credentials %s: line %d: user %q: not a bcrypt hash (write the file with htpasswd -B)", name, n, user)
		case users[user] != nil:
			return nil, fmt.Errorf("credentials %s: line %d: user %q listed twice", name, n, user)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("credentials %s: line %d: user %q: %w", name, n, user, err)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("credentials %s: %w", name, err)
	}
	return users, nil
}

// errCredentials is returned by credentials.check while the credentials
// file cannot be used: nobody is let in until it is fixed.
var errCredentials = errors.New("credentials file unusable")

// credentials checks user names and passwords against an htpasswd file,
// reloading it when it changes (checked at most once a second on use). A
// file that becomes unreadable or invalid shuts everybody out (fail closed)
// until it is fixed; the problem is logged once per version of the file.
type credentials struct {
	path string
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	checked time.Time   // last stat
	fi      os.FileInfo // the version loaded or refused; nil if unreadable
	users   map[string][]byte
	dummy   []byte // hash compared against for unknown users
	err     error  // why the current version is refused
}

// loadCredentials reads the htpasswd file at path. An unreadable or
// invalid file is an error.
func loadCredentials(path string, log *slog.Logger, now func() time.Time) (*credentials, error) {
	c := &credentials{path: path, log: log, now: now}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if err := c.load(fi); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	c.checked = now()
	return c, nil
}

// load reads the file as described by fi; c.mu held (or c not shared yet).
func (c *credentials) load(fi os.FileInfo) error {
	c.fi = fi
	p, err := os.ReadFile(c.path)
	if err != nil {
		c.err = err
		return err
	}
	users, err := parseHtpasswd(c.path, bytes.NewReader(p))
	if err != nil {
		c.err = err
		return err
	}
	// Unknown users cost one bcrypt comparison too, at the cost of the
	// file's hashes, so that timing does not tell which users exist.
	// The most common cost is used (the higher one on a tie).
	counts := map[int]int{}
	cost := bcrypt.DefaultCost
	for _, h := range users {
		k := mustCost(h)
		counts[k]++
		if counts[k] > counts[cost] || counts[k] == counts[cost] && k > cost {
			cost = k
		}
	}
	if c.dummy == nil || mustCost(c.dummy) != cost {
		if c.dummy, err = bcrypt.GenerateFromPassword([]byte("not a password of anyone"), cost); err != nil {
			c.err = err
			return err
		}
	}
	c.users, c.err = users, nil
	return nil
}

func mustCost(hash []byte) int {
	n, _ := bcrypt.Cost(hash)
	return n
}

// refresh reloads the file if it changed since it was last looked at, at
// most once a second, and returns what to check against.
func (c *credentials) refresh() (map[string][]byte, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.checked) >= time.Second || now.Before(c.checked) {
		c.checked = now
		fi, err := os.Stat(c.path)
		switch {
		case err != nil:
			if c.fi != nil || c.err == nil {
				c.log.Error("credentials file unreadable; refusing every upload until it is back", "file", c.path, "err", err)
			}
			c.fi, c.err = nil, err
		case c.fi == nil || !os.SameFile(fi, c.fi) || !fi.ModTime().Equal(c.fi.ModTime()) || fi.Size() != c.fi.Size():
			if err := c.load(fi); err != nil {
				c.log.Error("credentials file invalid; refusing every upload until it is fixed", "file", c.path, "err", err)
			} else {
				c.log.Info("credentials reloaded", "file", c.path, "users", len(c.users))
			}
		}
	}
	if c.err != nil {
		return nil, nil, fmt.Errorf("serve: %w: %v", errCredentials, c.err)
	}
	return c.users, c.dummy, nil
}

// check reports whether user and password match an entry of the file. It
// returns an error wrapping errCredentials while the file is unusable.
func (c *credentials) check(user, password string) (bool, error) {
	users, dummy, err := c.refresh()
	if err != nil {
		return false, err
	}
	hash, ok := users[user]
	if !ok {
		hash = dummy
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	return ok && match, nil
}
