package testutil

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// Gzip returns p compressed as one gzip member at the default level. It
// fails the test if compressing fails, which only a bug can cause.
func Gzip(tb testing.TB, p []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(p); err != nil {
		tb.Fatalf("testutil: gzip: %v", err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatalf("testutil: gzip: %v", err)
	}
	return buf.Bytes()
}

// Gunzip returns the decompressed bytes of the gzip stream p (every member
// of it). It fails the test if p is not a complete, valid gzip stream.
func Gunzip(tb testing.TB, p []byte) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(p))
	if err != nil {
		tb.Fatalf("testutil: gunzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatalf("testutil: gunzip: %v", err)
	}
	return out
}
