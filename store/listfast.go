package store

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// listDir lists prefix (ending in "/") of a file bucket by reading its
// directory directly: fileblob's List visits every file below a prefix and
// stats each one (and its missing sidecar), even with a delimiter, which
// made a day's listing of a large bucket cost most of a second. ok=false
// means the fast path does not apply (a name fileblob would unescape);
// the caller then uses fileblob.
func (b *Bucket) listDir(ctx context.Context, prefix, delim string) (objs []Object, ok bool, err error) {
	root := filepath.Join(b.dir, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
	if delim == "/" {
		entries, err := os.ReadDir(root)
		if os.IsNotExist(err) {
			return nil, true, nil
		}
		if err != nil {
			return nil, false, nil
		}
		for _, e := range entries {
			name := e.Name()
			if strings.Contains(name, "__0x") {
				return nil, false, nil
			}
			if strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".attrs") {
				continue
			}
			if e.IsDir() {
				objs = append(objs, Object{Key: prefix + name + "/", IsDir: true})
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			objs = append(objs, Object{Key: prefix + name, Size: info.Size(), ModTime: info.ModTime()})
		}
	} else {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.IsDir() {
				return nil
			}
			name := d.Name()
			if strings.Contains(name, "__0x") {
				return fs.ErrInvalid
			}
			if strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".attrs") {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			objs = append(objs, Object{Key: prefix + filepath.ToSlash(rel), Size: info.Size(), ModTime: info.ModTime()})
			return nil
		})
		if err != nil {
			return nil, false, nil
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, true, nil
}
