package publisher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/wptfeed/wptfeed/cmd/internal/httpx"
	"github.com/wptfeed/wptfeed/report"
	"github.com/wptfeed/wptfeed/store"
)

// UploadPath is where runners POST runs (wpt.fyi's receiver API).
const UploadPath = "/api/results/upload"

// DefaultMaxUpload bounds the bytes of one upload request (and of the
// reports it makes the publisher fetch).
const DefaultMaxUpload = 1 << 30

// Bounds of an upload besides --max-upload.
const (
	maxUploadShards = 1000     // shards of a run; result_url and archive_url values
	maxFieldBytes   = 64 << 10 // one form field other than result_file
	maxURLFormBytes = 1 << 20  // an application/x-www-form-urlencoded body; the kept fields of a multipart one
	maxRedirects    = 5
)

// uploader serves POST /api/results/upload: the shards of one run as
// multipart result_file parts, fetched from result_url, or taken from the
// zip archives named by archive_url (archive.go), stored as they arrive
// (never held in memory), validated as `publisher upload` validates them,
// and committed with a manifest.
type uploader struct {
	s       *Server
	creds   *credentials
	max     int64
	origins map[string]bool // normalised scheme://host[:port]
	client  *http.Client    // for result_url and archive_url
	zip     archiveLimits
}

// newUploader returns the upload endpoint of s, or nil when it is off (no
// credentials file configured).
func newUploader(s *Server) (*uploader, error) {
	cfg := s.cfg
	if cfg.Credentials == "" {
		if len(cfg.UploadOrigins) > 0 {
			return nil, errors.New("serve: --upload-allow-origin needs --credentials (the upload endpoint is off without it)")
		}
		return nil, nil
	}
	if cfg.MaxUpload < 0 {
		return nil, fmt.Errorf("serve: --max-upload %d is negative", cfg.MaxUpload)
	}
	u := &uploader{s: s, max: cfg.MaxUpload, origins: map[string]bool{}, zip: defaultArchiveLimits}
	if u.max == 0 {
		u.max = DefaultMaxUpload
	}
	for _, o := range cfg.UploadOrigins {
		n, err := parseOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("serve: --upload-allow-origin %q: %w", o, err)
		}
		u.origins[n] = true
	}
	creds, err := loadCredentials(cfg.Credentials, s.log, s.now)
	if err != nil {
		return nil, err
	}
	u.creds = creds
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	u.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: time.Minute,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       time.Minute,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if !u.allowed(req.URL) {
				return fmt.Errorf("redirected to %s: %w", req.URL.Redacted(), errOriginNotAllowed)
			}
			return nil
		},
		// No overall timeout: a large report takes as long as it takes; the
		// request's context ends the fetch when the runner goes away.
	}
	return u, nil
}

// parseOrigin normalises an origin: scheme://host[:port] with the scheme
// and host in lower case and a default port dropped.
func parseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", errors.New("want an origin: scheme://host[:port], nothing after")
	}
	o, ok := origin(u)
	if !ok {
		return "", errors.New("want an http or https origin")
	}
	return o, nil
}

// origin returns u's normalised origin, or false if u is not http(s).
func origin(u *url.URL) (string, bool) {
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Hostname() == "" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" || (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + host, true
	}
	return scheme + "://" + host + ":" + port, true
}

func (u *uploader) allowed(x *url.URL) bool {
	o, ok := origin(x)
	return ok && u.origins[o]
}

var errOriginNotAllowed = errors.New("origin not allowed (see --upload-allow-origin)")

// uploadError is a refused upload: its HTTP status and the reason sent to
// the runner.
type uploadError struct {
	code int
	msg  string
}

func (e *uploadError) Error() string { return e.msg }

func refuse(code int, format string, args ...any) error {
	return &uploadError{code: code, msg: fmt.Sprintf(format, args...)}
}

// storageError is a failure of the bucket on the upload path (storing a
// shard, reading it back, committing the run): whatever the cause (an
// outage, a read-only or full file system, a permission), the runner is
// told 503 with Retry-After: the run may be sent again later.
type storageError struct{ err error }

