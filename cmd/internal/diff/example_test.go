package diff_test

import (
	"fmt"
	"strings"

	"github.com/wptfeed/wptfeed/cmd/internal/diff"
)

func ExampleCompute() {
	before := `{"/dom/a.html": {"s": "O", "c": [3, 4]}, "/css/ref.html": {"s": "P", "c": [0, 0]}}`
	after := `{"/dom/a.html": {"s": "O", "c": [4, 4]}, "/css/ref.html": {"s": "F", "c": [0, 0]},
		"/css/new.html": {"s": "P", "c": [0, 0]}}`
	d, err := diff.Compute(strings.NewReader(before), strings.NewReader(after), diff.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range d.Tests {
		fmt.Println(c.Kind, c.Test, c.Diff, c.Regression())
	}
	fmt.Println("regressions:", d.Regressions, "newly passing:", d.Improvements)
	// Output:
	// A /css/new.html [1 0 1] false
	// C /css/ref.html [0 1 0] true
	// C /dom/a.html [1 0 0] false
	// regressions: [/css/ref.html] newly passing: [/css/new.html /dom/a.html]
}
