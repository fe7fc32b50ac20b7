// Command genreport writes a generated wptreport (see report/reportgen) as
// gzip shards and prints their paths, one per line.
//
//	go run ./bench/genreport -out DIR [-scale 1] [-shards 4] [-seed 1] [-prefix run] [-product chrome] [-utf8]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/wptfeed/wptfeed/report/reportgen"
)

func main() {
	out := flag.String("out", "", "directory to write shards to (created if missing)")
	scale := flag.Float64("scale", 1, "report size; 1 = full size (~33,000 tests, ~1.6 million subtests)")
	shards := flag.Int("shards", reportgen.DefaultShards, "number of shards")
	seed := flag.Int64("seed", 1, "seed; the same flags give byte-identical files")
	prefix := flag.String("prefix", "run", "file name prefix: <prefix>-<i>.json.gz")
	product := flag.String("product", reportgen.DefaultProduct, "run_info.product")
	utf8 := flag.Bool("utf8", false, "write non-ASCII as UTF-8 instead of \\uXXXX escapes (wptrunner writes escapes)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 || *shards < 1 {
		fmt.Fprintln(os.Stderr, "usage: genreport -out DIR [-scale 1] [-shards 4] [-seed 1] [-prefix run] [-product chrome] [-utf8]")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "genreport:", err)
		os.Exit(1)
	}
	cfg := reportgen.Config{Seed: *seed, Scale: *scale, Shards: *shards, Product: *product, UTF8: *utf8}
	paths, err := reportgen.WriteFiles(*out, *prefix, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genreport:", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}