func (e *storageError) Error() string { return e.err.Error() }
func (e *storageError) Unwrap() error { return e.err }

// retryAfter is the Retry-After of a 503: seconds.
const retryAfter = "30"

// uploadStatus maps an upload's error to its HTTP status; what is not
// specific to uploads goes to the servers' one table, httpx.Status.
func uploadStatus(err error) int {
	var ue *uploadError
	var tooLarge *http.MaxBytesError
	var invalid *report.Error
	var se *storageError
	switch {
	case errors.As(err, &ue):
		return ue.code
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &invalid):
		return http.StatusBadRequest
	case errors.As(err, &se):
		return http.StatusServiceUnavailable
	}
	return httpx.Status(err)
}

// uploadResponse is the body of a 201 answer.
type uploadResponse struct {
	RunID     string `json:"run_id"`
	FeedEntry string `json:"feed_entry"` // the atom:id of the run's entry
	Manifest  string `json:"manifest"`   // URL of the run's manifest.json
}

// upload is one upload request in progress.
type upload struct {
	u        *uploader
	r        *http.Request
	body     *countingReader // the request body, limited to u.max
	fetchd   int64           // bytes fetched from result_url and archive_url so far
	expanded int64           // declared sizes of the archive entries taken so far
	runID    string
	user     string

	shards []store.Shard
	names  []string // the runner's name of each shard, for messages

	// The form as read: the URLs to fetch once the body is read (files
	// win over them), and the body's values of metadataFields.
	urlencoded  bool
	resultURLs  []string
	archiveURLs []string
	fields      url.Values
	kept        int // bytes of the above

	labels    []string
	overrides report.Metadata
}

