// Package report owns the wptreport domain: it decodes, validates and merges
// the wptreport JSON shards of one web-platform-tests run, as wptrunner
// writes them (--log-wptreport), and produces what wpt.fyi's results
// processor (results-processor/wptreport.py and processor.py) derives from
// them: the run's normalised metadata and labels, its product ID, the
// SHA-1 of its decompressed bytes, and the summary_v2 file, byte for byte.
//
// The entry point is [Process]; [CheckMetadata] is the same validation for
// an uploader. Rejections are *[Error] values with a stable Code; warnings
// ([Warning]) do not reject. Per-test results (wpt.fyi's
// write_result_directory) are streamed to the caller through
// [Options].Test; writing them is not this package's business.
//
// Process streams: it never holds a shard's text or a parse tree, only a few
// hundred KiB of result objects in flight per shard plus one small summary
// entry per test (about 25 MiB of memory for a 150 MB, 33,000-test run).
// It runs a pipeline of three stages: one goroutine opens, gunzips and
// hashes the shards one after another (so the SHA-1 covers them
// concatenated, in order); for each shard, a decoder goroutine validates
// the JSON with jsontext, reading each result object as a raw value, and an
// extractor goroutine walks those values for the few fields it needs and
// merges them into the run. The stages are connected by bounded channels,
// so the decoders of consecutive shards overlap the producer and each
// other while memory stays bounded.
//
// This package imports only the standard library and
// github.com/go-json-experiment/json/jsontext. It must not import bucket,
// HTTP or feed code (store, feed, gocloud.dev, net/http): those adapters
// depend on report, never the other way round.
//
// Where it deliberately differs from wpt.fyi is said in the doc comments of
// [Process], [NormalizeMetadata], [ChannelLabel] and [Result.ProductID].
package report
