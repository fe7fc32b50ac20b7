package report_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/wptfeed/wptfeed/report"
)

func ExampleProcess() {
	const shard = `{
  "run_info": {"product": "edgechromium", "browser_version": "100.0.1169.0",
               "browser_channel": "dev", "os": "win", "os_version": "10.0",
               "revision": "78DA752CB927E5CAE3C7F5D6AF75376A66AD4C3A"},
  "time_start": 1644537600000,
  "results": [
    {"test": "/dom/historical.html", "status": "OK", "subtests": [
      {"name": "a", "status": "PASS"}, {"name": "b", "status": "FAIL"}]},
    {"test": "/css/reftest.html", "status": "FAIL", "subtests": []}
  ]
}`
	open := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(shard)), nil }
	r, err := report.Process(context.Background(),
		[]report.Shard{{Name: "wptreport.json", Open: open}},
		report.Options{
			Labels: []string{"master"},
			Test: func(path string, raw []byte) error {
				// Store raw (compact JSON) as the test's result file.
				return nil
			},
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.ProductID())
	fmt.Println(r.Meta.Product, r.Meta.Revision)
	fmt.Println(r.Labels)
	fmt.Println(r.Tests, "tests,", r.Subtests, "subtests, started", r.TimeStart.Format("2006-01-02"))
	r.Summary.WriteJSON(os.Stdout)
	fmt.Println()
	// Output:
	// edgechromium-100.0.1169.0-win-10.0-6182ade2e0
	// edge 78da752cb927e5cae3c7f5d6af75376a66ad4c3a
	// [dev edge edgechromium experimental master]
	// 2 tests, 2 subtests, started 2022-02-11
	// {"/dom/historical.html": {"s": "O", "c": [1, 2]}, "/css/reftest.html": {"s": "F", "c": [0, 0]}}
}

func ExampleError() {
	open := func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("{\"results\": [\n  {\"test\": \"a.html\", \"status\": \"OK\"}\n]}")), nil
	}
	_, err := report.Process(context.Background(), []report.Shard{{Name: "bad.json", Open: open}}, report.Options{})
	if e, ok := err.(*report.Error); ok {
		fmt.Println(e.Code)
		fmt.Println(e)
	}
	// Output:
	// bad_test_path
	// report: shard "bad.json": line 2, column 12 (offset 25): test "a.html": test path does not start with "/"
}
