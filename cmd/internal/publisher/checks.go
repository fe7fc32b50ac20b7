package publisher

import (
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wptfeed/wptfeed/store"
)

// Every value that reaches the feed or a record passes one validation,
// store.Manifest.Validate: at the door for uploads (`publisher upload` and
// the HTTP endpoint refuse the run, naming its files), and at the scan for
// manifests other tools wrote (not published, logged once, counted in
// publisher_manifests_rejected_total). The renderer still leaves out, and
// logs, an entry that cannot be encoded, so that no run can fail a whole
// document.

// newRejectedCounter returns the counter of manifests refused at a scan.
func newRejectedCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "publisher_manifests_rejected_total",
		Help: "Committed runs not published because their manifest breaks the manifest rules (docs/manifest.md), once per run and process.",
	})
}

// instrument gives the index and the renderer the server's log and
// registers their metrics in reg. NewServer calls it once, before the log
// is read.
func (s *Server) instrument(reg prometheus.Registerer) {
	s.idx.log = s.log
	reg.MustRegister(s.idx.rejected)
	s.rd.log = s.log
}

// checkManifest validates the manifest of an upload before it is
// committed. A refusal names the uploaded files (the runner's names) and
// wraps store.ErrInvalid: HTTP 400.
func checkManifest(m *store.Manifest, files []string) error {
	err := m.Validate(m.RunID)
	if err == nil {
		return nil
	}
	var me *store.ManifestError
	if errors.As(err, &me) {
		return &refusedManifest{msg: "upload: " + fileNames(files) + ": " + me.Reason()}
	}
	return fmt.Errorf("upload: %s: %w", fileNames(files), err)
}

// refusedManifest is an upload refused by checkManifest. It wraps
// store.ErrInvalid.
type refusedManifest struct{ msg string }

func (e *refusedManifest) Error() string { return e.msg }
func (e *refusedManifest) Unwrap() error { return store.ErrInvalid }

// fileNames names the files of a run in a message.
func fileNames(files []string) string {
	const most = 3
	if len(files) <= most {
		return strings.Join(files, ", ")
	}
	return fmt.Sprintf("%s and %d more files", strings.Join(files[:most], ", "), len(files)-most)
}
