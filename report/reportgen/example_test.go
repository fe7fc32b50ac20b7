package reportgen_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"

	"github.com/wptfeed/wptfeed/report/reportgen"
)

func ExampleWrite() {
	cfg := reportgen.Config{Seed: 1, Scale: 0.001, Shards: 1}
	var buf bytes.Buffer
	if err := reportgen.Write(&buf, cfg, 0); err != nil {
		log.Fatal(err)
	}
	var report struct {
		RunInfo struct {
			Product string `json:"product"`
		} `json:"run_info"`
		Results []struct {
			Test     string `json:"test"`
			Status   string `json:"status"`
			Subtests []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"subtests"`
		} `json:"results"`
	}
	if err := json.Unmarshal(buf.Bytes(), &report); err != nil {
		log.Fatal(err)
	}
	fmt.Println(report.RunInfo.Product, len(report.Results), "tests")
	for _, r := range report.Results[:3] {
		fmt.Println(r.Test, r.Status, len(r.Subtests), "subtests")
	}
	st := report.Results[1].Subtests[0]
	fmt.Printf("%q %s\n", st.Name, st.Status)
	// Output:
	// chrome 24 tests
	// /IndexedDB/idbcursor_iterating_objectstore.htm OK 1 subtests
	// /IndexedDB/upgrade-transaction-deactivation-timing.html OK 3 subtests
	// /content-security-policy/unsafe-eval/eval-scripts-setInterval-allowed.sub.html OK 1 subtests
	// "HTMLMediaElement.play() is not exposed in insecure contexts (async)" PASS
}
