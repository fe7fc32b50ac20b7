package report

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"github.com/go-json-experiment/json/jsontext"
	"io"
	"testing"
)

func bytesShard(name string, data []byte) Shard {
	return Shard{Name: name, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}}
}

// BenchmarkProcess runs the whole pipeline (gunzip, SHA-1, JSON, summary)
// over a generated gzip report of 33,000 tests and 1.6M subtests (a tenth
// with -short). MB/s are of decompressed bytes.
func BenchmarkProcess(b *testing.B) {
	for _, bc := range []struct {
		name   string
		shards int
		test   bool
	}{
		{"1shard", 1, false},
		{"1shard+Test", 1, true},
		{"4shards", 4, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			gz, plain := benchReport(b, bc.shards)
			var shards []Shard
			for i, data := range gz {
				shards = append(shards, bytesShard(fmt.Sprintf("bench-%d.json.gz", i), data))
			}
			opts := Options{}
			if bc.test {
				opts.Test = func(string, []byte) error { return nil }
			}
			b.SetBytes(plain)
			b.ReportAllocs()
			for b.Loop() {
				r, err := Process(context.Background(), shards, opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Summary.WriteJSON(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGunzip is the floor: gunzip and discard the same input.
func BenchmarkGunzip(b *testing.B) {
	gz, plain := benchReport(b, 1)
	b.SetBytes(plain)
	for b.Loop() {
		zr, _ := newGzipReader(bytes.NewReader(gz[0]))
		io.Copy(io.Discard, zr)
	}
}

func newGzipReader(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }

func resultValues(b *testing.B) [][]byte {
	var buf bytes.Buffer
	genReport(&buf, 0, 3300, 160000, 7)
	dec := jsontext.NewDecoder(bytes.NewReader(buf.Bytes()), jsontext.AllowDuplicateNames(true))
	var vals [][]byte
	for {
		k := dec.PeekKind()
		if k == '{' && dec.StackDepth() == 2 {
			v, _ := dec.ReadValue()
			vals = append(vals, bytes.Clone(v))
			continue
		}
		if _, err := dec.ReadToken(); err != nil {
			break
		}
	}
	return vals
}

// BenchmarkScanResult is the extractor's walk alone (no jsontext).
func BenchmarkScanResult(b *testing.B) {
	vals := resultValues(b)
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	b.SetBytes(int64(n))
	sc := &scanner{maxDepth: 64, maxString: 1 << 24}
	var info resultInfo
	for b.Loop() {
		for _, v := range vals {
			sc.result(v, 3, &info)
		}
	}
}