func (u *uploader) serveHTTP(w http.ResponseWriter, r *http.Request) {
	user, password, ok := r.BasicAuth()
	if ok {
		var err error
		if ok, err = u.creds.check(user, password); err != nil {
			u.s.log.Error("upload refused", "err", err)
			w.Header().Set("Retry-After", retryAfter)
			refuseUnread(w, "upload: unavailable: the server's credentials file is unusable", http.StatusServiceUnavailable)
			return
		}
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="wptfeed upload", charset="UTF-8"`)
		refuseUnread(w, "upload: valid credentials required (HTTP Basic authentication)", http.StatusUnauthorized)
		return
	}
	if r.ContentLength > u.max {
		refuseUnread(w, fmt.Sprintf("upload: request of %d bytes larger than the server's limit of %d bytes (--max-upload)", r.ContentLength, u.max), http.StatusRequestEntityTooLarge)
		return
	}
	t := u.s.now().UTC().Truncate(time.Microsecond)
	up := &upload{u: u, r: r, runID: store.NewRunID(t), user: user}
	res, err := up.run(w, t)
	if err != nil {
		code := uploadStatus(err)
		if r.Context().Err() != nil && code != http.StatusRequestTimeout {
			// Answered all the same: nobody reads it, but the route's
			// metrics count a failure, not net/http's implicit 200.
			u.s.log.Info("upload aborted by the runner", "user", user, "run_id", up.runID, "err", err)
			http.Error(w, "upload: aborted", http.StatusBadRequest)
			return
		}
		if code >= 500 {
			u.s.log.Error("upload failed", "user", user, "run_id", up.runID, "err", err)
			if code == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", retryAfter)
			}
			http.Error(w, http.StatusText(code), code)
			return
		}
		u.s.log.Info("upload refused", "user", user, "code", code, "err", err)
		msg := err.Error()
		if code == http.StatusRequestEntityTooLarge {
			msg = fmt.Sprintf("upload: request larger than the server's limit of %d bytes (--max-upload)", u.max)
		}
		http.Error(w, msg, code)
		return
	}
	u.s.log.Info("run uploaded", "user", user, "run_id", up.runID, "shards", len(up.shards))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", res.Manifest)
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(res)
}

// run reads the request, stores and validates the shards and commits the
// run. On error nothing is visible and the stored shards are deleted.
func (up *upload) run(w http.ResponseWriter, t time.Time) (*uploadResponse, error) {
	ctx := up.r.Context()
	err := up.receive(w)
	if err == nil {
		err = up.readMetadata()
	}
	if err == nil {
		err = up.fetchURLs()
	}
	if err == nil && len(up.shards) == 0 {
		err = refuse(http.StatusBadRequest, "upload: no result_file part, no result_url and no archive_url field")
	}
	var m *store.Manifest
	if err == nil {
		m, err = up.validate(ctx, t)
	}
	if err == nil {
		err = checkManifest(m, up.names) // every value that reaches the feed (checks.go)
	}
	if err == nil {
		if err = up.u.s.bucket.PutManifest(ctx, up.runID, m); err != nil {
			err = &storageError{fmt.Errorf("upload: commit run %s: %w", up.runID, err)}
		}
	}
	if err != nil {
		abandon(up.u.s.bucket, up.runID, up.shards)
		// Nothing left behind: not even the run's (empty) directory in a
		// file bucket, which scans would otherwise list.
		if _, derr := up.u.s.bucket.RemoveDir(context.WithoutCancel(ctx), store.RunPrefix(up.runID)); derr != nil {
			up.u.s.log.Warn("refused upload's directory not removed; publisher gc will", "run_id", up.runID, "err", derr)
		}
		return nil, err
	}
	up.u.s.publishNow(ctx, m)
	return &uploadResponse{
		RunID:     up.runID,
		FeedEntry: EntryID(up.runID),
		Manifest:  up.u.s.cfg.BaseURL + "/runs/" + up.runID + "/" + store.ManifestName,
	}, nil
}

// receive reads the form: it stores each result_file part as the next
// shard as it arrives, and keeps the URLs to fetch and the metadata fields
// for after the body.
func (up *upload) receive(w http.ResponseWriter) error {
	up.body = &countingReader{r: http.MaxBytesReader(unwrapWriter(w), up.r.Body, up.u.max)}
	up.fields = url.Values{}
	ct, _, _ := mime.ParseMediaType(up.r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		// URL uploads (curl -d, wpt.fyi's own client): small bodies only.
		up.urlencoded = true
		up.r.Body = http.MaxBytesReader(unwrapWriter(w), io.NopCloser(up.body), min(up.u.max, maxURLFormBytes))
		if err := up.r.ParseForm(); err != nil {
			return up.readError("form", err)
		}
		for k, vs := range up.r.PostForm {
			for _, v := range vs {
				if err := up.keep(k, v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	up.r.Body = io.NopCloser(up.body)
	mr, err := up.r.MultipartReader()
	if err != nil {
		return refuse(http.StatusBadRequest, "upload: want a multipart/form-data body (curl -F): %v", err)
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return up.readError("form", err)
		}
		switch name := p.FormName(); {
		case name == "result_file":
			err = up.store(p.FileName(), p)
			var se *sourceError
			if errors.As(err, &se) {
				err = up.readError("result_file", se.err)
			}
		case name == "result_url" || name == "archive_url" || slices.Contains(metadataFields, name):
			var v string
			if v, err = up.readField(name, p); err == nil {
				err = up.keep(name, v)
			}
		default:
			// Fields of wpt.fyi's receiver this one does not use
			// (callback_url, screenshot_file…) and unknown ones.
			if _, err = io.Copy(io.Discard, p); err != nil {
				err = up.readError(name, err)
			}
		}
		if err != nil {
			return err
		}
	}
}

// metadataFields are the form fields that wpt.fyi's receiver reads with
// FormValue, from the body or the query string
// (api/receiver/receive_results.go, HandleResultsUpload), and this one uses.
// Of its others, callback_url is ignored and user (for admins) unknown here.
var metadataFields = []string{"labels", "browser_name", "browser_version", "os_name", "os_version", "revision"}

// keep records a body field this endpoint uses other than result_file;
// it ignores the others. All kept values together are bounded as an
// urlencoded body is.
func (up *upload) keep(name, v string) error {
	switch {
	case name == "result_url" || name == "archive_url":
		if n := len(up.resultURLs) + len(up.archiveURLs); n == maxUploadShards {
			return refuse(http.StatusBadRequest, "upload: more than %d result_url and archive_url fields", maxUploadShards)
		}
	case !slices.Contains(metadataFields, name):
		return nil
	}
	if up.kept += len(v); up.kept > maxURLFormBytes {
		return refuse(http.StatusBadRequest, "upload: form fields other than result_file longer than %d bytes in all", maxURLFormBytes)
	}
	switch name {
	case "result_url":
		up.resultURLs = append(up.resultURLs, strings.TrimSpace(v))
	case "archive_url":
		up.archiveURLs = append(up.archiveURLs, strings.TrimSpace(v))
	default:
		up.fields.Add(name, v)
	}
	return nil
}

// readMetadata sets the upload's labels and metadata overrides from the
// body's fields and the query string, in the precedence of Go's
// Request.FormValue, which wpt.fyi's receiver uses: an urlencoded body,
// then the query string, then a multipart body. Where wpt.fyi takes the
// first value only, every labels value of the winning source is taken.
func (up *upload) readMetadata() error {
	query, err := url.ParseQuery(up.r.URL.RawQuery)
	if err != nil {
		return refuse(http.StatusBadRequest, "upload: query string: %v", err)
	}
	for _, name := range metadataFields {
		vs := up.fields[name]
		if (!up.urlencoded || len(vs) == 0) && len(query[name]) > 0 {
			vs = query[name]
		}
		if len(vs) == 0 {
			continue
		}
		v := strings.TrimSpace(vs[0])
		switch name {
		case "labels":
			up.labels = vs
		case "browser_name":
			up.overrides.Product = v
		case "browser_version":
			up.overrides.BrowserVersion = v
		case "os_name":
			up.overrides.OS = v
		case "os_version":
			up.overrides.OSVersion = v
		case "revision":
			up.overrides.Revision = v
		}
	}
	return nil
}

// azureArtifact matches a result_url that wpt.fyi's receiver takes for an
// Azure Pipelines artifact, a zip archive
// (api/receiver/azure.go, azureArtifactRegex).
var azureArtifact = regexp.MustCompile(`/_apis/build/builds/[0-9]+/artifacts\?artifactName=([^&]+)`)

// fetchURLs fetches the reports the form names, choosing one source as
// wpt.fyi's receiver does (api/receiver/receive_results.go,
// HandleResultsUpload): result_file parts win over URLs; then an Azure
// Pipelines artifact as the first result_url (the other URLs ignored);
// then the result_url fields; then the archive_url fields. The losing
// fields are ignored, not merged, and not fetched.
func (up *upload) fetchURLs() error {
	var fetch func(string) error
	var urls []string
	switch r, a := up.resultURLs, up.archiveURLs; {
	case len(up.shards) > 0:
	case len(r) > 0 && azureArtifact.MatchString(r[0]):
		fetch, urls = func(v string) error { return up.fetchArchive("result_url", v) }, r[:1]
	case len(r) > 0:
		fetch, urls = up.fetch, r
	default:
		fetch, urls = func(v string) error { return up.fetchArchive("archive_url", v) }, a
	}
	if ignored := len(up.resultURLs) + len(up.archiveURLs) - len(urls); ignored > 0 {
		up.u.s.log.Info("URLs ignored, as wpt.fyi's receiver ignores them", "user", up.user, "run_id", up.runID,
			"result_file", len(up.shards), "result_url", len(up.resultURLs), "archive_url", len(up.archiveURLs), "ignored", ignored)
	}
	for _, v := range urls {
		if err := fetch(v); err != nil {
			return err
		}
	}
	return nil
}

func (up *upload) readField(name string, p *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
	if err != nil {
		return "", up.readError(name, err)
	}
	if len(b) > maxFieldBytes {
		return "", refuse(http.StatusBadRequest, "upload: field %s is longer than %d bytes", name, maxFieldBytes)
	}
	return string(b), nil
}

// readError classifies an error reading the request body: too large, a
// body that stopped coming (the server's --read-timeout), or a malformed
// or cut-off body.
func (up *upload) readError(what string, err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("upload: read %s: %w", what, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return refuse(http.StatusRequestTimeout, "upload: read %s: the request body stopped coming (see --read-timeout)", what)
	}
	return refuse(http.StatusBadRequest, "upload: read %s: %v", what, err)
}

// refuseUnread answers a request whose body was not read: the connection
// is closed after the answer, so that the body is never read (net/http
// would otherwise read up to 256 KiB of it, at the client's pace, to keep
// the connection).
func refuseUnread(w http.ResponseWriter, msg string, code int) {
	w.Header().Set("Connection", "close")
	http.Error(w, msg, code)
}

// sourceError is a failure to read the report being stored, as opposed to
// a failure of the bucket.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// store streams r into the bucket as the run's next shard; name is the
// runner's name for it. A failure of r is returned as a *sourceError.
func (up *upload) store(name string, r io.Reader) error {
	if len(up.shards) == maxUploadShards {
		return refuse(http.StatusBadRequest, "upload: more than %d shards", maxUploadShards)
	}
	shard := store.ShardName(len(up.shards))
	if name == "" {
		name = shard
	}
	src := &errReader{r: r}
	s, err := putShard(up.r.Context(), up.u.s.bucket, up.runID, shard, src)
	if err != nil {
		if src.err != nil {
			return &sourceError{src.err}
		}
		return &storageError{fmt.Errorf("upload: store %s as %s: %w", name, shard, err)}
	}
	up.shards = append(up.shards, s)
	up.names = append(up.names, name)
	return nil
}

// get checks rawURL, a value of the form field `field`, against the
// allowed origins and GETs it. It returns a 200 answer, whose body the
// caller closes, and the URL's name for messages.
func (up *upload) get(field, rawURL string) (*http.Response, string, error) {
	if len(up.u.origins) == 0 {
		return nil, "", refuse(http.StatusBadRequest, "upload: %s is not accepted by this server (no origin allowed; see --upload-allow-origin)", field)
	}
	x, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", refuse(http.StatusBadRequest, "upload: %s %q: %v", field, rawURL, err)
	}
	name := x.Redacted()
	if !up.u.allowed(x) {
		return nil, "", refuse(http.StatusBadRequest, "upload: %s %s: %v", field, name, errOriginNotAllowed)
	}
	req, err := http.NewRequestWithContext(up.r.Context(), http.MethodGet, x.String(), nil)
	if err != nil {
		return nil, "", refuse(http.StatusBadRequest, "upload: %s %s: %v", field, name, err)
	}
	req.Header.Set("User-Agent", "wptfeed-publisher")
	resp, err := up.u.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, errOriginNotAllowed) {
			return nil, "", refuse(http.StatusBadRequest, "upload: %s %s: %v", field, name, err)
		}
		return nil, "", refuse(http.StatusBadGateway, "upload: fetch %s %s: %v", field, name, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		code := http.StatusBadGateway
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			code = http.StatusBadRequest
		}
		return nil, "", refuse(code, "upload: fetch %s %s: %s", field, name, resp.Status)
	}
	return resp, name, nil
}

// fetch stores the report at rawURL, a result_url, as the run's next
// shard.
func (up *upload) fetch(rawURL string) error {
	resp, name, err := up.get("result_url", rawURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Fetched bytes count against the same limit as the request's.
	err = up.store(name, &fetchLimit{up: up, r: resp.Body})
	var se *sourceError
	var tooLarge *http.MaxBytesError
	if errors.As(err, &se) && !errors.As(err, &tooLarge) {
		return refuse(http.StatusBadGateway, "upload: fetch result_url %s: %v", name, se.err)
	}
	return err
}

// validate reads the stored shards back, validates them as one run with
// the upload's labels and overrides, and returns the run's manifest.
func (up *upload) validate(ctx context.Context, t time.Time) (*store.Manifest, error) {
	b := up.u.s.bucket
	shards := make([]report.Shard, len(up.shards))
	for i, s := range up.shards {
		shards[i] = report.Shard{Name: up.names[i], Open: func() (io.ReadCloser, error) {
			rc, err := b.OpenShard(ctx, up.runID, s.Name)
			if err != nil {
				return nil, &storageError{fmt.Errorf("upload: read back %s: %w", s.Name, err)}
			}
			return storageReader{rc}, nil
		}}
	}
	// As wpt.fyi's receiver does, the uploader's name is one of the labels.
	labels := append(splitLabels(up.labels), up.user)
	res, err := report.CheckMetadata(ctx, shards, report.Options{
		Limits:    report.DefaultLimits(),
		Overrides: up.overrides,
		Labels:    labels,
	})
	if err != nil {
		return nil, err
	}
	return &store.Manifest{
		Version:        1,
		RunID:          up.runID,
		Uploaded:       t,
		Product:        res.Meta.Product,
		BrowserVersion: res.Meta.BrowserVersion,
		OS:             res.Meta.OS,
		OSVersion:      res.Meta.OSVersion,
		Revision:       res.Meta.Revision,
		BrowserChannel: res.Meta.BrowserChannel,
		Labels:         labels,
		TimeStart:      res.TimeStart,
		TimeEnd:        res.TimeEnd,
		Shards:         up.shards,
	}, nil
}

// splitLabels splits comma-separated labels, trimmed, dropping empty ones
// and repeats, keeping their order.
func splitLabels(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range in {
		for _, x := range strings.Split(l, ",") {
			if x = strings.TrimSpace(x); x != "" && !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	return out
}

// publishNow adds a committed run to the feed at once instead of at the
// next scan; a failure only delays it until that scan.
func (s *Server) publishNow(ctx context.Context, m *store.Manifest) {
	s.scanMu.Lock()
	defer s.scanMu.Unlock()
	if _, err := s.idx.sync(ctx); err != nil {
		s.log.Warn("uploaded run not published yet; the next scan will", "run_id", m.RunID, "err", err)
		return
	}
	ok, err := s.idx.publish(ctx, m)
	if err != nil {
		s.log.Warn("uploaded run not published yet; the next scan will", "run_id", m.RunID, "err", err)
		return
	}
	if ok {
		s.m.runs.Set(float64(s.idx.count()))
		s.notify.poke()
	}
	s.saveWindow(ctx) // if this run sealed an archive page
}

// storageReader marks the read errors of a stored shard as storage
// failures.
type storageReader struct{ io.ReadCloser }

func (r storageReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = &storageError{err}
	}
	return n, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// errReader remembers the first error of r other than io.EOF, so that a
// failed store can tell the source's failure from the bucket's.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// fetchLimit reads a fetched report, failing with *http.MaxBytesError once
// the request body and every fetched report together exceed the limit.
type fetchLimit struct {
	up *upload
	r  io.Reader
}

func (f *fetchLimit) Read(p []byte) (int, error) {
	left := f.up.u.max - f.up.body.n - f.up.fetchd
	if left < 0 {
		return 0, &http.MaxBytesError{Limit: f.up.u.max}
	}
	if int64(len(p)) > left+1 {
		p = p[:left+1]
	}
	n, err := f.r.Read(p)
	f.up.fetchd += int64(n)
	if int64(n) > left {
		return int(left), &http.MaxBytesError{Limit: f.up.u.max}
	}
	return n, err
}

// unwrapWriter returns the server's own ResponseWriter under the route's
// wrappers, so that http.MaxBytesReader can tell the server to close the
// connection after a 413.
func unwrapWriter(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}
