package publisher

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/wptfeed/wptfeed/report"
)

// Uploads from wpt.fyi's integrations: its GitHub Actions notifier calls
// the receiver with archive_url fields only, each the zip of one workflow
// artifact (api/ghactions/notify.go, processBuild), and its Azure Pipelines
// one with an artifact's zip as result_url (api/azure/webhook.go,
// processBuild; api/receiver/azure.go). wpt.fyi's results processor takes
// from each zip the files whose base name matches wpt_report*.json, in any
// directory, and ignores the rest (results-processor/processor.py,
// Processor._download_archive). fetchArchive does the same, also taking
// their gzip form, wpt_report*.json.gz, and stores each as the run's next
// shard.

// archiveLimits bound what the archives of one upload may hold and expand
// to, besides --max-upload, which bounds their compressed bytes with the
// request's.
type archiveLimits struct {
	entries int     // entries of one archive, of any kind
	dir     int64   // bytes read to list one archive's entries
	entry   int64   // declared size of a report entry (report.Limits.MaxBytes)
	ratio   float64 // expansion of a report entry past report.RatioSlack (report.Limits.MaxRatio)
	total   int64   // declared sizes of the report entries of all the upload's archives
}

// defaultArchiveLimits are the limits of every uploader. A variable only so
// that tests can lower them before they start a server.
var defaultArchiveLimits = archiveLimits{
	entries: 10_000,
	dir:     4 << 20,
	entry:   report.DefaultMaxBytes,
	ratio:   report.DefaultMaxRatio,
	total:   4 * report.DefaultMaxBytes,
}

// fetchArchive fetches the zip archive at rawURL, the value of the form
// field `field`, which must be on an allowed origin, and stores its
// wpt_report*.json files as the run's next shards, in the archive's order.
//
// A zip is read at random, so it is spooled to a temporary file first
// (bytes counted against --max-upload, removed on return). Before any entry
// is read the archive is refused, 400 naming the reason, when listing it
// takes more than the limits allow, when an entry's name is absolute,
// climbs out with "..", or holds a backslash or a drive letter, when it
// holds no report, and when a report entry is encrypted, not a regular
// file, compressed with a method other than store or deflate, or declares
// a size or an expansion ratio over the limits (a zip bomb); archive/zip
// then refuses an entry that expands past its declared size.
func (up *upload) fetchArchive(field, rawURL string) error {
	resp, name, err := up.get(field, rawURL)
	if err != nil {
		return err
	}
	f, size, err := up.spool(field, name, resp.Body)
	resp.Body.Close()
	if f != nil {
		defer func() {
			f.Close()
			if err := os.Remove(f.Name()); err != nil {
				up.u.s.log.Warn("upload: spooled archive not removed", "file", f.Name(), "err", err)
			}
		}()
	}
	if err != nil {
		return err
	}
	lim := up.u.zip
	refuseArchive := func(format string, args ...any) error {
		return refuse(http.StatusBadRequest, "upload: %s %s: %s", field, name, fmt.Sprintf(format, args...))
	}
	ra := &archiveFile{r: f, budget: lim.dir}
	zr, err := zip.NewReader(ra, size)
	ra.budget = -1 // listed: entries are read whole
	switch {
	case errors.Is(err, errListTooLong):
		return refuseArchive("listing its entries takes more than %d bytes", lim.dir)
	case errors.As(err, new(*diskError)):
		return &storageError{fmt.Errorf("upload: read spooled %s %s: %w", field, name, err)}
	case err != nil:
		return refuseArchive("not a zip archive: %v", err)
	case len(zr.File) > lim.entries:
		return refuseArchive("more than %d entries", lim.entries)
	}
	for _, e := range zr.File {
		if why := unsafeEntryName(e.Name); why != "" {
			return refuseArchive("entry %q: %s", e.Name, why)
		}
	}
	var reports []*zip.File
	for _, e := range zr.File {
		if strings.HasSuffix(e.Name, "/") || !reportEntry(e.Name) {
			continue
		}
		if err := up.checkEntry(e, lim); err != nil {
			return refuseArchive("entry %q: %v", e.Name, err)
		}
		if up.expanded > lim.total {
			return refuseArchive("the reports of the upload's archives expand to more than %d bytes in all", lim.total)
		}
		reports = append(reports, e)
	}
	if len(reports) == 0 {
		return refuseArchive("no wpt_report*.json file among its %d entries", len(zr.File))
	}
	for _, e := range reports {
		if err := up.storeEntry(e, name); err != nil {
			var se *sourceError
			var spe *diskError
			switch {
			case errors.As(err, &spe):
				return &storageError{fmt.Errorf("upload: read spooled %s %s: %w", field, name, spe.err)}
			case errors.As(err, &se):
				return refuseArchive("entry %q: %v", e.Name, se.err)
			}
			return err
		}
	}
	return nil
}

