package store

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"gocloud.dev/gcerrors"
)

var (
	// ErrNotFound is returned for a key that does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrExists is returned when a write-once write finds the key taken.
	ErrExists = errors.New("store: already exists")
	// ErrInvalid is returned for a malformed run id, key or manifest.
	ErrInvalid = errors.New("store: invalid")
)

// TemporaryError wraps a storage failure worth retrying: the service was
// unavailable, timed out or throttled the request.
type TemporaryError struct{ Err error }

func (e *TemporaryError) Error() string { return e.Err.Error() }
func (e *TemporaryError) Unwrap() error { return e.Err }

// IsTemporary reports whether err is worth retrying.
func IsTemporary(err error) bool {
	var t *TemporaryError
	return errors.As(err, &t)
}

// classify maps a driver error to the package's errors, once, where it
// enters. op and key name what failed.
func classify(err error, op, key string) error {
	if err == nil {
		return nil
	}
	if op != "write" && errors.Is(err, syscall.ENOTDIR) {
		// A file bucket asked for "a/b" where "a" is an object: on an
		// object store, "a/b" simply does not exist.
		return fmt.Errorf("store: %s %q: %w", op, key, ErrNotFound)
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return fmt.Errorf("store: %s %q: %w", op, key, ErrNotFound)
	case gcerrors.FailedPrecondition, gcerrors.AlreadyExists:
		return fmt.Errorf("store: %s %q: %w", op, key, ErrExists)
	case gcerrors.InvalidArgument:
		return fmt.Errorf("store: %s %q: %w: %v", op, key, ErrInvalid, err)
	case gcerrors.DeadlineExceeded, gcerrors.ResourceExhausted, gcerrors.Internal:
		return &TemporaryError{Err: fmt.Errorf("store: %s %q: %w", op, key, err)}
	case gcerrors.Canceled:
		return fmt.Errorf("store: %s %q: %w", op, key, context.Canceled)
	}
	return fmt.Errorf("store: %s %q: %w", op, key, err)
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
