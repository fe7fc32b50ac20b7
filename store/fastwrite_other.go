//go:build !unix

package store

import "errors"

var errNoFastWrite = errors.New("no fast write")

func writeSmall(path string, p []byte) error { return errNoFastWrite }