// storeEntry stores the archive entry e of the archive called name as the
// run's next shard.
func (up *upload) storeEntry(e *zip.File, name string) error {
	rc, err := e.Open()
	if err != nil {
		return &sourceError{err}
	}
	defer rc.Close()
	return up.store(e.Name+" in "+name, rc)
}

// spool copies the body of an archive to a temporary file, counting its
// bytes against --max-upload, and returns the file and its size. When the
// file was created, it is returned even with an error, for the caller to
// remove.
func (up *upload) spool(field, name string, body io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "wptfeed-upload-*.zip")
	if err != nil {
		return nil, 0, &storageError{fmt.Errorf("upload: spool %s %s: %w", field, name, err)}
	}
	src := &errReader{r: &fetchLimit{up: up, r: body}}
	n, err := io.Copy(f, src)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(src.err, &tooLarge):
		return f, 0, fmt.Errorf("upload: fetch %s %s: %w", field, name, src.err)
	case src.err != nil:
		return f, 0, refuse(http.StatusBadGateway, "upload: fetch %s %s: %v", field, name, src.err)
	case err != nil:
		return f, 0, &storageError{fmt.Errorf("upload: spool %s %s: %w", field, name, err)}
	}
	return f, n, nil
}

// checkEntry checks a report entry's header, before it is read, and adds
// its declared size to the upload's total.
func (up *upload) checkEntry(e *zip.File, lim archiveLimits) error {
	const encrypted = 0x1 // general purpose flag bit 0 (APPNOTE.TXT 4.4.4)
	size, packed := e.UncompressedSize64, max(e.CompressedSize64, 1)
	switch {
	case e.Flags&encrypted != 0:
		return errors.New("encrypted")
	case !e.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%v)", e.Mode().Type())
	case e.Method != zip.Store && e.Method != zip.Deflate:
		return fmt.Errorf("compression method %d not supported (only store and deflate)", e.Method)
	case size > uint64(lim.entry):
		return fmt.Errorf("expands to %d bytes, more than %d", size, lim.entry)
	case size > report.RatioSlack && float64(size) > lim.ratio*float64(packed):
		return fmt.Errorf("expands %.0f:1 (%d bytes from %d), more than %g:1: refused as a zip bomb",
			float64(size)/float64(packed), size, e.CompressedSize64, lim.ratio)
	}
	up.expanded += int64(size)
	return nil
}

// reportEntry reports whether the archive entry name is a report to take:
// its base name matches wpt_report*.json, case-sensitively, as in wpt.fyi's
// results processor (results-processor/processor.py, fnmatchcase on the
// posixpath.basename), or wpt_report*.json.gz.
func reportEntry(name string) bool {
	base := path.Base(name)
	plain, _ := path.Match("wpt_report*.json", base)
	gz, _ := path.Match("wpt_report*.json.gz", base)
	return plain || gz
}

// unsafeEntryName returns why an archive entry's name could write outside
// the directory it is extracted to ("zip slip"), or "". Entries are never
// written to disk by name here; such an archive is refused all the same,
// as archive/zip refuses it with GODEBUG=zipinsecurepath=0.
func unsafeEntryName(name string) string {
	switch {
	case strings.HasPrefix(name, "/"):
		return "absolute path"
	case strings.Contains(name, `\`):
		return "backslash in the path"
	case len(name) >= 2 && name[1] == ':' && strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", rune(name[0])):
		return "drive letter in the path"
	case slices.Contains(strings.Split(name, "/"), ".."):
		return `".." in the path`
	case strings.ContainsRune(name, 0):
		return "NUL byte in the path"
	}
	return ""
}

// errListTooLong is the error of a archiveFile past its budget.
var errListTooLong = errors.New("upload: archive directory over budget")

// archiveFile reads a spooled archive. While budget is not negative, a
// read that would take the bytes read past it fails with errListTooLong:
// zip.NewReader lists the entries through it, which bounds the memory the
// listing takes (archive/zip reads entry headers until one does not parse,
// whatever the archive's end record says: Reader.init). Its errors are
// *diskError, failures of the local disk.
type archiveFile struct {
	r      io.ReaderAt
	budget int64
}

func (s *archiveFile) ReadAt(p []byte, off int64) (int, error) {
	if s.budget >= 0 {
		if int64(len(p)) > s.budget {
			return 0, errListTooLong
		}
		s.budget -= int64(len(p))
	}
	n, err := s.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = &diskError{err}
	}
	return n, err
}

// diskError is a failure to read a spooled archive back.
type diskError struct{ err error }

func (e *diskError) Error() string { return e.err.Error() }
func (e *diskError) Unwrap() error { return e.err }
