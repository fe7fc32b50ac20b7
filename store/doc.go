// Package store owns every bucket the project touches: it opens them from
// their URLs (gocloud.dev/blob: file://, mem://, s3://, gs://, azblob://, or a
// plain directory path), knows the key layout of the raw bucket (runs, shards,
// manifests) and of the dashboard bucket (wpt.fyi's layout, records, state),
// and makes write-once hold on every driver, including the local default.
//
// store is the only package that imports gocloud.dev/blob and its drivers. It
// must not import report, feed or cmd code.
//
// Errors: a missing key is ErrNotFound, a write-once conflict ErrExists, a
// malformed run id or key ErrInvalid; anything the driver calls unavailable,
// a timeout or a resource limit is wrapped in *TemporaryError. Check them with
// errors.Is and errors.As.
package store
