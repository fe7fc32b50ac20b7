package reportgen

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
)

// Config describes a generated report. The zero value is a full-size
// report of 4 shards; string fields left empty get the defaults below.
type Config struct {
	Seed int64 // same Config → byte-identical output
	// Scale is the report size: 1 (or 0) is full size, 32,720 tests and
	// 1,586,904 subtests, reproducing the embedded summary exactly; 0.01
	// is small, for tests (a subset of tests that does not depend on
	// Seed); 2 adds a "?gen=2" (or "&gen=2") variant of every test.
	Scale  float64
	Shards int // number of shards; 0 means 4

	Product        string // run_info.product; default "chrome"
	BrowserVersion string // run_info.browser_version; default "126.0.6478.126"
	OS             string // run_info.os; default "linux"
	OSVersion      string // run_info.os_version; default "22.04"
	Revision       string // run_info.revision (wpt commit); default 40 hex digits derived from Seed
	Channel        string // run_info.browser_channel; default "stable"

	// UTF8 writes non-ASCII characters as UTF-8. By default they are
	// \uXXXX escapes (surrogate pairs above U+FFFF), as wptrunner writes
	// them with Python's json.dumps.
	UTF8 bool

	// TimeStart is shard 0's time_start in epoch milliseconds; 0 derives
	// one from Seed (a day in June 2024 and later).
	TimeStart int64
}

// Defaults.
const (
	DefaultShards         = 4
	DefaultProduct        = "chrome"
	DefaultBrowserVersion = "126.0.6478.126"
	DefaultOS             = "linux"
	DefaultOSVersion      = "22.04"
	DefaultChannel        = "stable"
)

// withDefaults returns cfg with empty fields filled in, or an error if cfg
// is invalid.
func (cfg Config) withDefaults() (Config, error) {
	if math.IsNaN(cfg.Scale) || math.IsInf(cfg.Scale, 0) || cfg.Scale < 0 || cfg.Scale > 1000 {
		return cfg, fmt.Errorf("reportgen: invalid scale %v: want 0 < scale ≤ 1000", cfg.Scale)
	}
	if cfg.Scale == 0 {
		cfg.Scale = 1
	}
	if cfg.Shards < 0 {
		return cfg, fmt.Errorf("reportgen: invalid shard count %d", cfg.Shards)
	}
	if cfg.Shards == 0 {
		cfg.Shards = DefaultShards
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&cfg.Product, DefaultProduct)
	def(&cfg.BrowserVersion, DefaultBrowserVersion)
	def(&cfg.OS, DefaultOS)
	def(&cfg.OSVersion, DefaultOSVersion)
	def(&cfg.Channel, DefaultChannel)
	if cfg.Revision == "" {
		r := rng{s: mix(uint64(cfg.Seed) ^ 0x7265766973696f6e)} // "revision"
		b := make([]byte, 0, 40)
		for len(b) < 40 {
			b = append(b, hexDigits[r.intn(16)])
		}
		cfg.Revision = string(b)
	}
	if cfg.TimeStart == 0 {
		const june2024 = 1717200000000 // 2024-06-01T00:00:00Z
		day := int64(uint64(cfg.Seed) % 3650)
		cfg.TimeStart = june2024 + day*86_400_000 + 6*3_600_000
	}
	return cfg, nil
}

// Write writes shard (0 ≤ shard < cfg.Shards) of the report described by
// cfg to w as plain (uncompressed) wptreport JSON. Tests are dealt to
// shards round-robin in path order; every shard has the same run_info.
// Write returns an error if cfg or shard is invalid, or if writing to w
// fails.
func Write(w io.Writer, cfg Config, shard int) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if shard < 0 || shard >= cfg.Shards {
		return fmt.Errorf("reportgen: shard %d out of range [0, %d)", shard, cfg.Shards)
	}
	es, err := corpus()
	if err != nil {
		return err
	}
	items := selectTests(es, cfg.Scale)
	g := generator{cfg: cfg, seed: mix(uint64(cfg.Seed) + 0x6a09e667f3bcc909), ascii: !cfg.UTF8}
	return g.writeShard(w, items, shard)
}

// WriteFiles writes every shard of cfg's report, gzip-compressed, to
// dir/<prefix>-<i>.json.gz (dir must exist) and returns the paths in shard
// order. Shards are written concurrently. On error it removes the files
// it created.
func WriteFiles(dir, prefix string, cfg Config) ([]string, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := corpus(); err != nil {
		return nil, err
	}
	paths := make([]string, cfg.Shards)
	errs := make([]error, cfg.Shards)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range paths {
		paths[i] = filepath.Join(dir, prefix+"-"+strconv.Itoa(i)+".json.gz")
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = writeFile(paths[i], cfg, i)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, p := range paths {
			os.Remove(p)
		}
		return nil, err
	}
	return paths, nil
}

func writeFile(path string, cfg Config, shard int) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("reportgen: create shard: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("reportgen: close shard: %w", cerr)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := gzip.NewWriter(bw) // no name or mtime in the header: deterministic
	if err := Write(zw, cfg, shard); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("reportgen: write shard: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("reportgen: write shard: %w", err)
	}
	return nil
}
