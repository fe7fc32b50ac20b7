package store

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ReadSeeker returns an io.ReadSeekCloser over key, whose size the caller
// knows (from Attributes). It opens a range reader at the current offset on
// the first Read after a Seek, so http.ServeContent can answer Range
// requests without reading the whole object.
func (b *Bucket) ReadSeeker(ctx context.Context, key string, size int64) io.ReadSeekCloser {
	return &seeker{ctx: ctx, b: b, key: key, size: size}
}

type seeker struct {
	ctx  context.Context
	b    *Bucket
	key  string
	size int64
	off  int64
	r    io.ReadCloser
}

func (s *seeker) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	if s.r == nil {
		r, err := s.b.NewRangeReader(s.ctx, s.key, s.off, -1)
		if err != nil {
			return 0, err
		}
		s.r = r
	}
	n, err := s.r.Read(p)
	s.off += int64(n)
	return n, err
}

func (s *seeker) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = s.off + offset
	case io.SeekEnd:
		abs = s.size + offset
	default:
		return 0, errors.New("store: seek: bad whence")
	}
	if abs < 0 {
		return 0, fmt.Errorf("store: seek %q: negative offset", s.key)
	}
	if abs != s.off && s.r != nil {
		s.r.Close()
		s.r = nil
	}
	s.off = abs
	return abs, nil
}

func (s *seeker) Close() error {
	if s.r != nil {
		return s.r.Close()
	}
	return nil
}
